"""torch -> ONNX -> MNN (the zoo's models are checked in stock MNN by sparsebytenn.Session).

MNN's converter is called in-process through the wheel's `_tools` extension. The
`mnnconvert` console script must never be used: it pip-installs a logging SDK
(which breaks `onnx` by downgrading protobuf) and sends telemetry.
"""
from __future__ import annotations

import hashlib
import struct
import warnings
from pathlib import Path

from sparsebytenn_converter.mnn_wheel import mnnconvert

from ..errors import SparseByteNNError

ONNX_OPSET = 13
# Slot of Net.mnn_uuid in MNN's flatbuffer schema (MNN_generated.h, table Net).
NET_UUID_SLOT = 11


def torch_to_onnx(model, input_shape, dst: Path, input_name: str, output_name: str) -> None:
    import torch

    x = torch.zeros(*input_shape)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(dst), opset_version=ONNX_OPSET, dynamo=False,
                          input_names=[input_name], output_names=[output_name],
                          do_constant_folding=True)
    import onnx

    onnx.checker.check_model(onnx.load(str(dst)))


def onnx_to_mnn(src: Path, dst: Path) -> None:
    ok, log = mnnconvert("-f", "ONNX", "--modelFile", src, "--MNNModel", dst, "--bizCode", "sparsebytenn")
    if not ok or not dst.exists() or dst.stat().st_size == 0:
        tail = " | ".join(log.strip().splitlines()[-5:])
        raise SparseByteNNError(f"{src}: MNN's converter failed{'' if ok else ' (it said so)'}: {tail}")


def _net_uuid_span(data: bytes) -> tuple[int, int] | None:
    """(start, length) of the Net.mnn_uuid string's bytes in an .mnn, or None if unset."""
    try:
        (table,) = struct.unpack_from("<I", data, 0)
        (back,) = struct.unpack_from("<i", data, table)
        vtable = table - back
        vtable_size, _ = struct.unpack_from("<HH", data, vtable)
        slot = 4 + 2 * NET_UUID_SLOT
        if slot + 2 > vtable_size:
            return None
        (field,) = struct.unpack_from("<H", data, vtable + slot)
        if field == 0:
            return None
        (rel,) = struct.unpack_from("<I", data, table + field)
        start = table + field + rel
        (length,) = struct.unpack_from("<I", data, start)
    except struct.error:
        return None
    if start + 4 + length > len(data):
        return None
    return start + 4, length


def pin_mnn_uuid(path: Path) -> None:
    """Replace the random uuid MNN's converter writes with one derived from the file's
    content, so that the same network always gives the same bytes."""
    data = bytearray(path.read_bytes())
    span = _net_uuid_span(bytes(data))
    if span is None:
        return
    start, length = span
    if length != 36:
        raise SparseByteNNError(f"{path}: unexpected mnn_uuid of {length} bytes (expected 36)")
    data[start:start + length] = bytes(length)
    h = hashlib.sha256(data).hexdigest()
    data[start:start + length] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}".encode()
    path.write_bytes(bytes(data))
