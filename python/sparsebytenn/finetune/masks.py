"""The converter's zero groups as masks over a torch model's weights, in the torch
model's own (dense) channel order.

Layers are matched in order and by shape: MNN keeps the ONNX graph's order of the
convolutions (FC as a 1x1 conv), which is the order a torch model registers its
Conv2d/Linear modules when built in forward order. Batch norm, folded into the
conv by MNN's converter, only scales output channels, so a group that is zero in
the file is zero in the torch weights too.

The converter rearranges channels across the network before pruning: output
channel i of a written layer is channel out_order[i] of the input model (in_order
likewise for input channels; the Report has both per layer). A group is G
consecutive *written* output channels x one input channel, so in the torch order
its members are scattered; `group_id` keeps track of which weights belong together.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError


def conv_modules(model) -> list[tuple[str, object]]:
    """(name, module) of every Conv2d and Linear, in registration order."""
    import torch.nn as nn

    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def torch_shape(module) -> tuple[int, ...]:
    """The weight's shape as the file stores it (a Linear is a 1x1 conv)."""
    w = module.weight
    return tuple(w.shape) if w.dim() == 4 else (w.shape[0], w.shape[1], 1, 1)


@dataclass
class LayerMask:
    """One pruned layer: which (output, input) channel pairs of the torch weight stay."""
    module: str                # torch module name
    conv: str                  # the convolution's name in the file
    index: int                 # its position among the file's convolutions
    keep: np.ndarray           # (O, I) bool, torch order: True = trainable, False = pruned
    group_id: np.ndarray       # (O, I) int, torch order: weights with one id form one group

    @property
    def pruned_groups(self) -> np.ndarray:
        return np.unique(self.group_id[~self.keep])

    def sparsity(self) -> float:
        return float(1.0 - self.keep.mean())


def matched_layers(mnn_path, model) -> list[tuple[object, str, object]]:
    """[(file conv, torch module name, module)] in order; refuses networks that differ."""
    from sparsebytenn_converter import read_model

    convs = read_model(Path(mnn_path)).convs
    modules = conv_modules(model)
    if len(convs) != len(modules):
        raise SparseByteNNError(f"{mnn_path}: {len(convs)} convolutions in the file but {len(modules)} "
                                "Conv2d/Linear modules in the torch model; is it the same network?")
    for conv, (name, module) in zip(convs, modules):
        got = None if conv.weights is None else tuple(conv.weights.shape)
        if got != torch_shape(module):
            raise SparseByteNNError(f"{mnn_path}: layer {conv.name!r} has weights {got}, torch module "
                                    f"{name!r} {torch_shape(module)}; the layers do not line up")
    return [(conv, name, module) for conv, (name, module) in zip(convs, modules)]


def written_group_ids(O: int, I: int, G: int) -> np.ndarray:
    """(O, I) group ids in the written order: G consecutive output channels x one input
    channel; the O % G tail rows are one unit per (row, input)."""
    full = O // G * G
    ids = np.empty((O, I), np.int64)
    ids[:full] = (np.arange(full)[:, None] // G) * I + np.arange(I)[None, :]
    ids[full:] = full // G * I + np.arange((O - full) * I).reshape(O - full, I)
    return ids


def zero_groups(weights: np.ndarray, G: int) -> np.ndarray:
    """(O, I) bool, written order: True where the weight lies in an all-zero group."""
    O, I = weights.shape[:2]
    ids = written_group_ids(O, I, G)
    nonzero = (weights != 0).any(axis=(2, 3))
    alive = np.bincount(ids.ravel(), weights=nonzero.ravel(), minlength=ids.max() + 1) > 0
    return ~alive[ids]


def to_torch_order(a: np.ndarray, out_order, in_order) -> np.ndarray:
    """An (O, I) array of the written layer in the input model's channel order:
    result[out_order[i], in_order[j]] = a[i, j] (None = unchanged)."""
    O, I = a.shape
    rows = np.arange(O) if out_order is None else np.asarray(out_order)
    cols = np.arange(I) if in_order is None else np.asarray(in_order)
    if sorted(rows.tolist()) != list(range(O)) or sorted(cols.tolist()) != list(range(I)):
        raise SparseByteNNError(f"channel orders of length {len(rows)}/{len(cols)} are not permutations "
                                f"of a {O}x{I} layer")
    out = np.empty_like(a)
    out[np.ix_(rows, cols)] = a
    return out


def converter_masks(mnn_path, report, model) -> list[LayerMask]:
    """A LayerMask for every layer the converter pruned in mnn_path (written with
    `report`), mapped back to `model`'s channel order through out_order/in_order."""
    by_name = {ly.name: ly for ly in report.layers}
    masks = []
    for index, (conv, name, _) in enumerate(matched_layers(mnn_path, model)):
        ly = by_name.get(conv.name)
        if ly is None:
            continue
        zero = zero_groups(conv.weights, ly.G)
        if not zero.any():
            continue
        O, I = zero.shape
        masks.append(LayerMask(
            module=name, conv=conv.name, index=index,
            keep=to_torch_order(~zero, ly.out_order, ly.in_order),
            group_id=to_torch_order(written_group_ids(O, I, ly.G), ly.out_order, ly.in_order)))
    return masks
