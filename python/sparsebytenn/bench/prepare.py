"""Everything the engines need before any timing: the model files.

A MODEL argument is a .mnn file or a zoo name. Pruned forms come from the
converter and are cached by (model hash, converter source hash, options), so a
second benchmark of the same model starts timing at once.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SparseByteNNError
from ..paths import home
from ..digest import sha256_of as _sha256


@dataclass
class ModelSource:
    name: str
    path: Path
    onnx: Path | None = None
    onnx_note: str = ""
    zoo_name: str | None = None
    input_shape: tuple[int, ...] | None = None


@dataclass
class Variant:
    """The converter's outputs for one sparsity (a path is None when its conversion failed)."""
    sparsity: float
    dense: Path | None = None
    sparse: Path | None = None
    layers: list[dict] = field(default_factory=list)  # name, kind, sparsity_before/after, tagged
    error: str = ""

    def pruned_layers(self) -> dict[str, float]:
        return pruned_layers(self.layers)


def pruned_layers(layers: list[dict]) -> dict[str, float]:
    """op name -> sparsity, for the layers the converter actually pruned."""
    return {ly["name"]: float(ly["sparsity_after"]) for ly in layers
            if ly.get("tagged") or ly["sparsity_after"] > ly.get("sparsity_before", 0.0) + 1e-6}


def resolve_model(arg: str, onnx: str | None = None) -> ModelSource:
    from .. import zoo

    p = Path(arg)
    if p.is_file():
        if p.suffix.lower() != ".mnn":
            raise SparseByteNNError(f"{arg}: not an .mnn model (convert it with MNN's converter first)")
        src = ModelSource(p.stem, p)
        guess = Path(onnx) if onnx else p.with_suffix(".onnx")
        if guess.is_file():
            src.onnx = guess
        elif onnx:
            raise SparseByteNNError(f"{onnx}: --onnx file not found")
        else:
            src.onnx_note = f"no ONNX form of {p.name} (looked for {guess.name}; pass --onnx FILE)"
        return src
    if arg in zoo.names():
        path = Path(zoo.get(arg, progress=True))
        src = ModelSource(arg, path, zoo_name=arg,
                          input_shape=tuple(zoo.info(arg).get("input_shape") or ()) or None)
        o = Path(onnx) if onnx else zoo.onnx_path(arg)
        if o is not None and Path(o).is_file():
            src.onnx = Path(o)
        else:
            src.onnx_note = f"the zoo keeps no ONNX form of {arg}"
        return src
    raise SparseByteNNError(f"{arg}: unknown model: not a file and not a zoo name; zoo models: "
                            f"{', '.join(zoo.names())}")


def default_converter():
    from sparsebytenn_converter import convert

    return convert


def _code_hash(func) -> str:
    """Hash of the sources behind `func`: its package and, for the project's convert
    (a thin wrapper in sparsebytenn), the converter package it calls, with the data files
    in it (the shipped speed tables decide what --group auto writes). A changed converter
    means new outputs, so cached conversions must not be reused."""
    import importlib
    import inspect

    h = hashlib.sha256()
    packages = {func.__module__.split(".")[0]}
    if packages & {"sparsebytenn", "sparsebytenn_converter"}:
        packages = {"sparsebytenn_converter"}      # what decides the converted bytes
    for name in sorted(packages):
        module = importlib.import_module(name)
        files = [Path(getattr(module, "__file__", "") or "")]
        if files[0].name == "__init__.py":
            files = sorted(files[0].parent.rglob("*.py")) + sorted(files[0].parent.rglob("*.json"))
        for f in files:
            if f.is_file():
                h.update(f.read_bytes())
    h.update(inspect.getsource(func).encode())
    return h.hexdigest()[:12]


def _layer_record(ly) -> dict:
    get = (lambda k, d=None: ly.get(k, d)) if isinstance(ly, dict) else \
        (lambda k, d=None: getattr(ly, k, d))
    return {"name": get("name"), "kind": get("kind"), "G": get("G"),
            "sparsity_before": float(get("sparsity_before", 0.0) or 0.0),
            "sparsity_after": float(get("sparsity_after", 0.0) or 0.0),
            "tagged": bool(get("tagged", False))}


def convert_cached(model: ModelSource, sparsity: float, fmt: str, converter, options: dict,
                   cache_dir: Path | None = None) -> tuple[Path, list[dict]]:
    """(converted .mnn, layer records), converting only when not cached."""
    key = json.dumps({"sparsity": sparsity, "format": fmt, "code": _code_hash(converter),
                      **options}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    folder = (cache_dir or home() / "bench-cache") / _sha256(model.path)[:16]
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{model.name}-s{round(sparsity * 100):02d}-{fmt}-{digest}.mnn"
    meta = out.with_suffix(".layers.json")
    if out.is_file() and meta.is_file():
        return out, json.loads(meta.read_text())
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        report = converter(str(model.path), str(tmp), sparsity=sparsity, format=fmt,
                           progress=False, **options)
        layers = [_layer_record(ly) for ly in getattr(report, "layers", None) or []]
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    meta_tmp = meta.with_name(meta.name + ".tmp")
    meta_tmp.write_text(json.dumps(layers, indent=1))
    os.replace(meta_tmp, meta)
    return out, layers


def prepare_variants(model: ModelSource, sparsities, formats: set[str], converter=None,
                     options: dict | None = None, cache_dir: Path | None = None,
                     progress=None) -> dict[float, Variant]:
    """Convert the model at each sparsity into the forms the chosen engines need.

    A conversion error is recorded on the Variant (its engines are then reported
    as failed with that message) instead of stopping the other sparsities.
    """
    converter = converter if converter is not None else default_converter()
    variants = {}
    for s in sparsities:
        v = variants[s] = Variant(s)
        for fmt in sorted(formats):
            try:
                path, layers = convert_cached(model, s, fmt, converter, options or {}, cache_dir)
            except Exception as exc:  # the converter's own message names the problem
                v.error = f"converting {model.path.name} at {s:.0%} ({fmt}) failed: {exc}"
                break
            setattr(v, fmt, path)
            if fmt == "sparse" or not v.layers:   # the sparse form's records say what is tagged
                v.layers = layers
            if progress is not None:
                progress.update(1)
    return variants
