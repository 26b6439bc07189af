"""The write stage: the model's bytes with the stages' weights, tags and permuted constants."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .conv_tables import conv2d_node
from .errors import ModelError
from .model import ConvInfo, SparseWeights, drop_pages, load_bytes, read_model
from .rewrite import Rewriter
from .schema import BlobF
from .work import Work


def pattern_of(c: ConvInfo) -> str:
    return "oc-group" if c.kernel == (1, 1) else "kernel"


def encode(work: Work, out, *, sparse: set[str], target: str, compact: bool) -> Rewriter:
    """Write the model to the new file `out` (the caller names it and removes it on failure):
    layers in `sparse` get sparse metadata; every other changed (or tagged) layer is dense.
    Returns the finished rewriter (`size`: the file's size)."""
    rw = Rewriter(work.model, out, compact=compact)
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
        work.drop_pages()       # parked weights just read: paged in again, given back layer by layer
    for op, vals in work.const_edits.values():
        rw.write_floats(op.main.vector(BlobF.float32s, 4)[0], vals)
    rw.finish()
    return rw


@contextlib.contextmanager
def dense_model(work: Work) -> Iterator[Path]:
    """The model as changed so far, every layer dense, in a temporary file: what stock MNN
    runs for the self-check and calibration. The weights are parked first (Work.park)."""
    work.park()
    fd, tmp = tempfile.mkstemp(prefix=".sbnn-dense-", suffix=".mnn", dir=work.scratch_dir)
    os.close(fd)
    try:
        encode(work, tmp, sparse=set(), target="", compact=False)
        yield Path(tmp)
    finally:
        os.unlink(tmp)


def check_round_trip(work: Work, written_path, where) -> None:
    """Read what we wrote with the validating reader; every weight must come back exactly.
    (Compared a few rows at a time, and the file's and the parked weights' pages given back
    after each: besides the weights in memory, only those rows' pages are resident, never
    the written file's or a second copy of every weight.)"""
    data = load_bytes(Path(written_path), mapped=True)
    written = read_model(where, data=data, decode_sparse=False)
    drop_pages(data)        # the reader paged in every coded layer's positions to check them

    def give_back():
        drop_pages(data)
        work.drop_pages()

    for c in written.convs:
        if c.name not in work.W or c.weights is None:
            continue
        if not _same(c.weights, work.W[c.name], after=give_back):
            raise ModelError(f"{where}: internal error: layer {c.name!r} did not round-trip")


def _same(a: np.ndarray | SparseWeights, b: np.ndarray, rows: int = 64, after=lambda: None) -> bool:
    """np.array_equal(a, b, equal_nan=True), a few output channels at a time (its
    temporaries are as large as the arrays; coded weights are decoded as many at a time);
    after() runs after each."""
    if tuple(a.shape) != b.shape:
        return False
    part = a.rows if isinstance(a, SparseWeights) else lambda i, j: a[i:j]
    for i in range(0, len(b), rows):
        same = np.array_equal(part(i, min(i + rows, len(b))), b[i:i + rows], equal_nan=True)
        after()
        if not same:
            return False
    return True
