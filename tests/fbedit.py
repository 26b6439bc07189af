"""A minimal, independent FlatBuffers navigator for making hostile .mnn files.

Written for the tests from the FlatBuffers wire format and MNN's public schema (the
field slots below), without the project's reader: the files it corrupts are the
ones the reader must reject, so it cannot be the tool that finds the bytes to hit.
It trusts its input; use it only on valid models. Tests also use it as an exact,
independent reader of conv weights (MNN's JSON dump prints floats to 6 decimals, so
weights below 5e-7 read as zeros there).
"""
from __future__ import annotations

import struct

# field slots (0-based, in declaration order) from MNN's schema
NET_OPLISTS, NET_OUTPUT_NAME, NET_TENSOR_NAME = 3, 4, 7
OP_INPUTS, OP_MAIN_TYPE, OP_MAIN, OP_NAME, OP_OUTPUTS, OP_TYPE = 0, 1, 2, 3, 4, 5
CONV_COMMON, CONV_WEIGHT, CONV_BIAS, CONV_QUAN, CONV_SYMQ, CONV_SPARSE = 0, 1, 2, 3, 4, 5
COMMON_KX, COMMON_KY, COMMON_GROUP, COMMON_OUT, COMMON_IN = 2, 3, 9, 10, 11
QUAN_ALPHA, QUAN_WEIGHT_SIZE, QUAN_INDEX = 1, 12, 13
SPARSE_ARGS = 1
ATTR_I, ATTR_KEY = 1, 3
# enum values
OPTYPE_CONVOLUTION, OPTYPE_CONVOLUTION_DEPTHWISE, OPTYPE_POOLING, OPTYPE_RELU = 12, 13, 47, 69
PARAM_CONVOLUTION2D, PARAM_POOL = 9, 31


class FB:
    def __init__(self, data: bytes):
        self.b = bytearray(data)

    def u32(self, p: int) -> int:
        return struct.unpack_from("<I", self.b, p)[0]

    def i32(self, p: int) -> int:
        return struct.unpack_from("<i", self.b, p)[0]

    def put(self, fmt: str, p: int, v) -> None:
        struct.pack_into(fmt, self.b, p, v)

    def root(self) -> int:
        return self.u32(0)

    def vtable(self, table: int) -> int:
        return table - self.i32(table)

    def field(self, table: int, fid: int) -> int | None:
        """Absolute position of field `fid` of the table at `table`, or None when absent."""
        vt = self.vtable(table)
        vt_size = struct.unpack_from("<H", self.b, vt)[0]
        if 4 + 2 * fid >= vt_size:
            return None
        off = struct.unpack_from("<H", self.b, vt + 4 + 2 * fid)[0]
        return table + off if off else None

    def vtable_slot(self, table: int, fid: int) -> int:
        return self.vtable(table) + 4 + 2 * fid

    def ref(self, table: int, fid: int) -> int | None:
        p = self.field(table, fid)
        return None if p is None else p + self.u32(p)

    def vector(self, table: int, fid: int) -> tuple[int, int] | None:
        """(position of the length field, length)."""
        p = self.ref(table, fid)
        return None if p is None else (p, self.u32(p))

    def ref_vector(self, table: int, fid: int) -> list[tuple[int, int]]:
        """[(position of element i, position of the object it refers to)]."""
        v = self.vector(table, fid)
        if v is None:
            return []
        lp, n = v
        return [(lp + 4 + 4 * i, lp + 4 + 4 * i + self.u32(lp + 4 + 4 * i)) for i in range(n)]

    def string(self, table: int, fid: int) -> str | None:
        p = self.ref(table, fid)
        return None if p is None else bytes(self.b[p + 4:p + 4 + self.u32(p)]).decode()

    def ops(self) -> list[tuple[int, int]]:
        """[(position of the oplists element, op table)]."""
        return self.ref_vector(self.root(), NET_OPLISTS)

    def op_type(self, op: int) -> int:
        p = self.field(op, OP_TYPE)
        return 0 if p is None else self.i32(p)

    def convs(self, dense_only: bool = False) -> list[int]:
        """Op tables of Convolution / ConvolutionDepthwise ops."""
        out = [op for _, op in self.ops() if self.op_type(op) in (OPTYPE_CONVOLUTION, OPTYPE_CONVOLUTION_DEPTHWISE)]
        if dense_only:
            out = [op for op in out if self.vector(self.param(op), CONV_WEIGHT) not in (None,)
                   and self.vector(self.param(op), CONV_WEIGHT)[1] > 0]
        return out

    def sparse_convs(self) -> list[int]:
        return [op for op in self.convs() if self.ref(self.param(op), CONV_QUAN) is not None]

    def param(self, op: int) -> int:
        return self.ref(op, OP_MAIN)

    def common(self, op: int) -> int:
        return self.ref(self.param(op), CONV_COMMON)

    def name(self, op: int) -> str | None:
        return self.string(op, OP_NAME)

    def floats(self, table: int, fid: int):
        import numpy as np
        v = self.vector(table, fid)
        if v is None:
            return np.zeros(0, np.float32)
        lp, n = v
        return np.frombuffer(bytes(self.b[lp + 4:lp + 4 + 4 * n]), "<f4").copy()

    def conv_weights(self) -> dict:
        """name -> OIHW float32 weights of every conv, dense or in MNN's float-sparse
        coding (quan index/alpha); bit-exact."""
        import numpy as np
        out = {}
        for op in self.convs():
            c = self.common(op)
            get = lambda fid, d: d if self.field(c, fid) is None else self.i32(self.field(c, fid))  # noqa: E731
            O, kx, ky = get(COMMON_OUT, 0), get(COMMON_KX, 1), get(COMMON_KY, 1)
            w = self.floats(self.param(op), CONV_WEIGHT)
            quan = self.ref(self.param(op), CONV_QUAN)
            if w.size == 0 and quan is not None:
                size = self.i32(self.field(quan, QUAN_WEIGHT_SIZE))
                lp, n = self.vector(quan, QUAN_INDEX)
                index = np.frombuffer(bytes(self.b[lp + 4:lp + 4 + 4 * n]), "<u4").astype(np.int64)
                w = np.zeros(size, np.float32)
                w[index] = self.floats(quan, QUAN_ALPHA)[:n]
            out[self.name(op)] = w.reshape(O, -1, ky, kx)
        return out

    def bytes(self) -> bytes:
        return bytes(self.b)
