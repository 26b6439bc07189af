"""Build a zoo model once (registry -> torch -> ONNX -> MNN) and serve it from the cache.

Fine-tuned models (catalog.ModelSpec.recipe) add a training stage after the weights
are fetched, keep their torch state_dict (NAME.pt) next to the .mnn, and record
their test accuracy in torch and in stock MNN in the manifest.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError
from . import cache, catalog, export

# The converted model must reproduce torch to this (relative to the largest logit).
CHECK_TOLERANCE = 1e-3

STAGES = ["fetch + verify weights", "export ONNX", "convert to MNN", "check MNN vs torch"]
FINETUNE_STAGES = ["fetch + verify weights", "fine-tune on Fashion-MNIST", "export ONNX",
                   "convert to MNN", "check MNN vs torch", "accuracy: torch + stock MNN"]


def _paths(name: str, folder: Path | None = None) -> dict[str, Path]:
    d = cache.models_dir() if folder is None else Path(folder)
    return {"mnn": d / f"{name}.mnn", "onnx": d / f"{name}.onnx", "manifest": d / f"{name}.json",
            "state_dict": d / f"{name}.pt"}


def _kinds(s: catalog.ModelSpec) -> tuple[str, ...]:
    """The files a build makes besides its manifest."""
    return ("mnn", "onnx", "state_dict") if s.recipe is not None else ("mnn", "onnx")


def _read_manifest(p: dict[str, Path]) -> dict | None:
    try:
        return json.loads(p["manifest"].read_text())
    except (OSError, ValueError):
        return None


def _intact(s: catalog.ModelSpec, p: dict[str, Path], m: dict) -> bool:
    """All files of the build are there with the sizes (and sha256) the manifest names."""
    for kind in _kinds(s):
        f = p[kind]
        if not f.is_file() or f.stat().st_size != m.get(f"{kind}_bytes"):
            return False
    return all(cache.sha256_of(p[kind]) == m.get(f"{kind}_sha256")
               for kind in ("mnn", "state_dict") if kind in _kinds(s))


def _manifest(name: str) -> dict | None:
    """The manifest of a complete, intact, current build, else None."""
    s = catalog.spec(name)
    p = _paths(name)
    m = _read_manifest(p)
    if m is None or m.get("recipe") != catalog.recipe_id(name) or not _intact(s, p, m):
        return None
    return m


def manifest(name: str, folder: Path | None = None) -> dict | None:
    """What the cached build of `name` (or the one in `folder`) was made from and measured
    to do (recipe, source, accuracy for fine-tuned models); None when not built or damaged."""
    if folder is None:
        return _manifest(name)
    s = catalog.spec(name)
    p = _paths(name, folder)
    m = _read_manifest(p)
    return m if m is not None and _intact(s, p, m) else None


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
        _build(s, p, progress, refresh, s.recipe)
    return p["mnn"]


def build_variant(name: str, folder: Path, progress: bool = False, **recipe_changes) -> Path:
    """Build fine-tuned model `name` with a changed recipe (e.g. steps=20, seed=1) into
    `folder` (not the cache) and return its .mnn; for tests and recipe experiments."""
    s = catalog.spec(name)
    if s.recipe is None:
        raise SparseByteNNError(f"{name} is not fine-tuned; it has no recipe to change")
    recipe = _changed_recipe(s.recipe, recipe_changes)
    p = _paths(name, folder)
    Path(folder).mkdir(parents=True, exist_ok=True)
    _build(s, p, progress, refresh=False, recipe=recipe)
    return p["mnn"]


def _changed_recipe(recipe: catalog.TrainRecipe, changes: dict) -> catalog.TrainRecipe:
    known = {f.name for f in dataclasses.fields(recipe)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise SparseByteNNError(f"unknown recipe field {unknown[0]!r}; known: {', '.join(sorted(known))}")
    r = dataclasses.replace(recipe, **changes)
    limits = {"steps": (1, None), "batch": (1, None), "threads": (1, None),
              "test_images": (1, 10000), "validation_images": (0, catalog.RESERVED_TRAIN)}
    for field, (low, high) in limits.items():
        value = getattr(r, field)
        if value < low or (high is not None and value > high):
            raise SparseByteNNError(f"recipe {field}={value}: use {low}..{high or 'any'}")
    return r


def torch_model(name: str, folder: Path | None = None, progress: bool = True):
    """The torch model (eval mode) that the .mnn of `name` was made from.

    For a fine-tuned model: the fine-tuned weights, loaded from the state_dict kept next
    to the cached .mnn (built first if needed), or from the build in `folder`
    (see build_variant). For an ImageNet model: the pretrained network."""
    s = catalog.spec(name)
    if s.recipe is None:
        get(name, progress=progress)         # fetches and verifies the weights
        return _builder(s).build()[0]
    if folder is None:
        get(name, progress=progress)
    p = _paths(name, folder)
    if manifest(name, folder) is None:
        raise SparseByteNNError(f"{p['manifest']}: no complete build of {name} there "
                                "(missing or damaged files); build it again")
    from . import finetuned

    return finetuned.load(s, p["state_dict"])


def _builder(s: catalog.ModelSpec):
    return importlib.import_module(f".{s.builder}", __package__)


def _forget_downloads(s: catalog.ModelSpec) -> None:
    """Delete what the build downloaded, so that --refresh fetches it again."""
    builder = _builder(catalog.spec(s.base) if s.base else s)
    for filename in getattr(builder, "DOWNLOADS", ()):
        (cache.downloads_dir() / filename).unlink(missing_ok=True)


def _file_facts(p: dict[str, Path], kinds) -> dict:
    facts = {}
    for kind in kinds:
        facts[f"{kind}_sha256"] = cache.sha256_of(p[kind])
        facts[f"{kind}_bytes"] = p[kind].stat().st_size
    return facts


def _build(s: catalog.ModelSpec, p: dict[str, Path], progress: bool, refresh: bool,
           recipe: catalog.TrainRecipe | None) -> None:
    from tqdm import tqdm

    stages = FINETUNE_STAGES if s.recipe is not None else STAGES
    bar = tqdm(total=len(stages), desc=s.name, unit="step", disable=not progress, leave=True,
               bar_format="{desc}: {n_fmt}/{total_fmt} {bar} {postfix}")

    def stage_done():
        bar.update()
        bar.set_postfix_str(stages[bar.n] if bar.n < len(stages) else "done")

    t0 = time.perf_counter()
    try:
        bar.set_postfix_str(stages[0])
        if refresh:
            _forget_downloads(s)
        if s.recipe is None:
            model, source = _builder(s).build()
        else:
            from . import finetuned

            model, source = finetuned.build(s, recipe, progress, on_fetched=stage_done)
        stage_done()

        with contextlib.ExitStack() as files:
            tmp = {kind: files.enter_context(cache.atomic_path(p[kind])) for kind in _kinds(s)}
            export.torch_to_onnx(model, s.input_shape, tmp["onnx"], s.input_name, s.output_name)
            stage_done()
            export.onnx_to_mnn(tmp["onnx"], tmp["mnn"])
            stage_done()
            max_diff, scale = _check(model, tmp["mnn"], s.input_shape)
            if max_diff > CHECK_TOLERANCE * scale:
                raise SparseByteNNError(
                    f"{s.name}: the MNN model differs from torch by {max_diff:.3g} "
                    f"(logit scale {scale:.3g}); the conversion is wrong")
            stage_done()
            info = catalog.info(s.name)
            manifest = {"name": s.name, "recipe": catalog.recipe_id_of(s, recipe), "source": source,
                        "check": {"input": "seeded normal", "max_abs_diff_vs_torch": max_diff},
                        "info": info}
            if s.recipe is not None:
                import torch

                from . import finetuned

                info["training"].update(dataclasses.asdict(recipe))   # as built (variants differ)
                export.pin_mnn_uuid(tmp["mnn"])      # MNN's converter writes a random one
                manifest["accuracy"] = finetuned.accuracies(s, model, tmp["mnn"], recipe, progress)
                finetuned.save_state_dict(model, tmp["state_dict"])
                stage_done()
            manifest.update(_file_facts(tmp, _kinds(s)))
            manifest["build_seconds"] = round(time.perf_counter() - t0, 1)
        # All files are in place; the manifest comes last and marks the build complete.
        with cache.atomic_path(p["manifest"]) as tmp_manifest:
            tmp_manifest.write_text(json.dumps(manifest, indent=1))
    finally:
        bar.close()


def _check(model, mnn_path: Path, shape) -> tuple[float, float]:
    import torch

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    from ..session import Session

    got = Session(mnn_path, plugin=False).run_single(x).reshape(ref.shape)
    return float(np.abs(got - ref).max()), float(max(1.0, np.abs(ref).max()))


def onnx_path(name: str) -> Path | None:
    """The cached ONNX of `name` (the same network as the .mnn), or None if not built."""
    if _manifest(name) is None:
        catalog.spec(name)
        return None
    return _paths(name)["onnx"]


def cached_files(name: str) -> dict[str, Path]:
    """Where the cache keeps the files of `name` (they may not exist yet)."""
    s = catalog.spec(name)
    p = _paths(name)
    return {kind: p[kind] for kind in _kinds(s) + ("manifest",)}


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
