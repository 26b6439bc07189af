"""The fine-tuned file, checked: --detect tagged exactly the masked layers, with exactly
the masked groups at zero."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError
from .masks import LayerMask, matched_layers, to_torch_order, zero_groups


def check_detected(tagged_path: Path, report, masks: list[LayerMask], model) -> dict:
    """Compare the layers `report` (convert --detect, written to tagged_path) tagged with
    the masked ones, and each tagged layer's zero groups, mapped back through the
    regrouping's channel orders, with its mask. Raises on any difference."""
    layers = matched_layers(tagged_path, model)
    records = {ly.name: ly for ly in report.layers}
    tagged = [i for i, (conv, _, _) in enumerate(layers) if getattr(records.get(conv.name), "tagged", False)]
    masked = sorted(m.index for m in masks)
    if tagged != masked:
        names = lambda idx: ", ".join(layers[i][1] for i in idx) or "none"   # noqa: E731
        raise SparseByteNNError(f"{tagged_path}: --detect tagged layers [{names(tagged)}] but the masked "
                                f"ones are [{names(masked)}]")
    for m in masks:
        conv = layers[m.index][0]
        ly = records[conv.name]
        keep = to_torch_order(~zero_groups(conv.weights, ly.G), ly.out_order, ly.in_order)
        if not np.array_equal(keep, m.keep):
            raise SparseByteNNError(f"{tagged_path}: layer {conv.name!r} has {int((keep != m.keep).sum())} "
                                    f"(output, input) pairs whose zeros differ from the mask")
    return {"masked": [m.module for m in masks], "tagged_by_detect": [layers[i][1] for i in tagged],
            "regrouped": sum(bool(records[layers[i][0].name].permuted) for i in tagged)}
