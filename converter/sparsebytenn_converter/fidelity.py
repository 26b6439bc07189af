"""The measure-fidelity stage: does the converted model still give the dense model's answers?

Stock MNN runs the input model and the converted bytes on held-out inputs (never
used for calibration): a share of the user's calibration images, else inputs the
caller passes (the CLI passes the installed photos for zoo-like models), else 1/f
noise -- the report says which. Measured on the first output, per input: top-1
agreement, top-5 overlap, cosine and relative error of the outputs; and per pruned
layer the relative error of its output tensor (channels put back in the dense
order where rearrangement permuted them).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .calibration import Probe, input_name
from .errors import ModelError
from .mnn_wheel import WINOGRAD_MEMORY_LEVEL, MNNSession
from .model import Model
from .noise import pink_noise
from .schema import OpType
from .work import Work

HOLDOUT_SHARE = 5          # every 5th calibration input is held out (when there are >= 5)
NOISE_SAMPLES = 16
NOISE_SEED = 1_000_003     # held-out noise; calibration noise uses seed 0
WARN_AGREEMENT = 0.9       # below these the report warns and says what to do
WARN_COSINE = 0.9


@dataclass
class HeldOut:
    inputs: np.ndarray     # (N, C, H, W) float32
    source: str            # what they are, for the report


def split_calibration(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(calibration, held out): every HOLDOUT_SHARE-th input is held out, when there are enough."""
    n = inputs.shape[0]
    if n < HOLDOUT_SHARE:
        return inputs, None
    held = np.arange(n) % HOLDOUT_SHARE == HOLDOUT_SHARE - 1
    return inputs[~held], inputs[held]


def model_input_shape(model: Model) -> tuple[int, int, int] | None:
    """(C, H, W) of the model's single NCHW input when the file fixes it, else None."""
    dims = [op.main.array(0, "i32") for op in model.ops
            if op.type == OpType.Input and op.main is not None]
    if len(dims) != 1 or dims[0] is None or len(dims[0]) != 4 or min(dims[0][1:]) <= 0:
        return None
    return tuple(int(d) for d in dims[0][1:])


def noise_inputs(model: Model, input_range, like: np.ndarray | None = None) -> HeldOut | None:
    """Held-out noise, never the calibration noise (another seed)."""
    shape = tuple(like.shape[1:]) if like is not None else model_input_shape(model)
    if shape is None:
        return None
    lo, hi = input_range
    return HeldOut(pink_noise(NOISE_SAMPLES, shape, seed=NOISE_SEED, low=lo, high=hi),
                   f"{NOISE_SAMPLES} 1/f noise images (no held-out images: agreement on noise says little "
                   "about real inputs)")


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1).astype(np.float64)


def output_metrics(dense: np.ndarray, pruned: np.ndarray) -> dict:
    d, p = _rows(dense), _rows(pruned)
    nd, np_ = np.linalg.norm(d, axis=1), np.linalg.norm(p, axis=1)
    cos = np.sum(d * p, axis=1) / np.maximum(nd * np_, 1e-30)
    rel = np.linalg.norm(p - d, axis=1) / np.maximum(nd, 1e-30)
    out = {"logit_cosine": float(cos.mean()), "relative_error": float(rel.mean())}
    if d.shape[1] >= 2:
        k = min(5, d.shape[1])
        top_d, top_p = np.argsort(-d, axis=1)[:, :k], np.argsort(-p, axis=1)[:, :k]
        out["top1_agreement"] = float(np.mean(top_d[:, 0] == top_p[:, 0]))
        out["top5_overlap"] = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top_d, top_p)]))
    return out


