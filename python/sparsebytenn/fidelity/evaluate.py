"""The evaluation: what each way of pruning costs in accuracy, and what it buys in speed.

Rows are the dense model, then for every sparsity x group size x method a model
the converter writes, plus any model files given (e.g. fine-tuned ones):

  default      `convert --sparsity S` with no images (what a user gets first)
  calibrated   `convert --sparsity S --calibration IMAGES` on images like the
               model's own and never in the test set

Two protocols, by what the model classifies:
  * Fashion-MNIST models (the zoo's *-fmnist "user models"): accuracy on the test
    split (10,000 images by default) with a Wilson 95 % interval, the drop against
    the dense model with a paired-bootstrap 95 % interval, top-1 agreement with the
    dense model and output cosine. Calibration: the 512 training images the model
    was never trained on (zoo catalog RESERVED_TRAIN).
  * ImageNet models: agreement with the dense model on the installed photos, two
    folds held out, ten-crop views (photo_protocol.py). Direction only.
With speed=True every row's model is also timed through the plugin against stock
MNN on the dense model, in one interleaved run (bench/measure.py), so each row
says what its accuracy cost buys.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sparsebytenn_converter.output_paths import write_all_atomic

from ..errors import SparseByteNNError
from . import photo_protocol, stats
from .batch_runner import BatchRunner, model_io

METHODS = ("default", "calibrated")
CALIBRATION_IMAGES = 512


@dataclass
class EvalConfig:
    model: str
    sparsities: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    groups: list = field(default_factory=lambda: [None])     # None: convert's default; ints; "auto"
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    extra: dict = field(default_factory=dict)                # label -> .mnn file, evaluated as is
    test: int | None = None                                  # test images (None: the whole split)
    calibration_images: int = CALIBRATION_IMAGES
    photo_crops: int = photo_protocol.CALIBRATION_CROPS
    seed: int = 0
    speed: bool = False
    speed_rounds: int = 11
    speed_runs: int = 10
    threads: int = 1
    batch: int = 50
    like: str | None = None
    save_models: Path | None = None
    progress: bool = True


@dataclass
class Subject:
    label: str
    path: Path
    zoo_name: str            # preprocessing, classes and data
    task: str                # "fashion-mnist" or "imagenet"


def resolve(cfg: EvalConfig) -> Subject:
    from .. import zoo
    from ..zoo import catalog

    known = zoo.names()
    if cfg.like is not None and cfg.like not in known:
        raise SparseByteNNError(f"--like {cfg.like!r}: unknown zoo model; known: {', '.join(known)}")
    if cfg.model in known:
        name, path = cfg.model, Path(zoo.get(cfg.model, progress=cfg.progress))
    else:
        path = Path(cfg.model)
        if path.is_dir():
            raise SparseByteNNError(f"{cfg.model}: is a directory, not a model file")
        if path.exists() and not path.is_file():
            raise SparseByteNNError(f"{cfg.model}: is not a regular file")
        if not path.is_file():
            raise SparseByteNNError(f"{cfg.model}: no such file, and not a zoo model "
                                    f"(zoo models: {', '.join(known)})")
        if cfg.like is None:
            raise SparseByteNNError(f"{path}: say which zoo model's inputs and classes it has with --like")
        name = cfg.like
    return Subject(path.name if cfg.model not in known else name, path, name, catalog.spec(name).classes)


def check_files(*groups) -> None:
    """Model files from users: validated by the reader, then run once in a child process
    (preflight), before this process loads them into MNN."""
    from sparsebytenn_converter import read_model

    from ..preflight import check

    for path in (Path(p) for g in groups for p in g):
        read_model(path)
        check(path, plugin=False, threads=1)


def check_config(cfg: EvalConfig) -> None:
    bad = [m for m in cfg.methods if m not in METHODS]
    if bad:
        raise SparseByteNNError(f"--methods: unknown method {bad[0]!r}; use {', '.join(METHODS)}")
    for s in cfg.sparsities:
        if not 0 < s < 1:
            raise SparseByteNNError(f"--sparsity {s}: each sparsity must be in (0, 1)")
    for g in cfg.groups:
        if g not in (None, "auto", 1, 2, 4, 8, 16):
            raise SparseByteNNError(f"--group {g}: use 1, 2, 4, 8, 16 or auto")
    for label, p in cfg.extra.items():
        if not Path(p).is_file():
            raise SparseByteNNError(f"--model {label}={p}: no such file")
    if cfg.test is not None and cfg.test < 10:
        raise SparseByteNNError("--test must be >= 10 images")
    if not 16 <= cfg.calibration_images <= 4096:
        raise SparseByteNNError(f"--calibration-images {cfg.calibration_images}: use 16..4096")
    if cfg.threads < 1 or cfg.batch < 1 or cfg.speed_rounds < 1 or cfg.speed_runs < 1:
        raise SparseByteNNError("--threads, --batch and the speed rounds/runs must be >= 1")


@dataclass
class Variant:
    label: str
    method: str | None       # None: dense or a given file
    group: object
    sparsity: float | None
    path: Path | None = None
    facts: dict = field(default_factory=dict)


def variants(cfg: EvalConfig) -> list[Variant]:
    from sparsebytenn_converter.options import TARGET_G, host_target

    out = [Variant("dense", None, None, None)]
    for s in cfg.sparsities:
        for g in cfg.groups:
            g = g or TARGET_G[host_target()]
            for m in cfg.methods:
                out.append(Variant(f"{m} G={g} {s:.0%}", m, g, s))
    out += [Variant(label, None, None, None, Path(p)) for label, p in cfg.extra.items()]
    return out


def convert_variant(subject: Subject, v: Variant, dst: Path, calibration: np.ndarray | None) -> dict:
    """Write v's model to dst; facts about it (achieved sparsity, G per layer, seconds)."""
    from .. import convert

    t0 = time.perf_counter()
    # convert's own defaults, as `sparsebytenn convert --calibration` runs it: it keeps every
    # 5th calibration input out of the fit for its fidelity report, so an eval row is the
    # model a user gets (the eval with all inputs fitted measured 77.1 % on the photos where
    # the CLI's model keeps 79.3 %: within this protocol's noise, but not the same model)
    rep = convert(subject.path, dst, sparsity=v.sparsity, group=v.group, calibration=calibration,
                  progress=False, force=True)
    sizes = {r.name: int(np.prod(r.shape)) for r in rep.layers}
    total = sum(sizes.values())
    return {"achieved_sparsity": sum(r.sparsity_after * sizes[r.name] for r in rep.layers) / total,
            "G": rep.G, "layer_G": {r.name: r.G for r in rep.layers},
            "layer_sparsity": {r.name: round(r.sparsity_after, 4) for r in rep.layers},
            "tagged_layers": sum(r.tagged for r in rep.layers),     # the rest pruned but stored dense
            # what the allocator promised (a model), to set against the measured speed-up
            "modelled_speedup": (rep.allocation or {}).get("modelled_speedup"),
            "convert_seconds": round(time.perf_counter() - t0, 1)}


