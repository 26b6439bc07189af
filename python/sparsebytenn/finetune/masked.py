"""Pruned weights held at exactly zero through training, with masks that can change."""
from __future__ import annotations

import numpy as np


class MaskedWeights:
    """A keep-mask per module weight. Masked weights are zeroed whenever the masks
    change and after every optimizer step (apply()), and their gradients on the way,
    so momentum and weight decay never move them."""

    def __init__(self, model, module_names: list[str]):
        modules = dict(model.named_modules())
        missing = [n for n in module_names if n not in modules]
        if missing:
            raise KeyError(f"no module {missing[0]!r} in the model")
        self.model = model
        self.weights = {n: modules[n].weight for n in module_names}
        self.keep = {}
        for name, weight in self.weights.items():
            self._set(name, np.ones(tuple(weight.shape[:2]), bool))
            weight.register_hook(lambda g, name=name: g * self.keep[name])

    def _set(self, name: str, keep: np.ndarray) -> None:
        import torch

        weight = self.weights[name]
        shape = keep.shape + (1,) * (weight.dim() - 2)
        self.keep[name] = torch.from_numpy(np.ascontiguousarray(keep).reshape(shape)).to(weight.dtype)

    def set(self, keeps: dict[str, np.ndarray]) -> None:
        """New (O, I) keep-masks (True = trainable) for some modules; zeroes the rest now."""
        for name, keep in keeps.items():
            self._set(name, keep)
        self.apply()

    def apply(self) -> None:
        import torch

        with torch.no_grad():
            for name, weight in self.weights.items():
                weight.mul_(self.keep[name])

    def numpy_weight(self, name: str) -> np.ndarray:
        return self.weights[name].detach().cpu().numpy()

    def sparsity(self) -> float:
        """Share of the masked layers' (output, input) pairs pruned now."""
        pruned = sum(float((k == 0).sum()) for k in self.keep.values())
        total = sum(k.numel() for k in self.keep.values())
        return pruned / total if total else 0.0
