"""Build a zoo model once (registry -> torch -> ONNX -> MNN) and serve it from the cache."""
from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError
from . import cache, catalog, export

# The converted model must reproduce torch to this (relative to the largest logit).
CHECK_TOLERANCE = 1e-3


def _paths(name: str) -> dict[str, Path]:
    d = cache.models_dir()
    return {"mnn": d / f"{name}.mnn", "onnx": d / f"{name}.onnx", "manifest": d / f"{name}.json"}


def _manifest(name: str) -> dict | None:
    """The manifest of a complete, intact, current build, else None."""
    p = _paths(name)
    try:
        m = json.loads(p["manifest"].read_text())
    except (OSError, ValueError):
        return None
    if m.get("recipe") != catalog.RECIPE:
        return None
    for kind in ("mnn", "onnx"):
        f = p[kind]
        if not f.is_file() or f.stat().st_size != m.get(f"{kind}_bytes"):
            return None
    if cache.sha256_of(p["mnn"]) != m.get("mnn_sha256"):
        return None
    return m


def is_cached(name: str) -> bool:
    catalog.spec(name)
    return _manifest(name) is not None


def missing_requirements(name: str) -> list[str]:
    s = catalog.spec(name)
    return [req for mod, req in catalog.BUILD_REQUIREMENTS + s.extra_requirements
            if importlib.util.find_spec(mod) is None]


def get(name: str, progress: bool = True, refresh: bool = False) -> Path:
    """The cached .mnn of `name`, building it first if needed."""
    s = catalog.spec(name)
    p = _paths(name)
    if not refresh and _manifest(name) is not None:
        return p["mnn"]
    missing = missing_requirements(name)
    if missing:
        quoted = " ".join(f"'{r}'" for r in missing)
        raise SparseByteNNError(
            f"building {name} needs Python packages that are not installed: {', '.join(missing)}; "
            f"install them with `pip install {quoted}` (or `pip install -e '.[zoo]'` in the repo)")
    with cache.build_lock(name):
        if not refresh and _manifest(name) is not None:  # built meanwhile by another process
            return p["mnn"]
        _build(s, p, progress, refresh)
    return p["mnn"]


def _build(s: catalog.ModelSpec, p: dict[str, Path], progress: bool, refresh: bool) -> None:
    from tqdm import tqdm

    steps = ["fetch + verify weights", "export ONNX", "convert to MNN", "check MNN vs torch"]
    bar = tqdm(total=len(steps), desc=s.name, unit="step", disable=not progress, leave=True,
               bar_format="{desc}: {n_fmt}/{total_fmt} {bar} {postfix}")
    try:
        bar.set_postfix_str(steps[0])
        builder = importlib.import_module(f".{s.builder}", __package__)
        if refresh:
            for filename in getattr(builder, "DOWNLOADS", ()):
                (cache.downloads_dir() / filename).unlink(missing_ok=True)
        model, source = builder.build()
        bar.update()

        bar.set_postfix_str(steps[1])
        with cache.atomic_path(p["onnx"]) as tmp_onnx:
            export.torch_to_onnx(model, s.input_shape, tmp_onnx, s.input_name, s.output_name)
            bar.update()

            bar.set_postfix_str(steps[2])
            with cache.atomic_path(p["mnn"]) as tmp_mnn:
                export.onnx_to_mnn(tmp_onnx, tmp_mnn)
                bar.update()

                bar.set_postfix_str(steps[3])
                max_diff, scale = _check(model, tmp_mnn, s.input_shape)
                if max_diff > CHECK_TOLERANCE * scale:
                    raise SparseByteNNError(
                        f"{s.name}: the MNN model differs from torch by {max_diff:.3g} "
                        f"(logit scale {scale:.3g}); the conversion is wrong")
                bar.update()
                manifest = {
                    "name": s.name, "recipe": catalog.RECIPE, "source": source,
                    "mnn_sha256": cache.sha256_of(tmp_mnn), "mnn_bytes": tmp_mnn.stat().st_size,
                    "onnx_sha256": cache.sha256_of(tmp_onnx), "onnx_bytes": tmp_onnx.stat().st_size,
                    "check": {"input": "seeded normal", "max_abs_diff_vs_torch": max_diff},
                    "info": catalog.info(s.name),
                }
        # Both files are in place; the manifest comes last and marks the build complete.
        with cache.atomic_path(p["manifest"]) as tmp_manifest:
            tmp_manifest.write_text(json.dumps(manifest, indent=1))
        bar.set_postfix_str("done")
    finally:
        bar.close()


def _check(model, mnn_path: Path, shape) -> tuple[float, float]:
    import torch

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = export.run_mnn(mnn_path, x).reshape(ref.shape)
    return float(np.abs(got - ref).max()), float(max(1.0, np.abs(ref).max()))


def onnx_path(name: str) -> Path | None:
    """The cached ONNX of `name` (the same network as the .mnn), or None if not built."""
    if _manifest(name) is None:
        catalog.spec(name)
        return None
    return _paths(name)["onnx"]


def cached_files(name: str) -> dict[str, Path]:
    catalog.spec(name)
    return _paths(name)


def copy_to(src: Path, dst: Path) -> Path:
    """Copy a cached model to a user path atomically (temp file + rename)."""
    dst = Path(dst)
    if dst.is_dir():
        dst = dst / src.name
    if dst.exists() and dst.resolve() == src.resolve():
        return dst
    with cache.atomic_path(dst) as tmp:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
    return dst