# ------------------------------------------------------------------ Fashion-MNIST models

def task_data(subject: Subject, cfg: EvalConfig):
    """(test inputs, labels, calibration inputs): calibration from the reserved training images."""
    from .. import zoo
    from ..zoo import catalog

    x, y = zoo.fashion_mnist_inputs(subject.zoo_name, "test", cfg.test)
    images, _ = zoo.fashion_mnist("train")
    reserved = images[catalog.FASHION_MNIST_TRAIN - catalog.RESERVED_TRAIN:]
    if cfg.calibration_images > len(reserved):
        raise SparseByteNNError(f"--calibration-images {cfg.calibration_images}: only {len(reserved)} training "
                                "images were kept out of the model's training")
    from ..zoo.fashion_mnist_inputs import model_inputs

    return x, y, model_inputs(subject.zoo_name, reserved[:cfg.calibration_images])


def task_logits(path: Path, x: np.ndarray, cfg: EvalConfig, bar=None) -> np.ndarray:
    io = model_io(path)
    run = BatchRunner(path, io["inputs"][0], [io["outputs"][0]], cfg.threads)
    parts = []
    for start in range(0, len(x), cfg.batch):
        parts.append(run(x[start:start + cfg.batch])[0])
        if bar is not None:
            bar.update(min(cfg.batch, len(x) - start))
    return np.concatenate(parts)


def task_row(y: np.ndarray, logits: np.ndarray, dense_logits: np.ndarray, seed: int) -> dict:
    correct = logits.argmax(1) == y
    dense_correct = dense_logits.argmax(1) == y
    n, k = len(y), int(correct.sum())
    return {"accuracy": k / n, "accuracy_ci95": list(stats.wilson_interval(k, n)),
            "drop_pt": (int(dense_correct.sum()) - k) / n * 100,
            "drop_ci95_pt": list(stats.paired_bootstrap_drop(dense_correct, correct, seed=seed)),
            "top1_agreement": float(np.mean(logits.argmax(1) == dense_logits.argmax(1))),
            "logit_cosine": float(stats.cosine_rows(logits, dense_logits).mean()),
            "test_images": n}


