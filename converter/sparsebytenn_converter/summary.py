"""What `sparsebytenn inspect` shows: every convolution-like op of a model as plain data."""
from __future__ import annotations

from .model import ConvInfo, Model


def conv_record(c: ConvInfo) -> dict:
    zf = c.zero_fraction
    return {
        "name": c.name,
        "type": c.type,
        "kernel": [c.kernel[0], c.kernel[1]],
        "stride": [c.stride[0], c.stride[1]],
        "dilation": [c.dilation[0], c.dilation[1]],
        "pad": list(c.pad),            # top, left, bottom, right
        "pad_mode": c.pad_mode,
        "in_channels": c.in_channels,
        "out_channels": c.out_channels,
        "groups": c.conv_groups,
        "weights": c.weight_count,
        "storage": c.storage,          # dense / sparse-float / quantized(...) / external / int8
        "zero_fraction": None if zf is None else round(zf, 6),
        "sparse": c.sparse,
    }


def model_summary(model: Model) -> dict:
    return {
        "model": str(model.path),
        "file_size": model.size,
        "ops_total": len(model.ops),
        "ops": [conv_record(c) for c in model.convs],
    }
