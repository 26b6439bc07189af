"""The state a conversion carries from stage to stage (see convert.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import ConvInfo, Model


@dataclass
class Work:
    """Weights as the stages change them, and what each stage decided.

    W and B hold every convolution's weights and bias in the current channel order;
    `before` keeps the chosen layers' weights as read. W starts as read-only views of
    the model's weights (no copy of the whole model): a stage that changes a layer puts
    a new array in W, it never writes into one.
    """

    model: Model
    chosen: list[ConvInfo]
    G: dict[str, int]                       # group size per chosen layer
    W: dict[str, np.ndarray]
    B: dict[str, np.ndarray | None]
    before: dict[str, np.ndarray]
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)   # units to prune: (main groups, tail)
    retained_identity: dict[str, float] = field(default_factory=dict)  # energy kept without rearrangement
    tagged: set[str] = field(default_factory=set)          # layers written with sparse metadata
    permuted: set[str] = field(default_factory=set)        # weights touched by a permutation (any axis)
    out_permuted: set[str] = field(default_factory=set)    # output channels rearranged
    const_edits: dict = field(default_factory=dict)        # op index -> (Const op, permuted values)
    out_order: dict[str, np.ndarray] = field(default_factory=dict)  # output channel i was dense channel order[i]
    in_order: dict[str, np.ndarray] = field(default_factory=dict)   # likewise for input channels

    @classmethod
    def start(cls, model: Model, chosen: list[ConvInfo], G: int) -> "Work":
        W = {c.name: _read_only(c.weights) for c in model.convs if c.weights is not None}
        B = {c.name: (np.array(c.bias, dtype=np.float32) if c.bias is not None else None) for c in model.convs}
        return cls(model, chosen, {c.name: G for c in chosen}, W, B, {c.name: W[c.name] for c in chosen})

    def release_weights(self) -> None:
        """Drop W and `before` (the report and the written model have what they need)."""
        self.W, self.before = {}, {}

    def changed(self, name: str) -> bool:
        """Weights differ from the file's (pruned or permuted)."""
        return name in self.permuted or name in self.counts


def _read_only(w: np.ndarray) -> np.ndarray:
    """A read-only float32 view of `w` (a copy only when it is not float32 already)."""
    v = w.view() if w.dtype == np.float32 else w.astype(np.float32)
    v.flags.writeable = False
    return v
