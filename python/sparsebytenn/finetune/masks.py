"""Which weights a converted model pruned, as masks over a torch model's modules.

Layers are matched in order and by shape: MNN keeps the ONNX graph's order of the
convolutions (FC as a 1x1 conv), which is the order a torch model registers its
Conv2d/Linear modules when built in forward order. Batch norm, folded into the
conv by MNN's converter, only scales output channels, so a group that is zero in
the file is zero in the torch weights too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError


def conv_modules(model) -> list[tuple[str, object]]:
    """(name, module) of every Conv2d and Linear, in registration order."""
    import torch.nn as nn

    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _torch_shape(module) -> tuple[int, ...]:
    w = module.weight
    return tuple(w.shape) if w.dim() == 4 else (w.shape[0], w.shape[1], 1, 1)


def group_masks(mnn_path, model) -> dict[str, "object"]:
    """{module name: bool tensor shaped like its weight, True = trainable} for every
    layer the converter tagged sparse in mnn_path. A weight is masked when its whole
    (output channel, input channel) kernel is zero in the file, i.e. it lies in a
    pruned group."""
    import torch

    from sparsebytenn_converter import read_model

    convs = read_model(Path(mnn_path)).convs
    modules = conv_modules(model)
    if len(convs) != len(modules):
        raise SparseByteNNError(f"{mnn_path}: {len(convs)} convolutions in the file but {len(modules)} "
                                "Conv2d/Linear modules in the torch model; is it the same network?")
    masks = {}
    for conv, (name, module) in zip(convs, modules):
        if conv.weights is None or tuple(conv.weights.shape) != _torch_shape(module):
            got = None if conv.weights is None else tuple(conv.weights.shape)
            raise SparseByteNNError(f"{mnn_path}: layer {conv.name!r} has weights {got}, torch module "
                                    f"{name!r} {_torch_shape(module)}; the layers do not line up")
        if not (conv.sparse and conv.sparse.get("sbnn")):
            continue
        keep = (conv.weights != 0).any(axis=(2, 3), keepdims=True)        # (O, I, 1, 1)
        keep = np.broadcast_to(keep, conv.weights.shape).reshape(module.weight.shape)
        masks[name] = torch.from_numpy(np.array(keep))   # a writable copy
    return masks
