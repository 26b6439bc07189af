"""Intermediate masks from the converter itself: at each stage the model as trained so
far is exported and converted at that stage's sparsity (calibrated, rearranged), and
its groups become the masks. Rearrangements differ between sparsities, so masks are
not nested: weights pruned at one stage may come back (from zero) at the next."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .export import to_mnn
from .masks import LayerMask, converter_masks


class ConverterStages:
    def __init__(self, spec, calibration: np.ndarray, sparsity: float, group_size: int | None, folder: Path,
                 modules: list[str]):
        self.spec, self.calibration, self.sparsity, self.group_size = spec, calibration, sparsity, group_size
        self.folder, self.modules = Path(folder), modules
        self.last: list[LayerMask] = []
        self.calls = 0

    def keeps(self, share: float, held) -> dict[str, np.ndarray]:
        import torch
        from sparsebytenn_converter import convert

        model = held.model
        self.calls += 1
        was_training = model.training
        model.to(memory_format=torch.contiguous_format)
        src = to_mnn(model, self.spec, self.folder, f"stage-{self.calls}")
        out = self.folder / f"stage-{self.calls}.pruned.mnn"
        report = convert(src, out, sparsity=self.sparsity * share, group=self.group_size,
                         calibration=self.calibration, format="dense", progress=False, force=True)
        self.last = converter_masks(out, report, model)
        model.to(memory_format=torch.channels_last)
        model.train(was_training)
        found = {m.module: m.keep for m in self.last}
        return {name: found.get(name, np.ones(tuple(held.weights[name].shape[:2]), bool))
                for name in self.modules}

    def final_masks(self) -> list[LayerMask]:
        return self.last
