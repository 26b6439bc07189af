"""The fine-tuning loop: SGD on KD + CE, pruning to the converter's groups on a schedule."""
from __future__ import annotations

import time

import numpy as np

from ..errors import SparseByteNNError
from .batchnorm import reestimate, set_training_mode
from .data import TrainingData
from .distill import kd_loss
from .gradual import NestedStages
from .masked import MaskedWeights
from .recipe import Recipe
from .schedule import learning_rate, pruning_stages


def make_optimizer(model, r: Recipe):
    import torch

    weights = [p for p in model.parameters() if p.ndim > 1]       # conv / linear weights
    others = [p for p in model.parameters() if p.ndim <= 1]       # biases, batch norm
    return torch.optim.SGD([{"params": weights, "weight_decay": r.weight_decay},
                            {"params": others, "weight_decay": 0.0}],
                           lr=r.lr, momentum=r.momentum, nesterov=True)


def stage_plan(r: Recipe, pruning: bool) -> dict[int, float]:
    if not pruning:
        return {}
    if r.schedule == "oneshot":
        return {0: 1.0}
    return pruning_stages(r.steps, r.stages, r.prune_until)


def _channels_last(t):
    import torch

    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def _recal(model, data: TrainingData, r: Recipe, seed: int) -> None:
    import torch

    reestimate(model, (_channels_last(torch.from_numpy(x)) for x in data.plain(r.batch, r.recal_batches, seed)))


def stage_source(r: Recipe, pruning):
    """What gives the masks at each stage: a list of the converter's LayerMasks is
    approached by nested stages; a ConverterStages (schedule 'converter') is used as is."""
    if not pruning:
        return None
    if isinstance(pruning, list):
        if r.schedule == "converter":
            raise SparseByteNNError("schedule 'converter' needs a ConverterStages, not fixed masks")
        return NestedStages(pruning)
    return pruning


def fine_tune(student, teacher, data: TrainingData, r: Recipe, pruning=None, progress: bool = False,
              desc: str = "fine-tune") -> dict:
    """Train `student` in place (all layers) toward `teacher`'s outputs and the labels.
    With pruning (the converter's LayerMasks, or a ConverterStages), groups are pruned
    on the recipe's schedule and end as the converter's. Returns what happened
    (losses, stages, times)."""
    import torch
    from tqdm import tqdm

    r.check()
    teacher.eval()
    teacher.to(memory_format=torch.channels_last)
    student.to(memory_format=torch.channels_last)   # about 2x faster convolutions on CPU
    source = stage_source(r, pruning)
    held = MaskedWeights(student, source.modules) if source else None
    plan = stage_plan(r, held is not None)
    opt = make_optimizer(student, r)
    set_training_mode(student, r.bn)
    losses, stages = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    bar = tqdm(data.batches(r.batch, r.steps, r.seed, r.shift, r.flip), total=r.steps, leave=False,
               desc=desc, unit="step", disable=not progress)
    for step, (x, y) in enumerate(bar):
        if step in plan:
            held.set(source.keeps(plan[step], held))
            if r.bn == "recal":
                _recal(student, data, r, step)
                set_training_mode(student, r.bn)
            stages.append({"step": step, "share": round(plan[step], 4), "sparsity": round(held.sparsity(), 4)})
        x, y = _channels_last(torch.from_numpy(x)), torch.from_numpy(y)
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, r.steps, r.lr, r.warmup)
        with torch.no_grad():
            target = teacher(x)
        loss = kd_loss(student(x), target, y, r.temperature, r.alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if held is not None:
            held.apply()
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix_str(f"loss {np.mean(losses[-50:]):.3f}")
    bar.close()
    if not np.isfinite(losses).all():
        raise SparseByteNNError(f"{desc}: training diverged (loss {losses[-1]}); lower the learning rate")
    if r.bn == "recal":
        _recal(student, data, r, r.steps)
    student.eval()
    student.to(memory_format=torch.contiguous_format)
    teacher.to(memory_format=torch.contiguous_format)
    return {"steps": len(losses), "images_seen": len(losses) * r.batch,
            "first_loss": round(float(np.mean(losses[:20])), 4),
            "final_loss": round(float(np.mean(losses[-50:])), 4), "stages": stages,
            "seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1)}
