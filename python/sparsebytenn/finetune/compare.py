"""Accuracies with 95 % intervals, and paired drops between two models on the same images."""
from __future__ import annotations

import numpy as np

from ..fidelity.stats import paired_bootstrap_drop, wilson_interval


def accuracy(correct: np.ndarray) -> dict:
    n, k = int(len(correct)), int(np.sum(correct))
    lo, hi = wilson_interval(k, n)
    return {"accuracy": k / n if n else 0.0, "correct": k, "images": n,
            "interval95": [round(lo, 5), round(hi, 5)]}


def drop(reference: np.ndarray, new: np.ndarray, seed: int = 0) -> dict:
    """Accuracy points lost by `new` against `reference` (positive = worse), with the
    paired-bootstrap 95 % interval."""
    points = (float(np.mean(reference)) - float(np.mean(new))) * 100
    lo, hi = paired_bootstrap_drop(reference, new, seed=seed)
    return {"points": round(points, 3), "interval95": [round(lo, 3), round(hi, 3)]}
