"""Start the fine-tune from the converter's calibrated result instead of the dense model.

Calibrated pruning re-fits each pruned layer's kept weights and bias to the dense
layer's outputs. Those values live in the written file, in the written channel
order and with batch norm folded in; here they are brought back to the torch
model: un-permuted through out_order/in_order, divided by the per-channel fold
scale (measured against the dense file, which holds the same layers unpermuted),
and the bias change added to the batch norm's shift (or to the conv's own bias).
"""
from __future__ import annotations

import numpy as np

from ..errors import SparseByteNNError
from .masks import LayerMask, matched_layers


def fold_scale(file_weight: np.ndarray, torch_weight: np.ndarray) -> np.ndarray:
    """Per output channel s with file_weight ~= s * torch_weight (least squares)."""
    f = file_weight.reshape(len(file_weight), -1).astype(np.float64)
    t = torch_weight.reshape(len(torch_weight), -1).astype(np.float64)
    norm = np.einsum("ok,ok->o", t, t)
    return np.where(norm > 0, np.einsum("ok,ok->o", f, t) / np.where(norm > 0, norm, 1.0), 1.0)


def unpermute(a: np.ndarray, out_order, in_order) -> np.ndarray:
    """a[i, j, ...] of the written layer at [out_order[i], in_order[j], ...] (None = same)."""
    rows = np.arange(a.shape[0]) if out_order is None else np.asarray(out_order)
    out = np.empty_like(a)
    if a.ndim == 1:
        out[rows] = a
        return out
    cols = np.arange(a.shape[1]) if in_order is None else np.asarray(in_order)
    out[np.ix_(rows, cols)] = a
    return out


def following_batch_norm(model, module_name: str, channels: int):
    """The BatchNorm registered right after `module_name` when it normalises its
    `channels` outputs (conv -> BN, as Sequential blocks build it), else None."""
    import torch.nn as nn

    names = [n for n, _ in model.named_modules()]
    modules = dict(model.named_modules())
    at = names.index(module_name)
    nxt = modules[names[at + 1]] if at + 1 < len(names) else None
    if isinstance(nxt, nn.modules.batchnorm._BatchNorm) and nxt.num_features == channels:
        return nxt
    return None


def load_calibrated(model, dense_mnn, pruned_mnn, report, masks: list[LayerMask]) -> None:
    """Put the converter's re-fit weights and biases of the masked layers into `model`."""
    import torch

    dense = matched_layers(dense_mnn, model)
    pruned = matched_layers(pruned_mnn, model)
    records = {ly.name: ly for ly in report.layers}
    for m in masks:
        d_conv, name, module = dense[m.index]
        p_conv = pruned[m.index][0]
        ly = records[p_conv.name]
        w_torch = module.weight.detach().numpy().reshape(d_conv.weights.shape)
        scale = fold_scale(d_conv.weights, w_torch)
        refit = unpermute(p_conv.weights, ly.out_order, ly.in_order) / scale[:, None, None, None]
        delta = unpermute(p_conv.bias, ly.out_order, None) - d_conv.bias
        bn = following_batch_norm(model, name, len(scale))
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(refit.reshape(module.weight.shape).astype(np.float32)))
            if bn is not None:
                bn.bias.add_(torch.from_numpy(delta.astype(np.float32)))
            elif module.bias is not None:
                module.bias.add_(torch.from_numpy(delta.astype(np.float32)))
            elif np.abs(delta).max() > 0:
                raise SparseByteNNError(f"{name}: the converter changed its bias but it has neither a bias "
                                        "nor a following batch norm to take the change")
