"""A time budget as a step count: time a few training steps, then divide."""
from __future__ import annotations

import copy

from .data import TrainingData
from .recipe import Recipe
from .train import fine_tune

PROBE_STEPS = 4


def steps_for_minutes(minutes: float, model, teacher, data: TrainingData, r: Recipe) -> dict:
    """{steps, seconds_per_step}: how many steps of recipe `r` fit in `minutes` of wall
    time, timed on a throwaway copy of `model` (the first step, warm-up, not counted)."""
    probe = copy.deepcopy(model)
    one = fine_tune(copy.deepcopy(model), teacher, data, r.with_changes(steps=1))
    many = fine_tune(probe, teacher, data, r.with_changes(steps=PROBE_STEPS))
    per_step = max(1e-3, (many["seconds"] - one["seconds"]) / (PROBE_STEPS - 1))
    return {"steps": max(1, int(minutes * 60 / per_step)), "seconds_per_step": round(per_step, 3)}
