"""Intermediate masks on the way to the converter's: the weakest of its pruned groups first.

At a stage that reaches share f of the target, each layer loses the f-share of the
groups the converter pruned that carry the least weight energy *now* (training has
moved them since). Each stage's mask contains the next one's, and the last stage's is
exactly the converter's, so the written file's groups are the ones trained for.
"""
from __future__ import annotations

import numpy as np

from .masks import LayerMask


def group_energy(weight: np.ndarray, group_id: np.ndarray) -> np.ndarray:
    """Sum of squared weights per group id, for a weight (O, I, kh, kw) or (O, I)."""
    w = weight.reshape(weight.shape[0], weight.shape[1], -1).astype(np.float64)
    per_pair = np.einsum("oik,oik->oi", w, w)
    return np.bincount(group_id.ravel(), weights=per_pair.ravel(), minlength=group_id.max() + 1)


def stage_keep(mask: LayerMask, weight: np.ndarray, share: float) -> np.ndarray:
    """(O, I) bool keep-mask with round(share * n) of the layer's n pruned groups removed:
    the ones with the least energy in `weight`."""
    groups = mask.pruned_groups
    if share >= 1.0:
        return mask.keep.copy()
    n = int(round(share * len(groups)))
    energy = group_energy(weight, mask.group_id)[groups]
    gone = groups[np.argsort(energy, kind="stable")[:n]]
    return ~np.isin(mask.group_id, gone)


class NestedStages:
    """Stage masks inside the converter's final groups (the default schedule)."""

    def __init__(self, masks: list[LayerMask]):
        self.masks = masks
        self.modules = [m.module for m in masks]

    def keeps(self, share: float, held) -> dict[str, np.ndarray]:
        return {m.module: stage_keep(m, held.numpy_weight(m.module), share) for m in self.masks}

    def final_masks(self) -> list[LayerMask]:
        return self.masks
