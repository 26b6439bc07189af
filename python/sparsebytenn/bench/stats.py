"""The numbers a benchmark reports: median, IQR, per-round ratios, Amdahl ideal.

Ratios are computed per round (both engines timed in the same round, seconds
apart) and then summarised by their median, so slow drifts of the machine
cancel out instead of favouring whichever engine ran in the quieter minute.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def median_iqr(samples: Iterable[float]) -> tuple[float, float]:
    """Median and inter-quartile range (75th - 25th percentile, linear interpolation)."""
    a = np.asarray(list(samples), dtype=np.float64)
    if a.size == 0:
        raise ValueError("no samples")
    q25, q50, q75 = np.percentile(a, [25, 50, 75])
    return float(q50), float(q75 - q25)


def round_medians(rounds: Sequence[Sequence[float]]) -> list[float]:
    """One number per round: the median of the runs timed in that round."""
    return [float(np.median(r)) for r in rounds]


def round_ratios(reference: Sequence[Sequence[float]], engine: Sequence[Sequence[float]]) -> list[float]:
    """Per round: reference round median / engine round median (> 1: the engine is
    faster). Rounds missing on either side (an engine that failed half-way) are dropped."""
    return [r / e for r, e in zip(round_medians(reference), round_medians(engine)) if e > 0]


def median_interval(values: Sequence[float], level: float = 0.95, resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the median of values (per-round ratios: rounds
    resampled with replacement, seeded). None for fewer than 3 values."""
    a = np.asarray(values, dtype=np.float64)
    if a.size < 3:
        return None
    rng = np.random.default_rng(seed)
    medians = np.median(a[rng.integers(0, a.size, size=(resamples, a.size))], axis=1)
    lo, hi = np.percentile(medians, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def amdahl_ideal(op_ms: Mapping[str, float], layer_sparsity: Mapping[str, float]) -> float | None:
    """Ideal speed-up if every pruned layer ran exactly (1 - s) of its dense time.

    op_ms: the dense model's time per op (MNN's own per-op profile);
    layer_sparsity: op name -> sparsity the converter gave that layer. With one
    sparsity s on a share f of the time this is 1 / ((1 - f) + f * (1 - s)).
    None when no pruned layer appears in the profile (the names do not match).
    """
    total = sum(op_ms.values())
    hit = [name for name in layer_sparsity if name in op_ms]
    if total <= 0 or not hit:
        return None
    ideal = total - sum(op_ms[n] * layer_sparsity[n] for n in hit)
    return float(total / ideal) if ideal > 0 else None


def pruned_share(op_ms: Mapping[str, float], layer_names: Iterable[str]) -> float | None:
    """f: the share of the dense model's time spent in the given layers."""
    total = sum(op_ms.values())
    if total <= 0:
        return None
    return float(sum(op_ms.get(n, 0.0) for n in set(layer_names)) / total)
