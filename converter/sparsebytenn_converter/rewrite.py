"""Edit a model's bytes without re-serializing it: everything untouched stays identical.

- Same-length edits (dense weights, biases, constants) are written in place.
- A convolution that needs a new parameter table (sparse coding, or dense weights
  where the input had none) gets one laid out *after* its op -- inside its old dense
  weight vector when that space is free and large enough, else at the end of the
  file -- and the op's `main` reference is patched to it. What many layers repeat
  (sparse-metadata keys, vtables) is written once (fbwriter.Emitter).
- Finally (compact=True) the bytes nothing refers to any more -- the old dense
  weights -- are removed and every reference moved accordingly (compact.py), so the
  file is as small as MNN's coding allows. When the walk cannot account for every
  byte of the input, nothing is removed and `compaction.reason` says why.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from . import fbwriter as fw
from .compact import Refused, check_fully_described, compact
from .model import ConvInfo, Model
from .schema import OpF


@dataclass
class Compaction:
    applied: bool
    removed_bytes: int = 0
    reason: str = ""          # why not applied


class Rewriter:
    def __init__(self, model: Model, compact: bool = True):
        self.model = model
        self.buf = bytearray(model.data)
        self.emitter = fw.Emitter(self.buf)
        self.compact = compact
        self.replaced = 0
        self.reused_bytes = 0
        self.appended_bytes = 0
        self.compaction = Compaction(False, reason="not run")

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
        root = None
        if c.weight_span is not None:
            start, n = c.weight_span
            lo, hi = start - 4, start + 4 * n
            if lo > main_field:
                frag = self.emitter.build(node, lo)
                if len(frag.data) <= hi - lo:
                    end = lo + len(frag.data)
                    self.buf[lo:end] = frag.data
                    self.buf[end:hi] = bytes(hi - end)
                    self.emitter.commit(frag)
                    self.reused_bytes += len(frag.data)
                    root = frag.root
        if root is None:
            before = len(self.buf)
            root = self.emitter.append(node)
            self.appended_bytes += len(self.buf) - before
        struct.pack_into("<I", self.buf, main_field, root - main_field)
        self.replaced += 1

    def result(self) -> bytes:
        """The new model's bytes (the rewriter's own buffer, a bytearray, when nothing is
        removed: no second model-sized copy). The rewriter lets go of its buffer here, so it
        gives its result once."""
        self.appended_bytes += self.emitter.finish()
        buf, self.buf, self.emitter.buf = self.buf, None, None
        if not self.compact:
            self.compaction = Compaction(False, reason="not requested (--no-compact)")
            return buf
        if not self.replaced:
            self.compaction = Compaction(False, reason="nothing to reclaim (no table replaced)")
            return buf
        try:
            check_fully_described(self.model.data, self.model.path)
            c = compact(buf, self.model.path)
        except Refused as exc:
            self.compaction = Compaction(False, reason=str(exc))
            return buf
        self.compaction = Compaction(True, removed_bytes=c.removed)
        return c.data
