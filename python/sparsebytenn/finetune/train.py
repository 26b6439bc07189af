"""A masked training loop: pruned groups stay exactly zero through every step."""
from __future__ import annotations

import numpy as np


class MaskedTraining:
    """Zeroes the masked weights now and after each optimizer step (apply()), and
    their gradients on the way (so momentum and Adam moments stay zero there too)."""

    def __init__(self, model, masks: dict):
        named = dict(model.named_modules())
        self.pairs = []
        for name, mask in masks.items():
            weight = named[name].weight
            mask = mask.to(weight.dtype)
            weight.register_hook(lambda g, m=mask: g * m)
            self.pairs.append((weight, mask))
        self.apply()

    def apply(self) -> None:
        import torch

        with torch.no_grad():
            for weight, mask in self.pairs:
                weight.mul_(mask)


def _batches(n: int, batch: int, rng: np.random.Generator):
    while True:
        order = rng.permutation(n)
        for i in range(0, n - batch + 1, batch):
            yield order[i:i + batch]


def train(model, x: np.ndarray, y: np.ndarray, *, steps: int, batch: int = 32, lr: float = 1e-3,
          params=None, keep: MaskedTraining | None = None, seed: int = 0, progress: bool = False) -> list[float]:
    """Adam on cross-entropy for `steps` mini-batches; batch norm statistics stay
    frozen (small batches would spoil them). Returns the losses."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    model.eval()  # frozen BN statistics; gradients still flow
    losses = []
    batches = _batches(len(x), min(batch, len(x)), rng)
    it = range(steps)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="fine-tune", unit="step", leave=False)
    for _ in it:
        idx = next(batches)
        xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(y[idx].astype(np.int64))
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        if keep is not None:
            keep.apply()
        losses.append(loss.item())
    return losses


def accuracy(model, x: np.ndarray, y: np.ndarray, batch: int = 64) -> float:
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(torch.from_numpy(x[i:i + batch])).argmax(1).numpy() == y[i:i + batch]).sum())
    return correct / len(x)
