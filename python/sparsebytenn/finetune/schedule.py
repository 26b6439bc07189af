"""Schedules of a run, as functions of its step: learning rate and pruning stages."""
from __future__ import annotations

import math


def learning_rate(step: int, steps: int, peak: float, warmup: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to 0 at the last step."""
    warm = max(1, round(warmup * steps))
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return peak * 0.5 * (1.0 + math.cos(math.pi * t))


def cubic_fraction(k: int, stages: int) -> float:
    """Share of the target sparsity reached at stage k (1..stages): 1 - (1 - k/n)^3.
    Cubic: big steps early, while the network is still close to dense and recovers
    easily, small ones near the target (Zhu & Gupta's gradual pruning)."""
    return 1.0 - (1.0 - k / stages) ** 3


def pruning_stages(steps: int, stages: int, prune_until: float) -> dict[int, float]:
    """{step: share of the target sparsity from that step on}. Stage 1 starts at step 0,
    the last (share 1.0) at the start of the last 1/stages of the ramp."""
    ramp = prune_until * steps
    out: dict[int, float] = {}
    for k in range(1, stages + 1):
        out[min(steps - 1, int(round((k - 1) / stages * ramp)))] = cubic_fraction(k, stages)
    return out
