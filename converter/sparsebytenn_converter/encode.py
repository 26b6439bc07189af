"""The write stage: the model's bytes with the stages' weights, tags and permuted constants."""
from __future__ import annotations

import numpy as np

from .conv_tables import conv2d_node
from .errors import ModelError
from .model import ConvInfo, SparseWeights, read_model
from .rewrite import Rewriter
from .schema import BlobF
from .work import Work


def pattern_of(c: ConvInfo) -> str:
    return "oc-group" if c.kernel == (1, 1) else "kernel"


def encode(work: Work, *, sparse: set[str], target: str, compact: bool) -> tuple[bytes, Rewriter]:
    """Layers in `sparse` get sparse metadata; every other changed (or tagged) layer is dense."""
    rw = Rewriter(work.model, compact=compact)
    W, B = work.W, work.B
    for c in work.model.convs:
        if c.name in sparse:
            meta = {"G": work.G[c.name], "pattern": pattern_of(c), "target": target}
            rw.replace_conv2d(c, conv2d_node(c, W[c.name], B[c.name], sparse=meta))
        elif work.changed(c.name) or (c.name in work.tagged and c.storage != "dense"):
            if c.storage == "dense":
                rw.set_dense(c, W[c.name], B[c.name])
            else:
                rw.replace_conv2d(c, conv2d_node(c, W[c.name], B[c.name], sparse=None))
    for op, vals in work.const_edits.values():
        rw.write_floats(op.main.vector(BlobF.float32s, 4)[0], vals)
    return rw.result(), rw


def encode_dense(work: Work) -> bytes:
    """The model as changed so far, every layer dense: what calibration runs in stock MNN."""
    return encode(work, sparse=set(), target="", compact=False)[0]


def check_round_trip(work: Work, data: bytes, where) -> None:
    """Read what we wrote with the validating reader; every weight must come back exactly.
    (Sparse layers are decoded one at a time: no second copy of every weight at once.)"""
    written = read_model(where, data=data, decode_sparse=False)
    for c in written.convs:
        if c.name not in work.W or c.weights is None:
            continue
        got = c.weights.dense() if isinstance(c.weights, SparseWeights) else c.weights
        if not _same(got, work.W[c.name]):
            raise ModelError(f"{where}: internal error: layer {c.name!r} did not round-trip")


def _same(a: np.ndarray, b: np.ndarray, rows: int = 64) -> bool:
    """np.array_equal(a, b, equal_nan=True), a few output channels at a time (its
    temporaries are as large as the arrays)."""
    if a.shape != b.shape:
        return False
    return all(np.array_equal(a[i:i + rows], b[i:i + rows], equal_nan=True) for i in range(0, len(a), rows))
