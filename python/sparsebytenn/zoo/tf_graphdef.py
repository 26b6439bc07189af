"""Read the constants of a TensorFlow frozen GraphDef without TensorFlow.

A frozen GraphDef is a protobuf message; we only need its `Const` nodes (the
weights), so a tiny wire-format reader is enough and keeps TensorFlow (hundreds
of MB) out of the dependencies. Field numbers are those of TensorFlow's public
graph.proto / node_def.proto / attr_value.proto / tensor.proto.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

# protobuf wire types
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5

# TensorFlow DataType enum values we can decode.
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 9: np.int64, 10: np.bool_}


class GraphDefError(ValueError):
    """The bytes are not a GraphDef this reader understands."""


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, bytes] = field(default_factory=dict)  # raw AttrValue messages


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise GraphDefError("truncated varint")
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def _signed(x: int) -> int:
    """int32/int64 varints carry negatives as 64-bit two's complement."""
    return x - (1 << 64) if x >= 1 << 63 else x


def _fields(buf: memoryview) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, value) of one message; bytes fields stay views."""
    i, end = 0, len(buf)
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, i = _varint(buf, i)
        elif wire == _FIXED64:
            value, i = buf[i:i + 8], i + 8
        elif wire == _BYTES:
            length, i = _varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire == _FIXED32:
            value, i = buf[i:i + 4], i + 4
        else:
            raise GraphDefError(f"unsupported protobuf wire type {wire}")
        if i > end:
            raise GraphDefError("truncated field")
        yield number, wire, value


def _shape(buf: memoryview) -> list[int]:
    # TensorShapeProto: 2 = repeated Dim; Dim: 1 = size
    return [size for n, _, dim in _fields(buf) if n == 2
            for m, _, size in _fields(dim) if m == 1]


def decode_tensor(buf: memoryview) -> np.ndarray:
    """TensorProto -> ndarray (1 dtype, 2 shape, 4 tensor_content, 5 float_val, 7 int_val)."""
    dtype, dims, content, values = 1, [], None, []
    for n, wire, v in _fields(buf):
        if n == 1:
            dtype = v
        elif n == 2:
            dims = _shape(v)
        elif n == 4:
            content = bytes(v)
        elif n == 5:  # float_val, packed or not
            values += struct.unpack(f"<{len(v) // 4}f", v) if wire == _BYTES else struct.unpack("<f", v)
        elif n == 7:  # int_val, packed or not
            if wire == _BYTES:
                j = 0
                while j < len(v):
                    x, j = _varint(v, j)
                    values.append(_signed(x))
            else:
                values.append(_signed(v))
    if dtype not in _DTYPES:
        raise GraphDefError(f"unsupported tensor dtype {dtype}")
    np_dtype = _DTYPES[dtype]
    count = int(np.prod(dims)) if dims else 1
    if content is not None:
        arr = np.frombuffer(content, np_dtype).copy()
    else:
        arr = np.array(values, np_dtype)
        if arr.size == 1 and count > 1:  # TF stores splat constants as one value
            arr = np.full(count, arr[0], np_dtype)
    if arr.size != count:
        raise GraphDefError(f"tensor has {arr.size} values for shape {dims}")
    return arr.reshape(dims)


def read_graphdef(data: bytes) -> dict[str, Node]:
    """Parse a GraphDef (1 = repeated NodeDef; NodeDef: 1 name, 2 op, 3 input, 5 attr)."""
    nodes: dict[str, Node] = {}
    for n, wire, nbuf in _fields(memoryview(data)):
        if n != 1 or wire != _BYTES:
            continue
        node = Node(name="", op="")
        for m, _, v in _fields(nbuf):
            if m == 1:
                node.name = bytes(v).decode()
            elif m == 2:
                node.op = bytes(v).decode()
            elif m == 3:
                node.inputs.append(bytes(v).decode())
            elif m == 5:  # map<string, AttrValue> entry: 1 key, 2 value
                entry = {k: val for k, _, val in _fields(v)}
                node.attrs[bytes(entry.get(1, b"")).decode()] = entry.get(2, memoryview(b""))
        nodes[node.name] = node
    if not nodes:
        raise GraphDefError("no nodes found")
    return nodes


def constants(nodes: dict[str, Node]) -> dict[str, np.ndarray]:
    """Every Const node's value (AttrValue field 8 = tensor)."""
    out = {}
    for node in nodes.values():
        if node.op != "Const" or "value" not in node.attrs:
            continue
        for n, _, v in _fields(node.attrs["value"]):
            if n == 8:
                out[node.name] = decode_tensor(v)
    return out
