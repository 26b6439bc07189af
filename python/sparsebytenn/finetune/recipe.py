"""How a fine-tune is run: every knob in one place, recorded in finetune.json."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from ..errors import SparseByteNNError

BN_MODES = ("train", "frozen", "recal")
MASK_SCHEDULES = ("nested", "oneshot", "converter")
STARTS = ("dense", "calibrated")


@dataclass(frozen=True)
class Recipe:
    """Fine-tuning to the converter's groups with knowledge distillation.

    The default starts from the converter's calibrated result (all masks on, kept
    weights re-fit); with start="dense", schedule="nested" or "converter", pruning
    instead follows a cubic schedule over the first `prune_until` of the run, in
    `stages` mask updates, and the rest of the run trains at the target sparsity.
    """
    steps: int = 600                  # optimizer steps of `batch` images
    batch: int = 64
    lr: float = 0.003                 # peak: linear warm-up, then cosine to 0 at the last step
    warmup: float = 0.02              # fraction of the run spent warming up
    momentum: float = 0.9             # SGD, Nesterov
    weight_decay: float = 5e-5        # on conv / linear weights only
    temperature: float = 2.0          # KD: softmax temperature of teacher and student
    alpha: float = 0.5                # KD: weight of the distillation term (1 - alpha: cross-entropy)
    #                                   (0.5 / T 2 against 0.9 / T 4: drop 0.38 vs 0.67 pt at 50 %,
    #                                   600 steps; docs/accuracy.md "Fine-tuning")
    prune_until: float = 0.5          # fraction of the run over which sparsity ramps up
    stages: int = 8                   # mask updates on the way to the target
    schedule: str = "oneshot"         # nested: cubic ramp inside the converter's final groups; oneshot: all
    #                                   at step 0; converter: cubic ramp, the converter run at each stage
    start: str = "calibrated"         # dense: the user model; calibrated: the converter's re-fit weights (oneshot)
    bn: str = "frozen"                # train: batch statistics; frozen: running ones; recal: frozen + re-estimated
    recal_batches: int = 20           # batches for re-estimating BN statistics (bn="recal")
    shift: int = 2                    # augmentation: random translation (28-px pixels)
    flip: bool = True                 # augmentation: random horizontal flip
    seed: int = 0

    def check(self) -> "Recipe":
        if self.steps < 1 or self.batch < 1 or self.stages < 1:
            raise SparseByteNNError("steps, batch and stages must be >= 1")
        if not (self.lr > 0 and 0 <= self.warmup < 1 and 0 <= self.prune_until <= 1):
            raise SparseByteNNError("lr must be > 0, warmup in [0, 1), prune_until in [0, 1]")
        if self.temperature <= 0 or not 0 <= self.alpha <= 1:
            raise SparseByteNNError(f"KD temperature {self.temperature} must be > 0 and alpha "
                                    f"{self.alpha} in [0, 1]")
        if self.bn not in BN_MODES:
            raise SparseByteNNError(f"bn {self.bn!r}: use one of {', '.join(BN_MODES)}")
        if self.schedule not in MASK_SCHEDULES:
            raise SparseByteNNError(f"schedule {self.schedule!r}: use one of {', '.join(MASK_SCHEDULES)}")
        if self.start not in STARTS:
            raise SparseByteNNError(f"start {self.start!r}: use one of {', '.join(STARTS)}")
        if self.start == "calibrated" and self.schedule != "oneshot":
            raise SparseByteNNError("start 'calibrated' begins fully pruned: it needs schedule 'oneshot'")
        return self

    def with_changes(self, **changes) -> "Recipe":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise SparseByteNNError(f"unknown recipe field {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return replace(self, **changes).check()

    def to_dict(self) -> dict:
        return asdict(self)
