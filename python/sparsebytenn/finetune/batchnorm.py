"""Batch norm in a short fine-tune: which statistics the layers use, and re-estimating
them after pruning (zeroed groups shift every following layer's activations)."""
from __future__ import annotations


def bn_layers(model) -> list:
    import torch.nn as nn

    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def set_training_mode(model, bn: str) -> None:
    """bn='train': the model in train mode (batch statistics, running ones updated);
    'frozen' / 'recal': eval mode, running statistics fixed while training."""
    model.train(bn == "train")


def reestimate(model, batches) -> int:
    """Recompute every BN layer's running mean/variance as the plain average over
    `batches` (inputs), with the weights as they are; returns the batches used."""
    import torch

    layers = bn_layers(model)
    if not layers:
        return 0
    saved = [(m, m.momentum) for m in layers]
    was_training = model.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None            # cumulative moving average: every batch counts the same
    model.train()
    n = 0
    with torch.no_grad():
        for x in batches:
            model(x)
            n += 1
    for m, momentum in saved:
        m.momentum = momentum
    model.train(was_training)
    return n