# ------------------------------------------------------------------ the run

def evaluate(cfg: EvalConfig) -> dict:
    from tqdm import tqdm

    check_config(cfg)
    t0 = time.perf_counter()
    subject = resolve(cfg)
    check_files([] if cfg.model == subject.zoo_name else [subject.path], cfg.extra.values())
    rows_in = variants(cfg)
    work = Path(tempfile.mkdtemp(prefix="sbnn-eval-"))
    bar = tqdm(total=len(rows_in), desc=f"eval {subject.label}", unit="model", disable=not cfg.progress,
               leave=False, dynamic_ncols=True)
    rows = []
    try:
        if subject.task == "fashion-mnist":
            x, y, calib = task_data(subject, cfg)
            dense_logits = task_logits(subject.path, x, cfg)
        for k, v in enumerate(rows_in):
            bar.set_postfix_str(v.label)
            row = {"label": v.label, "method": v.method or ("dense" if v.path is None else "file"),
                   "group": v.group, "sparsity": v.sparsity}
            if v.method is not None:
                v.path = work / f"v{k}.mnn"
            if subject.task == "fashion-mnist":
                if v.method is not None:
                    v.facts = convert_variant(subject, v, v.path, calib if v.method == "calibrated" else None)
                path = v.path or subject.path
                row.update(task_row(y, task_logits(path, x, cfg), dense_logits, cfg.seed))
            else:
                row.update(photo_row(subject, v, work, cfg))
            row.update(v.facts)
            if cfg.save_models is not None and v.method is not None:
                kept = Path(cfg.save_models) / f"{subject.label}-{v.method}-G{v.group}-s{v.sparsity:g}.mnn"
                write_all_atomic([(kept, v.path.read_bytes())])
                row["model_file"] = str(kept)
            elif v.path is not None and v.method is None:
                row["model_file"] = str(v.path)
            rows.append(row)
            bar.update()
        if cfg.speed:
            from .speed import time_variants
            time_variants(subject, rows_in, rows, cfg, work)
    finally:
        bar.close()
        shutil.rmtree(work, ignore_errors=True)
    return {"model": subject.label, "model_path": str(subject.path), "task": subject.task,
            "protocol": protocol(subject, cfg), "seconds": round(time.perf_counter() - t0, 1),
            "results": rows}


def photo_row(subject: Subject, v: Variant, work: Path, cfg: EvalConfig) -> dict:
    if v.method is None and v.path is None:
        return {"top1_agreement": 1.0, "top5_overlap": 1.0, "logit_cosine": 1.0, "logit_rel_err": 0.0}

    def build(calibration, out):
        if v.method is None:
            shutil.copyfile(v.path, out)
        else:
            v.facts = convert_variant(subject, v, out, calibration)
            if v.path is not None and not v.path.exists():
                shutil.copyfile(out, v.path)     # the fold-0 model: what is saved and timed

    res = photo_protocol.held_out_agreement(subject.zoo_name, subject.path, build, work,
                                            calibrated=v.method == "calibrated", seed=cfg.seed,
                                            crops=cfg.photo_crops)
    return {k: res[k] for k in ("views", "top1_agreement", "top1_agreement_ci95", "top5_overlap",
                                "logit_cosine", "logit_rel_err", "by_dense_confidence", "per_photo")}


def protocol(subject: Subject, cfg: EvalConfig) -> dict:
    from ..bench import machine
    from ..zoo import catalog

    p = {"zoo_model": subject.zoo_name, "task": subject.task, "methods": cfg.methods,
         "groups": sorted({v.group for v in variants(cfg) if v.group is not None}, key=str), "sparsities": cfg.sparsities, "seed": cfg.seed,
         "machine": machine.describe()}
    if subject.task == "fashion-mnist":
        p.update(dataset="Fashion-MNIST test split (Debian dataset-fashion-mnist)",
                 test_images=cfg.test or 10000,
                 calibration=(f"{cfg.calibration_images} of the {catalog.RESERVED_TRAIN} training images "
                              "the model was never trained on"),
                 ci="accuracy: Wilson 95 %; drop: paired bootstrap 95 % (2000 rounds)")
    else:
        p.update(dataset="the installed photos, 2 folds held out, ten-crop views (photo_protocol.py)",
                 calibration=f"{cfg.photo_crops} augmented crops of the other fold",
                 caveat="14 correlated photos: direction only, never an accuracy")
    return p
