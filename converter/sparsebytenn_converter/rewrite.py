"""Edit a model's bytes without re-serializing it: everything untouched stays identical.

The output is a file from the start: the input is copied into it inside the kernel and
every edit below is written at its place, so no model-sized buffer is ever held (the
input's bytes, their edited copy and the compacted copy used to be in memory at once).

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

import errno
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import fbwriter as fw
from .compact import Refused, check_fully_described, compact_file
from .errors import ModelError
from .model import ConvInfo, Model, drop_pages
from .schema import OpF

CHUNK = 8 << 20


@dataclass
class Compaction:
    applied: bool
    removed_bytes: int = 0
    reason: str = ""          # why not applied


class FileBuffer:
    """The output file as the rewriter's buffer (len, extend, slice assignment, like a
    bytearray): edits go straight to the file, so no model-sized buffer is ever held."""

    def __init__(self, fd: int, size: int = 0):
        self.fd, self.n = fd, size

    def __len__(self) -> int:
        return self.n

    def extend(self, data) -> None:
        self._write(self.n, data)

    def __setitem__(self, key: slice, data) -> None:
        n = len(data) if isinstance(data, fw.Pieces) else memoryview(data).nbytes
        assert key.step is None and key.stop - key.start == n, "an edit must keep its length"
        self._write(key.start, data)

    def zero(self, start: int, end: int) -> None:
        while start < end:
            k = min(end - start, CHUNK)
            self._write(start, bytes(k))
            start += k

    def _write(self, pos: int, data) -> None:
        for part in data.parts if isinstance(data, fw.Pieces) else [data]:
            mv = memoryview(part).cast("B")
            while mv.nbytes:
                k = os.pwrite(self.fd, mv, pos)
                mv, pos = mv[k:], pos + k
        self.n = max(self.n, pos)


def copy_range(src: int, dst: int, src_off: int, dst_off: int, n: int) -> None:
    """Copy n bytes between two files inside the kernel (copy_file_range; else through one
    small buffer): nothing model-sized passes through this process's memory."""
    fast = hasattr(os, "copy_file_range")
    while n > 0:
        k = 0
        if fast:
            try:
                k = os.copy_file_range(src, dst, min(n, 1 << 30), src_off, dst_off)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                    raise
                fast = False
                continue
        else:
            data = os.pread(src, min(n, CHUNK), src_off)
            mv = memoryview(data)
            while mv.nbytes:
                w = os.pwrite(dst, mv, dst_off + len(data) - mv.nbytes)
                mv = mv[w:]
            k = len(data)
        if k == 0:
            raise OSError(errno.EIO, "the file ended early (changed while being read?)")
        src_off, dst_off, n = src_off + k, dst_off + k, n - k


class Rewriter:
    """Writes `model` with edits to `out` (a new file the caller names and removes on failure)."""

    def __init__(self, model: Model, out, compact: bool = True):
        self.model = model
        self.out = Path(out)
        self.fd = os.open(self.out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with open(model.path, "rb") as src:
                if os.fstat(src.fileno()).st_size != model.size:
                    raise ModelError(f"{model.path}: the file changed while it was being converted")
                copy_range(src.fileno(), self.fd, 0, 0, model.size)
        except BaseException:
            os.close(self.fd)
            raise
        self.buf = FileBuffer(self.fd, model.size)
        self.emitter = fw.Emitter(self.buf)
        self.compact = compact
        self.replaced = 0
        self.reused_bytes = 0
        self.appended_bytes = 0
        self.compaction = Compaction(False, reason="not run")
        self.size = model.size            # the file's, once finish() ran

    def write_floats(self, start: int, values: np.ndarray) -> None:
        v = np.ascontiguousarray(values, dtype="<f4").ravel()
        self.buf[start:start + 4 * v.size] = v

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
                    self.buf.zero(end, hi)
                    self.emitter.commit(frag)
                    self.reused_bytes += len(frag.data)
                    root = frag.root
        if root is None:
            before = len(self.buf)
            root = self.emitter.append(node)
            self.appended_bytes += len(self.buf) - before
        self.buf[main_field:main_field + 4] = struct.pack("<I", root - main_field)
        self.replaced += 1

    def finish(self) -> int:
        """Complete the file (the shared pool; then, compact=True, without the bytes nothing
        refers to any more); returns its size. The rewriter is done after this."""
        try:
            self.appended_bytes += self.emitter.finish()
            size = len(self.buf)
            if not self.compact:
                self.compaction = Compaction(False, reason="not requested (--no-compact)")
            elif not self.replaced:
                self.compaction = Compaction(False, reason="nothing to reclaim (no table replaced)")
            else:
                size = self._compact(size)
            self.size = size
            return size
        finally:
            os.close(self.fd)
            self.emitter.buf = self.buf = None

    def _compact(self, size: int) -> int:
        try:
            check_fully_described(self.model.data, self.model.path)
        except Refused as exc:
            self.compaction = Compaction(False, reason=str(exc))
            return size
        finally:
            drop_pages(self.model.data)
        fd, tmp = tempfile.mkstemp(prefix=self.out.name + ".", suffix=".compact", dir=self.out.parent)
        try:
            try:
                removed = compact_file(self.fd, size, fd, self.model.path)
            finally:
                os.close(fd)
        except Refused as exc:
            os.unlink(tmp)
            self.compaction = Compaction(False, reason=str(exc))
            return size
        except BaseException:
            os.unlink(tmp)
            raise
        os.replace(tmp, self.out)
        self.compaction = Compaction(True, removed_bytes=removed)
        return size - removed
