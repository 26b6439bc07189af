"""The valid models fuzz inputs are made from: the zoo's real models, one of them
made group-sparse by our converter (so the sparse-metadata paths are hit), and
"raw" (an empty seed, for files that are not MNN models at all). "file:PATH" names
any other valid model (the regression corpus uses tiny ones)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .layout import Layout, layout_of

# name -> how often an input is made from it
WEIGHTS = {"mobilenet-v1": 0.3, "efficientnet-lite0": 0.25, "mobilenet-v1.sparse": 0.35, "raw": 0.1}
SPARSE_OPTIONS = dict(sparsity=0.5, group=4, target="arm64", plain=True)


@dataclass
class Seed:
    name: str
    path: Path | None
    data: bytes
    layout: Layout | None
    sha256: str


def seed_dir(workdir: Path) -> Path:
    d = Path(workdir) / "seeds"
    d.mkdir(parents=True, exist_ok=True)
    return d


def seed_path(name: str, workdir: Path) -> Path | None:
    """The file of a seed, creating the converted one on first use (the zoo caches the rest)."""
    if name == "raw":
        return None
    if name.startswith("file:"):  # a model file given by path (the regression corpus's tiny seeds)
        return Path(name[len("file:"):])
    from sparsebytenn import zoo

    if not name.endswith(".sparse"):
        return zoo.get(name, progress=False)
    out = seed_dir(workdir) / f"{name}.mnn"
    if not out.is_file():
        from sparsebytenn_converter import convert

        convert(zoo.get(name[:-len(".sparse")], progress=False), out, progress=False, force=True,
                **SPARSE_OPTIONS)
    return out


def load(name: str, workdir: Path) -> Seed:
    path = seed_path(name, workdir)
    data = path.read_bytes() if path else b""
    return Seed(name, path, data, layout_of(data) if data else None, hashlib.sha256(data).hexdigest())


def load_all(workdir: Path, names=None) -> dict[str, Seed]:
    return {n: load(n, workdir) for n in (names or WEIGHTS)}
