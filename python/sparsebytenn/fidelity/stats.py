"""Statistics of the evaluation: confidence intervals and output similarity.

Accuracy intervals are Wilson score intervals (good coverage near 0 and 1, unlike
the normal approximation). The accuracy *drop* of a pruned model is a paired
quantity (same test images), so its interval comes from a paired bootstrap with a
fixed seed: resampling images keeps the correlation between the two models.
"""
from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion correct/n."""
    if n <= 0:
        return (0.0, 1.0)
    p = correct / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_bootstrap_drop(correct_ref: np.ndarray, correct_new: np.ndarray, *, rounds: int = 2000,
                          seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of (accuracy_ref - accuracy_new) in points (x100)."""
    a = np.asarray(correct_ref, np.float64)
    b = np.asarray(correct_new, np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError("paired_bootstrap_drop: two equal-length, non-empty 1-D arrays expected")
    d = a - b
    rng = np.random.default_rng(seed)
    means = np.empty(rounds)
    for start in range(0, rounds, 256):  # chunks keep memory small for large n
        k = min(256, rounds - start)
        idx = rng.integers(0, d.size, size=(k, d.size))
        means[start:start + k] = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo) * 100, float(hi) * 100)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of a with the same row of b (0 when a row is all zero)."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = dots / (na * nb)
    return np.where((na > 0) & (nb > 0), c, 0.0)


def relative_error_rows(new: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """||new - ref|| / ||ref|| per row (inf where ref is all zero and new is not)."""
    new = np.asarray(new, np.float64).reshape(len(new), -1)
    ref = np.asarray(ref, np.float64).reshape(len(ref), -1)
    num = np.linalg.norm(new - ref, axis=1)
    den = np.linalg.norm(ref, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    return np.where(den > 0, r, np.where(num > 0, np.inf, 0.0))


def topk_agreement(logits_new: np.ndarray, logits_ref: np.ndarray, k: int = 5) -> tuple[float, float]:
    """(share of rows whose top-1 class equals the reference's top-1,
        mean overlap of the two top-k sets / k)."""
    a = np.asarray(logits_new).reshape(len(logits_new), -1)
    r = np.asarray(logits_ref).reshape(len(logits_ref), -1)
    top1 = float(np.mean(a.argmax(1) == r.argmax(1)))
    ta = np.argsort(-a, axis=1, kind="stable")[:, :k]
    tr = np.argsort(-r, axis=1, kind="stable")[:, :k]
    overlap = [len(set(x) & set(y)) / k for x, y in zip(ta.tolist(), tr.tolist())]
    return top1, float(np.mean(overlap))
