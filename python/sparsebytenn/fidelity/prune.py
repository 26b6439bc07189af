"""The comparison patterns the converter does not offer, on the converter's own terms.

- unstructured: single weights, ranked by magnitude;
- mnn-simd-oc: MNN's own 4x1 pattern -- blocks of 4 consecutive output channels at
  one (input channel, kh, kw) position, scored by the block's mean |w| (the L1
  score of mnncompress's SIMDOCPruner, without its gradient weighting, which needs
  training data and a training framework). Rows beyond the last full block
  (O mod 4) are pruned weight by weight, as MNN stores them.

Both use the converter's allocation (sparsebytenn_converter.allocate: the same
global ranking with scores relative to each layer's own scale, the same min-keep
guard, or --per-layer) on the same eligible layers, so at equal sparsity only the
*shape* of what is removed differs from the group pattern.

Writing pruned dense weights into a model uses the converter's Rewriter
(in-place, same-length edits). NOTE for the lead: this module builds on the
converter's allocate/Units/Rewriter; a public "prune with a given pattern" or
"write these dense weights" hook in the converter would make it smaller.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparsebytenn_converter import read_model
from sparsebytenn_converter.allocate import allocate
from sparsebytenn_converter.groups import Units
from sparsebytenn_converter.rewrite import Rewriter

from ..errors import SparseByteNNError

MNN_BLOCK_OC = 4


@dataclass
class ElementUnits(Units):
    """Units of one weight each: G=1, taps=1 over the weights viewed as (O, I*kh*kw)."""

    @classmethod
    def of_weights(cls, w: np.ndarray) -> "ElementUnits":
        m = np.asarray(w, np.float64).reshape(w.shape[0], -1)
        return cls(1, 1, m * m, np.zeros((0, m.shape[1])))


@dataclass
class OCBlockUnits(Units):
    """Blocks of G output channels x 1 element, scored by mean |w| relative to the layer's
    mean |w| (L1); tail rows are single weights. `main`/`tail` hold the L1 sums."""

    @classmethod
    def of_weights(cls, w: np.ndarray, G: int = MNN_BLOCK_OC) -> "OCBlockUnits":
        a = np.abs(np.asarray(w, np.float64).reshape(w.shape[0], -1))
        full = a.shape[0] // G * G
        return cls(G, 1, a[:full].reshape(-1, G, a.shape[1]).sum(axis=1), a[full:])

    def scores(self):
        n = self.main.size * self.G + self.tail.size
        scale = self.total / n if n and self.total > 0 else 1.0
        return self.main.ravel() / (self.G * scale), self.tail.ravel() / scale


def _mask_from_counts(u: Units, shape: tuple[int, ...], n_main: int, n_tail: int) -> np.ndarray:
    """Boolean mask (True = zero) over the weights: the n_main weakest main units and
    n_tail weakest tail units by score (stable order, as the allocation counted them)."""
    sm, st = u.scores()
    O = shape[0]
    K = int(np.prod(shape[1:]))
    full = O // u.G * u.G
    mask = np.zeros((O, K), bool)
    if n_main:
        m = np.zeros(sm.size, bool)
        m[np.argsort(sm, kind="stable")[:n_main]] = True
        mask[:full] = np.repeat(m.reshape(-1, K), u.G, axis=0)
    if n_tail:
        t = np.zeros(st.size, bool)
        t[np.argsort(st, kind="stable")[:n_tail]] = True
        mask[full:] = t.reshape(-1, K)
    return mask.reshape(shape)


PATTERN_UNITS = {
    "unstructured": ElementUnits.of_weights,
    "mnn-simd-oc": OCBlockUnits.of_weights,
}


def prune_masks(weights: dict[str, np.ndarray], pattern: str, sparsity: float, *, per_layer: bool = False,
                min_keep: float = 0.1) -> dict[str, np.ndarray]:
    """name -> boolean mask (True = set to zero) for `pattern` at overall `sparsity`."""
    if pattern not in PATTERN_UNITS:
        raise SparseByteNNError(f"pattern {pattern!r}: not one of {', '.join(PATTERN_UNITS)}")
    units = {n: PATTERN_UNITS[pattern](w) for n, w in weights.items()}
    sizes = {n: int(w.size) for n, w in weights.items()}
    counts = allocate(units, sizes, sparsity, per_layer=per_layer, min_keep=min_keep, overrides={})
    return {n: _mask_from_counts(units[n], weights[n].shape, *counts[n]) for n in weights}


def write_dense_weights(src: Path, dst: Path, weights: dict[str, np.ndarray],
                        biases: dict[str, np.ndarray] | None = None) -> None:
    """Copy src to dst with the named convolutions' dense weights (and biases) replaced."""
    model = read_model(src)
    rw = Rewriter(model, compact=False)
    biases = biases or {}
    for name, w in weights.items():
        c = model.conv(name)
        if c.weights is None or c.weight_span is None or c.weights.shape != w.shape:
            raise SparseByteNNError(f"{src}: layer {name!r} has no dense weights of shape {w.shape}")
        b = biases.get(name)
        if b is not None and (c.bias_span is None or c.bias_span[1] != b.size):
            raise SparseByteNNError(f"{src}: layer {name!r} has no bias of size {b.size}")
        rw.set_dense(c, np.asarray(w, np.float32), None if b is None else np.asarray(b, np.float32))
    Path(dst).write_bytes(rw.result())


def prune_model(src: Path, dst: Path, layers: list[str], pattern: str, sparsity: float, *,
                per_layer: bool = False, min_keep: float = 0.1) -> dict[str, float]:
    """Write src pruned with `pattern` to dst; returns each layer's sparsity after."""
    model = read_model(src)
    W = {n: np.array(model.conv(n).weights, dtype=np.float32) for n in layers}
    masks = prune_masks(W, pattern, sparsity, per_layer=per_layer, min_keep=min_keep)
    for n in layers:
        W[n][masks[n]] = 0.0
    write_dense_weights(src, dst, W)
    return {n: float(np.count_nonzero(W[n] == 0) / W[n].size) for n in layers}
