"""Group geometry of one layer: the units pruning removes, and their energies.

A unit is G consecutive output channels x 1 input channel x all kh*kw taps (for
1x1 and FC that is G weights; for kxk the whole kernel). Output channels that do
not fill a last group (O mod G, the "tail") are pruned one output channel at a
time (1 x 1 x kh*kw units), which is how MNN treats tail rows too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A layer is tagged sparse only when at least this share of its weights lies in
# whole zero units. Below it the sparse kernel saves under 5 % of the layer's time
# (its time falls at most in proportion to the kept units: the speed tables' GFLOP/s
# are flat or lower at higher sparsity), while MNN's sparse coding stores 8 bytes
# per kept weight instead of 4 and stock MNN switches to its sparse path, slower
# than its dense one at low sparsity. One rule for pruning and --detect.
MIN_TAG_SPARSITY = 0.05
_CHUNK_BYTES = 32 << 20      # float64 working set of Units.of


def channel_energy(w: np.ndarray) -> np.ndarray:
    """(O, I) sum of squares over the taps."""
    w = w.astype(np.float64, copy=False)
    return np.einsum("oikl,oikl->oi", w, w)


@dataclass
class Units:
    """Unit energies of one layer: main (O//G, I) and tail (O%G, I)."""
    G: int
    taps: int
    main: np.ndarray
    tail: np.ndarray

    @classmethod
    def of(cls, w: np.ndarray, G: int) -> "Units":
        # a few groups of rows at a time: a big FC's (O, I) float64 energies alone are twice
        # its weights (each unit's sum is the same as over the whole array at once)
        O, I = w.shape[:2]
        full = O // G * G
        step = max(1, _CHUNK_BYTES // max(8 * G * w[0].size, 1)) * G
        main = [channel_energy(w[a:min(a + step, full)]).reshape(-1, G, I).sum(axis=1)
                for a in range(0, full, step)]
        main = np.concatenate(main) if main else np.zeros((0, I))
        return cls(G, w.shape[2] * w.shape[3], main, channel_energy(w[full:]))

    @property
    def total(self) -> float:
        return float(self.main.sum() + self.tail.sum())

    def scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean square per weight relative to the layer's mean square.

        Dividing by the layer's own scale makes units comparable across layers whose
        weights differ in magnitude (fan-in, folded batch norm), so global ranking
        prunes where a layer's groups are weak *for that layer*.
        """
        n = (self.main.size * self.G + self.tail.size) * self.taps
        scale = self.total / n if n and self.total > 0 else 1.0
        return self.main.ravel() / (self.G * self.taps * scale), self.tail.ravel() / (self.taps * scale)

    def retained(self, n_main: int, n_tail: int) -> float:
        """Energy kept when the n_main weakest groups and n_tail weakest tail units go."""
        lost = np.sort(self.main.ravel())[:n_main].sum() + np.sort(self.tail.ravel())[:n_tail].sum()
        return self.total - float(lost)


def prune_mask(w: np.ndarray, G: int, n_main: int, n_tail: int) -> np.ndarray:
    """Boolean (O, I) mask of (output, input) channel pairs to zero."""
    u = Units.of(w, G)
    O, I = w.shape[:2]
    full = O // G * G
    mask = np.zeros((O, I), bool)
    if n_main:
        m = np.zeros(u.main.size, bool)
        m[np.argsort(u.main.ravel(), kind="stable")[:n_main]] = True
        mask[:full] = np.repeat(m.reshape(-1, I), G, axis=0)
    if n_tail:
        t = np.zeros(u.tail.size, bool)
        t[np.argsort(u.tail.ravel(), kind="stable")[:n_tail]] = True
        mask[full:] = t.reshape(-1, I)
    return mask


def group_shape(w: np.ndarray, G: int) -> dict:
    """How much of a layer's zeros already form whole units (for --detect / reports)."""
    O, I = w.shape[:2]
    full = O // G * G
    zero_pair = ~(w != 0).any(axis=(2, 3))                 # (O, I): all taps zero
    main_zero = zero_pair[:full].reshape(-1, G, I).all(axis=1) if full else np.zeros((0, I), bool)
    unit_zero_weights = int(main_zero.sum()) * G * w.shape[2] * w.shape[3] + \
        int(zero_pair[full:].sum()) * w.shape[2] * w.shape[3]
    zeros = int(w.size - np.count_nonzero(w))
    return {
        "zero_fraction": zeros / w.size if w.size else 0.0,
        "group_sparsity": unit_zero_weights / w.size if w.size else 0.0,
        "shaped_fraction": unit_zero_weights / zeros if zeros else 1.0,
        "zero_main_groups": int(main_zero.sum()),
        "zero_tail_units": int(zero_pair[full:].sum()),
    }
