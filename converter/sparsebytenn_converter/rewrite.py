"""Edit a model's bytes without re-serializing it: everything untouched stays identical.

- Same-length edits (dense weights, biases, constants) are written in place.
- A convolution that needs a new parameter table (sparse coding, or dense weights
  where the input had none) gets one laid out *after* its op -- inside its old dense
  weight vector when that space is free and large enough (the file does not grow),
  else at the end of the file -- and the op's `main` reference is patched to it.
"""
from __future__ import annotations

import struct

import numpy as np

from . import fbwriter as fw
from .model import ConvInfo, Model
from .schema import OpF


class Rewriter:
    def __init__(self, model: Model):
        self.model = model
        self.buf = bytearray(model.data)
        self.reused_bytes = 0
        self.appended_bytes = 0

    def write_floats(self, start: int, values: np.ndarray) -> None:
        v = np.ascontiguousarray(values, dtype="<f4").ravel()
        self.buf[start:start + 4 * v.size] = v.tobytes()

    def set_dense(self, c: ConvInfo, weights: np.ndarray, bias: np.ndarray | None) -> None:
        start, n = c.weight_span
        assert n == weights.size
        self.write_floats(start, weights)
        if bias is not None and c.bias_span is not None and c.bias_span[1] == bias.size:
            self.write_floats(c.bias_span[0], bias)

    def replace_conv2d(self, c: ConvInfo, node: fw.Table) -> None:
        op = self.model.ops[c.op_index]
        main_field = op.table.field_pos(OpF.main)
        frag, root = None, None
        if c.weight_span is not None:
            start, n = c.weight_span
            region = (start - 4, start + 4 * n)
            if region[0] > main_field:
                frag, root = fw.build_with_root(node, region[0])
                if len(frag) <= region[1] - region[0]:
                    self.buf[region[0]:region[1]] = frag + bytes(region[1] - region[0] - len(frag))
                    self.reused_bytes += len(frag)
                else:
                    frag = None
        if frag is None:
            while len(self.buf) % 8:
                self.buf.append(0)
            frag, root = fw.build_with_root(node, len(self.buf))
            self.buf += frag
            self.appended_bytes += len(frag)
        struct.pack_into("<I", self.buf, main_field, root - main_field)

    def result(self) -> bytes:
        return bytes(self.buf)
