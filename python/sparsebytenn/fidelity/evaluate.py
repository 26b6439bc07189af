"""The evaluation protocol: what one-shot pruning costs, per pattern and sparsity.

1. Fashion-MNIST train/test subsets (stratified, seeded), resized, 3 channels,
   the model's normalisation.
2. The dense model's penultimate features (stock MNN) -> a linear probe fitted on
   the training features only (probe.fit_probe).
3. Every pruned variant (same eligible layers, same sparsity): test features ->
   the *same* probe -> accuracy, with a Wilson interval, and the paired drop vs
   dense with a paired-bootstrap interval; feature cosine vs dense.
4. The sample photos at the model's own resolution: top-1 / top-5 agreement with
   the dense model's ImageNet prediction, logit cosine and relative error.

Calibrated variants (group-calibrated, unstructured-calibrated): the converter's
calibrated pruning (convert(..., calibration=...): groups chosen by the output
error they cost, kept weights and biases re-fit by least squares, layer by layer)
on --calibration-images Fashion-MNIST *training* images that are not in the
probe's training subset (so disjoint from every probe image, train or test).
unstructured-calibrated is the same converter path with G=1, which is single
weights only where every pruned layer is 1x1 (MobileNet-V1, EfficientNet-Lite0);
it is refused otherwise.

Rearranged variants permute the penultimate features (the last pruned layer's
output channels, carried into the classifier's input columns); their features
are put back in the dense order (features.feature_permutation) before the probe.

Optional bias correction (--bias-correct, an experiment, not a converter feature):
after pruning, each pruned layer's bias gets sum_i (W_dense - W_pruned)[o, i, :, :]
. E[x_i], with E[x_i] the mean of its input channel i in the dense network over
calibration images taken from the *training* subset. This compensates the mean
shift pruning causes in ReLU6 networks (inputs are non-negative, so dropping
small weights shifts every pre-activation).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError
from . import data as fdata
from . import prune as fprune
from . import stats
from .features import MNNRunner, feature_permutation, model_io, run_batches
from .probe import fit_probe

PATTERNS = ("group", "group-calibrated", "unstructured", "unstructured-calibrated", "mnn-simd-oc")
DEFAULT_PATTERNS = ("group", "group-calibrated", "unstructured", "mnn-simd-oc")
CALIBRATED = {"group-calibrated", "unstructured-calibrated"}
CALIBRATION_IMAGES = 256          # bias correction
CALIBRATED_PRUNING_IMAGES = 512   # calibrated pruning (default of --calibration-images)


@dataclass
class EvalConfig:
    model: str
    sparsities: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    patterns: list[str] = field(default_factory=lambda: list(DEFAULT_PATTERNS))
    train: int = 2000
    test: int = 2000
    size: int = 96
    seed: int = 0
    threads: int = 1
    batch: int = 32
    group: int | None = None          # G for the group pattern (None: the converter's default)
    per_layer: bool = False
    min_keep: float = 0.1
    photos: bool = True
    bias_correct: bool = False
    calibration_images: int = CALIBRATED_PRUNING_IMAGES
    like: str | None = None           # zoo model whose preprocessing a file model uses
    save_models: Path | None = None   # keep every variant's .mnn here (rows name the file)
    progress: bool = True


@dataclass
class ModelSpec:
    label: str
    path: Path
    norm: fdata.Normalisation
    zoo_name: str | None              # preprocessing/labels for photos


def resolve_model(name: str, like: str | None, progress: bool) -> ModelSpec:
    from .. import zoo

    known = zoo.names()
    if like is not None and like not in known:
        raise SparseByteNNError(f"--like {like!r}: unknown zoo model; known: {', '.join(known)}")
    if name in known:
        info = zoo.info(name)
        pre = info["preprocessing"]
        return ModelSpec(name, zoo.get(name, progress=progress),
                         fdata.Normalisation(tuple(pre["mean"]), tuple(pre["std"])), name)
    p = Path(name)
    if p.is_file():
        norm = fdata.Normalisation()
        if like is not None:
            pre = zoo.info(like)["preprocessing"]
            norm = fdata.Normalisation(tuple(pre["mean"]), tuple(pre["std"]))
        return ModelSpec(p.name, p, norm, like)
    if p.exists():
        raise SparseByteNNError(f"{name}: is not a model file")
    raise SparseByteNNError(f"{name}: unknown model: not a file and not a zoo model (zoo models: "
                            f"{', '.join(known)})")


def check_config(cfg: EvalConfig) -> None:
    bad = [p for p in cfg.patterns if p not in PATTERNS]
    if bad:
        raise SparseByteNNError(f"--patterns: unknown pattern {bad[0]!r}; use {', '.join(PATTERNS)}")
    if not cfg.patterns:
        raise SparseByteNNError("--patterns: give at least one pattern")
    for s in cfg.sparsities:
        if not 0 < s < 1:
            raise SparseByteNNError(f"--sparsity {s}: each sparsity must be in (0, 1)")
    if not cfg.sparsities:
        raise SparseByteNNError("--sparsity: give at least one value")
    if cfg.train < 20 or cfg.test < 10:
        raise SparseByteNNError("--train must be >= 20 and --test >= 10 images")
    if not 16 <= cfg.size <= 512:
        raise SparseByteNNError(f"--size {cfg.size}: use 16..512 pixels")
    if any(p in CALIBRATED for p in cfg.patterns) and not 16 <= cfg.calibration_images <= 4096:
        raise SparseByteNNError(f"--calibration-images {cfg.calibration_images}: use 16..4096")
    if cfg.threads < 1 or cfg.batch < 1:
        raise SparseByteNNError("--threads and --batch must be >= 1")


class _Inputs:
    """Normalised batches made on demand from the resized uint8 images."""

    def __init__(self, rgb: np.ndarray, norm: fdata.Normalisation):
        self.rgb, self.norm = rgb, norm

    def __call__(self, start: int, stop: int) -> np.ndarray:
        return self.norm.apply(self.rgb[start:stop])


def _photos(spec: ModelSpec):
    from .. import zoo

    if spec.zoo_name is None:
        return [], None
    found = zoo.sample_photos()
    if not found:
        return [], None
    x = np.concatenate([zoo.preprocess(spec.zoo_name, p) for _, p, _ in found])
    return found, x


def _variants(cfg: EvalConfig):
    """(pattern, rearranged, sparsity) in evaluation order."""
    out = []
    for s in cfg.sparsities:
        for p in cfg.patterns:
            if p in ("group", "group-calibrated"):
                out += [(p, True, s), (p, False, s)]
            else:
                out.append((p, None, s))
    return out


def _build_variant(src: Path, dst: Path, pattern: str, rearranged, s: float, cfg: EvalConfig,
                   eligible: list[str], calib: np.ndarray | None = None) -> dict:
    """Write the pruned model; returns facts about it (achieved sparsity, G, per-layer)."""
    from .. import convert

    if pattern in ("group", "group-calibrated", "unstructured-calibrated"):
        G = 1 if pattern == "unstructured-calibrated" else cfg.group
        rep = convert(src, dst, sparsity=s, group=G, per_layer=cfg.per_layer, min_keep=cfg.min_keep,
                      format="dense", rearrange=bool(rearranged), progress=False, force=True,
                      calibration=calib if pattern in CALIBRATED else None)
        if pattern == "unstructured-calibrated":
            kxk = [r.name for r in rep.layers if int(np.prod(r.shape[2:])) > 1]
            if kxk:
                raise SparseByteNNError(f"{src}: unstructured-calibrated needs 1x1 pruned layers (G=1 units "
                                        f"of a kxk layer are whole kernels); {kxk[0]!r} is "
                                        f"{'x'.join(map(str, rep.layers[0].shape[2:]))}")
        sizes = {r.name: int(np.prod(r.shape)) for r in rep.layers}
        per = {r.name: r.sparsity_after for r in rep.layers}
        facts = {"G": rep.G, "layers": per,
                 "achieved_sparsity": sum(per[n] * sizes[n] for n in per) / sum(sizes.values())}
        if rep.calibration:
            facts["calibration_layers"] = rep.calibration.get("layers", {})
        return facts
    per = fprune.prune_model(src, dst, eligible, pattern, s, per_layer=cfg.per_layer, min_keep=cfg.min_keep)
    from sparsebytenn_converter import read_model

    m = read_model(src)
    sizes = {n: m.conv(n).weights.size for n in eligible}
    return {"G": fprune.MNN_BLOCK_OC if pattern == "mnn-simd-oc" else 1, "layers": per,
            "achieved_sparsity": sum(per[n] * sizes[n] for n in per) / sum(sizes.values())}


def _variant_file_name(pattern: str, rearranged, s: float, bias_corrected: bool) -> str:
    parts = [pattern, {True: "rearr", False: "no-rearr", None: ""}[rearranged], f"s{s:g}",
             "bc" if bias_corrected else ""]
    return "-".join(p for p in parts if p) + ".mnn"


def _eligible_layers(src: Path, work: Path, cfg: EvalConfig) -> list[str]:
    """The layers the converter prunes with these options (skip first/last, ...)."""
    from .. import convert

    rep = convert(src, work / "eligible.mnn", sparsity=cfg.sparsities[0], group=cfg.group,
                  per_layer=cfg.per_layer, min_keep=cfg.min_keep, format="dense", rearrange=False,
                  progress=False, force=True)
    (work / "eligible.mnn").unlink()
    return [r.name for r in rep.layers]


def _bias_correct(ref: Path, pruned: Path, out: Path, layers: list[str], calib: np.ndarray,
                  input_name: str, cfg: EvalConfig) -> None:
    """Write `pruned` with each layer's bias corrected for the mean its pruned weights carried.

    ref computes the dense function in the same channel order as `pruned` (the dense
    model, or the rearranged-but-unpruned model for rearranged variants)."""
    from sparsebytenn_converter import read_model

    mr, mp = read_model(ref), read_model(pruned)
    names = [mr.tensor_names[mr.ops[mr.conv(n).op_index].inputs[0]] for n in layers]
    runner = MNNRunner(ref, input_name, names, cfg.threads)
    means = None
    for start in range(0, len(calib), cfg.batch):
        xb = calib[start:start + cfg.batch]
        outs = runner(xb)
        sums = [o.reshape(len(xb), mr.conv(n).in_channels, -1).mean(axis=2).sum(axis=0)
                for o, n in zip(outs, layers)]
        means = sums if means is None else [a + b for a, b in zip(means, sums)]
    means = [m / len(calib) for m in means]
    W, B = {}, {}
    for n, mu in zip(layers, means):
        cr, cp = mr.conv(n), mp.conv(n)
        wr, wp = np.asarray(cr.weights, np.float64), np.asarray(cp.weights, np.float64)
        kept = wp != 0
        if wr.shape != wp.shape or not np.allclose(wr[kept], wp[kept], rtol=0, atol=1e-6):
            raise SparseByteNNError(f"{pruned}: layer {n!r} is not a pruned copy of {ref} "
                                    "(channel orders differ); cannot correct its bias")
        removed = (wr - wp).sum(axis=(2, 3))           # (O, I): taps summed (exact for 1x1)
        bias = np.asarray(cp.bias if cp.bias is not None else np.zeros(cp.out_channels), np.float64)
        W[n] = np.asarray(cp.weights, np.float32)
        B[n] = (bias + removed @ mu).astype(np.float32)
    fprune.write_dense_weights(pruned, out, W, B)


def evaluate(cfg: EvalConfig) -> dict:
    """Run the whole protocol; returns the JSON-ready result."""
    check_config(cfg)
    from tqdm import tqdm

    t0 = time.perf_counter()
    spec = resolve_model(cfg.model, cfg.like, cfg.progress)
    io = model_io(spec.path)
    input_name = io["inputs"][0]
    out_logits = io["outputs"][0] if io["outputs"] else None
    if out_logits is None:
        raise SparseByteNNError(f"{spec.path}: the model names no output tensor")
    if io["feature"] in io["inputs"]:
        raise SparseByteNNError(f"{spec.path}: the classifier reads the model input; no features to probe")

    tr_img, tr_lab = fdata.load_fashion_mnist("train", cfg.train, cfg.seed)
    te_img, te_lab = fdata.load_fashion_mnist("test", cfg.test, cfg.seed + 1)
    tr = _Inputs(fdata.resize_gray_to_rgb(tr_img, cfg.size), spec.norm)
    te = _Inputs(fdata.resize_gray_to_rgb(te_img, cfg.size), spec.norm)
    photos, photo_x = _photos(spec) if cfg.photos else ([], None)

    variants = _variants(cfg)
    n_rows = len(variants) * (2 if cfg.bias_correct else 1)
    total = cfg.train + cfg.test + n_rows * cfg.test
    bar = tqdm(total=total, desc=f"eval {spec.label}", unit="img", disable=not cfg.progress,
               leave=False, dynamic_ncols=True)

    work = Path(tempfile.mkdtemp(prefix="sbnn-eval-"))
    try:
        bar.set_postfix_str("dense")
        dense = MNNRunner(spec.path, input_name, [io["feature"]], cfg.threads)
        f_tr = run_batches(dense, cfg.train, tr, cfg.batch, bar)[0]
        f_te = run_batches(dense, cfg.test, te, cfg.batch, bar)[0]
        probe = fit_probe(f_tr, tr_lab, classes=10, seed=cfg.seed)
        dense_correct = probe.predict(f_te) == te_lab
        logits0 = None
        if photo_x is not None:
            logits0 = _photo_logits(spec.path, input_name, out_logits, photo_x, cfg.threads)
        calib = tr(0, min(CALIBRATION_IMAGES, cfg.train)) if cfg.bias_correct else None
        calib_pruning = None
        if any(p in CALIBRATED for p in cfg.patterns):
            cal_img, _ = fdata.load_calibration_images(cfg.calibration_images, cfg.train, cfg.seed)
            calib_pruning = spec.norm.apply(fdata.resize_gray_to_rgb(cal_img, cfg.size))

        eligible = _eligible_layers(spec.path, work, cfg)
        rows = []
        k0 = int(dense_correct.sum())
        dense_row = {
            "model": spec.label, "pattern": "dense", "rearranged": None, "bias_corrected": False,
            "calibrated": False,
            "sparsity": 0.0, "achieved_sparsity": 0.0, "G": None,
            "probe_accuracy": k0 / cfg.test, "probe_accuracy_ci95": list(stats.wilson_interval(k0, cfg.test)),
            "probe_drop_pt": 0.0, "probe_drop_ci95_pt": [0.0, 0.0], "feature_cosine": 1.0,
            "top1_agreement": 1.0 if logits0 is not None else None,
            "top5_overlap": 1.0 if logits0 is not None else None,
            "logit_cosine": 1.0 if logits0 is not None else None,
            "logit_rel_err": 0.0 if logits0 is not None else None,
        }
        if logits0 is not None and spec.zoo_name:
            dense_row["photo_top1"] = _photo_top1(spec.zoo_name, photos, logits0)
        rows.append(dense_row)

        for pattern, rearranged, s in variants:
            bar.set_postfix_str(f"{pattern}{'' if rearranged in (None, True) else ' no-rearr'} {s:g}")
            path = work / "variant.mnn"
            facts = _build_variant(spec.path, path, pattern, rearranged, s, cfg, eligible, calib_pruning)
            models = [(False, path)]
            if cfg.bias_correct and pattern not in CALIBRATED:   # calibration re-fits biases itself
                ref = spec.path
                if pattern == "group" and rearranged:
                    from .. import convert

                    ref = work / "rearranged.mnn"
                    convert(spec.path, ref, sparsity=s, group=cfg.group, per_layer=cfg.per_layer,
                            min_keep=cfg.min_keep, format="dense", rearrange=True, rearrange_only=True,
                            progress=False, force=True)
                corrected = work / "variant-bc.mnn"
                _bias_correct(ref, path, corrected, list(facts["layers"]), calib, input_name, cfg)
                models.append((True, corrected))
            for bc, mpath in models:
                runner = MNNRunner(mpath, input_name, [io["feature"]], cfg.threads)
                f = run_batches(runner, cfg.test, te, cfg.batch, bar)[0]
                perm = feature_permutation(spec.path, mpath, io["classifier"]) if rearranged else None
                if perm is not None:          # rearranged: back to the order the probe was fitted on
                    aligned = np.empty_like(f)
                    aligned[:, perm] = f
                    f = aligned
                correct = probe.predict(f) == te_lab
                k = int(correct.sum())
                row = {
                    "model": spec.label, "pattern": pattern, "rearranged": rearranged, "bias_corrected": bc,
                    "calibrated": pattern in CALIBRATED,
                    "sparsity": s, "achieved_sparsity": round(float(facts["achieved_sparsity"]), 6),
                    "G": facts["G"],
                    "probe_accuracy": k / cfg.test,
                    "probe_accuracy_ci95": list(stats.wilson_interval(k, cfg.test)),
                    "probe_drop_pt": (k0 - k) / cfg.test * 100,
                    "probe_drop_ci95_pt": list(stats.paired_bootstrap_drop(dense_correct, correct, seed=cfg.seed)),
                    "feature_cosine": float(stats.cosine_rows(f, f_te).mean()),
                }
                if logits0 is not None:
                    lg = _photo_logits(mpath, input_name, out_logits, photo_x, cfg.threads)
                    top1, top5 = stats.topk_agreement(lg, logits0, 5)
                    row.update(top1_agreement=top1, top5_overlap=top5,
                               logit_cosine=float(stats.cosine_rows(lg, logits0).mean()),
                               logit_rel_err=float(stats.relative_error_rows(lg, logits0).mean()))
                    if spec.zoo_name:
                        row["photo_top1"] = _photo_top1(spec.zoo_name, photos, lg)
                else:
                    row.update(top1_agreement=None, top5_overlap=None, logit_cosine=None, logit_rel_err=None)
                row["layer_sparsity"] = {n: round(v, 4) for n, v in facts["layers"].items()}
                if cfg.save_models is not None:
                    kept = Path(cfg.save_models) / _variant_file_name(pattern, rearranged, s, bc)
                    shutil.copyfile(mpath, kept)
                    row["model_file"] = str(kept)
                if "calibration_layers" in facts:   # per layer: relative output error, plain vs calibrated
                    row["calibration_layers"] = {n: {k: round(v, 5) for k, v in r.items()}
                                                 for n, r in facts["calibration_layers"].items()}
                rows.append(row)
    finally:
        bar.close()
        shutil.rmtree(work, ignore_errors=True)

    return {
        "model": spec.label,
        "model_path": str(spec.path),
        "protocol": {
            "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)", "train": cfg.train, "test": cfg.test,
            "size_px": cfg.size, "seed": cfg.seed, "feature_tensor": io["feature"],
            "classifier": io["classifier"], "normalisation": {"mean": list(spec.norm.mean), "std": list(spec.norm.std)},
            "probe": {"kind": "multinomial logistic regression (numpy), standardised features",
                      "lambda": probe.lam},
            "ci": "accuracy: Wilson 95 %; drop: paired bootstrap 95 % (2000 rounds)",
            "allocation": "per-layer" if cfg.per_layer else f"global (converter ranking), min_keep {cfg.min_keep}",
            "eligible_layers": eligible,
            "photos": [n for n, _, _ in photos],
            "bias_correction_calibration": min(CALIBRATION_IMAGES, cfg.train) if cfg.bias_correct else 0,
            "calibrated_pruning": {
                "images": cfg.calibration_images,
                "source": "Fashion-MNIST training split, stratified (seed + 2), disjoint from the probe's "
                          "training subset and, being training images, from every test image",
                "size_px": cfg.size} if calib_pruning is not None else None,
        },
        "seconds": round(time.perf_counter() - t0, 1),
        "results": rows,
    }


def _photo_logits(path: Path, input_name: str, output: str, x: np.ndarray, threads: int) -> np.ndarray:
    """Logits of the photos one at a time: some models fix the batch to 1 in a Reshape."""
    run = MNNRunner(path, input_name, [output], threads)
    out = [run(x[i:i + 1]) for i in range(len(x))]
    if any(not o for o in out):
        raise SparseByteNNError(f"{path}: stock MNN did not compute {output!r} for the photos")
    return np.concatenate([o[0] for o in out])


def _photo_top1(zoo_name: str, photos, logits: np.ndarray) -> dict:
    from .. import zoo

    return {name: zoo.top_k(zoo_name, lg, 1)[0][0] for (name, _, _), lg in zip(photos, logits)}
