"""The rearrange stage's proof: the rearranged dense model computes the input model's function.

Rearrangement permutes channels across the whole graph (graph_perm.py); one constant
missed or one layout misread and the network computes something else while every
layer still looks plausible. So after rearranging, before anything is pruned, stock
MNN runs the input file and the rearranged dense model on the same random inputs --
every input of the model, at the shape the file gives it -- and every output must
agree. Random values are enough: the check is about the function, not accuracy, and
it needs no calibration data, so it runs for --plain, data-free and multi-input
models alike.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ModelError
from .mnn_wheel import WINOGRAD_MEMORY_LEVEL, MNNSession

TOLERANCE = 1e-3        # relative max error over all outputs (float32 sums in another order)
SAMPLES = 2
SEED = 20241206
# no Winograd transforms: their packed weights took VGG-19's session from 2x the file to 2.7x
HINTS = {WINOGRAD_MEMORY_LEVEL: 0}


def random_feeds(session: MNNSession, rng) -> dict[str, np.ndarray] | None:
    """Uniform [-1, 1] values for every input at the shape the file gives it; None when a
    shape is not fixed (a dimension <= 0)."""
    feeds = {}
    for name, shape in session.input_shapes.items():
        if not shape or min(shape) <= 0:
            return None
        feeds[name] = rng.uniform(-1.0, 1.0, shape).astype(np.float32)
    return feeds


def check_same_function(src: Path, rearranged: Path) -> dict:
    """{"max_rel_error", "samples"} of the rearranged model (a file) vs src, or {"skipped": why}.

    Raises ModelError when the outputs differ by more than TOLERANCE."""
    first = MNNSession(src, hints=HINTS)     # one session at a time: a big model is in memory once
    rng = np.random.default_rng(SEED)
    feeds = [random_feeds(first, rng) for _ in range(SAMPLES)]
    if any(f is None for f in feeds):
        return {"skipped": "an input's shape is not fixed in the file "
                           f"({', '.join(f'{n} {s}' for n, s in first.input_shapes.items())})"}
    try:
        refs = [first.run(f) for f in feeds]
    except ModelError as exc:     # the input model itself does not run on them: nothing to compare
        return {"skipped": f"stock MNN does not run the input model on random inputs ({exc})"}
    del first
    second = MNNSession(rearranged, hints=HINTS)
    gots = [second.run(f) for f in feeds]
    del second
    worst = 0.0
    for ref, got in zip(refs, gots):
        for name, r in ref.items():
            if r.size:
                scale = max(float(np.max(np.abs(r))), 1e-12)
                worst = max(worst, float(np.max(np.abs(got[name] - r))) / scale)
    if not worst <= TOLERANCE:
        raise ModelError(f"{src}: internal error: the rearranged model no longer computes the input model's "
                         f"function (relative error {worst:.2e} on random inputs); convert with --no-rearrange")
    return {"max_rel_error": worst, "samples": SAMPLES}