def measure_fidelity(work: Work, written, held: HeldOut, where) -> dict:
    """Dense vs converted (the file `written`) on `held` in stock MNN: output metrics and
    per-layer errors."""
    model = work.model
    if not model.output_names:
        raise ModelError(f"{where}: the model names no output; cannot measure fidelity")
    layers = [c for c in work.chosen if c.name in work.counts]
    err2 = np.zeros(len(layers))
    ref2 = np.zeros(len(layers))
    outs_d, outs_p = [], []
    n = held.inputs.shape[0]
    # one model in MNN at a time (two big ones at once doubled the peak memory), one input at
    # a time: the dense model's tensors for each input wait on disk until the converted model
    # has run it
    with tempfile.TemporaryDirectory(prefix="sbnn-fidelity-") as tmp:
        with _stock_mnn(model, model.path, layers, str(model.path)) as dense:
            for i in range(n):
                a = dense(held.inputs[i:i + 1])
                outs_d.append(a[0])
                for k in range(len(layers)):
                    np.save(os.path.join(tmp, f"{i}-{k}.npy"), a[1 + k])
                del a
        del dense                       # its closure holds the MNN session
        with _stock_mnn(model, written, layers, str(where)) as pruned:
            for i in range(n):
                b = pruned(held.inputs[i:i + 1])
                outs_p.append(b[0])
                for k, c in enumerate(layers):
                    ref = np.load(os.path.join(tmp, f"{i}-{k}.npy"))
                    order = work.out_order.get(c.name)
                    if order is not None:
                        ref = ref[:, order]
                    err2[k] += float(np.sum((b[1 + k].astype(np.float64) - ref) ** 2))
                    ref2[k] += float(np.sum(ref.astype(np.float64) ** 2))
    metrics = output_metrics(np.concatenate(outs_d), np.concatenate(outs_p))
    return {"source": held.source, "samples": int(n), **metrics,
            "layers": {c.name: float(np.sqrt(e / r)) if r > 0 else 0.0
                       for c, e, r in zip(layers, err2, ref2)}}


@contextlib.contextmanager
def _stock_mnn(model: Model, path, layers, where: str) -> Iterator[Callable[[np.ndarray], list[np.ndarray]]]:
    """forward(x) -> [the first output, each layer's output] in stock MNN, for one input.

    An Interpreter session without Winograd transforms, each layer's output copied out as it
    runs: MNN holds the file and one copy of the weights (about 2x the file). MNN's Module
    API, which needs named op outputs from any graph, held 3.5x (VGG-19: the weights in its
    graph, their packed copies, the Winograd ones); it stays for a model whose layers' ops
    are not named once each (the session finds a layer by its op's name)."""
    ops = [model.ops[c.op_index].name for c in layers]
    if not _named_once(model, ops):
        names = [model.output_names[0], *(model.tensor_names[model.ops[c.op_index].outputs[0]] for c in layers)]
        with Probe(input_name(model), batch=1).open(path, names, where, "held-out inputs") as forward:
            yield forward
        return
    try:
        session = MNNSession(path, threads=1, hints={WINOGRAD_MEMORY_LEVEL: 0})
    except ModelError as exc:
        raise ModelError(str(exc).replace(str(path), where, 1)) from None
    first, feed = model.output_names[0], input_name(model)

    def forward(x: np.ndarray) -> list[np.ndarray]:
        try:
            outs, taps = session.run_tapping({feed: x}, ops)
        except ModelError as exc:
            raise ModelError(str(exc).replace(str(path), where, 1)) from None
        if first not in outs:
            raise ModelError(f"{where}: stock MNN does not give the output {first!r} (it gives {sorted(outs)})")
        return [outs[first], *(taps[op] for op in ops)]

    yield forward


def _named_once(model: Model, ops: list[str]) -> bool:
    """Whether each of `ops` has a name in the file that no other op has."""
    count = Counter(op.name for op in model.ops)
    return all(count[name] == 1 and not name.startswith("op#") for name in ops)


def fidelity_warning(fid: dict) -> str | None:
    """One line saying what to do when the converted model strays from the dense one."""
    agree, cos = fid.get("top1_agreement"), fid.get("logit_cosine")
    low = []
    if agree is not None and agree < WARN_AGREEMENT:
        low.append(f"top-1 agreement {agree:.0%} < {WARN_AGREEMENT:.0%}")
    if cos is not None and cos < WARN_COSINE:
        low.append(f"output cosine {cos:.2f} < {WARN_COSINE}")
    if not low:
        return None
    return ("warning: the converted model strays from the dense one on "
            f"{fid['source'].split(' (')[0]} ({', '.join(low)}): calibrate with ~500 of your own "
            "images (--calibration DIR), use a smaller group (--group 4 or auto), lower --sparsity, "
            "or fine-tune (python -m sparsebytenn.finetune)")
