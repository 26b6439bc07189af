"""Bounds-checked access to a FlatBuffers buffer (the `.mnn` container format).

The `flatbuffers` package trusts its input; model files come from other people, so
every read here checks the offset, the vtable, the vector length and the alignment
against the buffer first, the way FlatBuffers' own C++ verifier does (MNN runs that
verifier at load time, so anything rejected here would be rejected by MNN too).
Sizes are limited by what the file can hold, so a hostile length can never make us
allocate more than the file's size. Failures raise ModelError naming the file and
the place (`what`) in the model.

Only the wire format is known here; which field means what lives in schema.py.
"""
from __future__ import annotations

import struct

import numpy as np

from .errors import ModelError

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")

# scalar type -> (struct, size); sizes double as alignments.
SCALARS = {
    "bool": (struct.Struct("<?"), 1),
    "u8": (_U8, 1),
    "i8": (struct.Struct("<b"), 1),
    "i16": (struct.Struct("<h"), 2),
    "u16": (_U16, 2),
    "i32": (_I32, 4),
    "u32": (_U32, 4),
    "f32": (struct.Struct("<f"), 4),
    "i64": (struct.Struct("<q"), 8),
}

NUMPY = {"f32": "<f4", "i32": "<i4", "u32": "<u4", "u8": "u1", "i8": "i1", "i64": "<i8", "u16": "<u2"}


class FlatBuffer:
    def __init__(self, data, path):
        self.data = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
        self.n = len(data)
        self.path = str(path)
        self.strings: dict[int, str] = {}  # position -> decoded: a shared string is decoded once

    def fail(self, what: str, problem: str):
        where = f" ({what})" if what else ""
        raise ModelError(f"{self.path}: corrupted or truncated model{where}: {problem}")

    def _check(self, pos: int, size: int, align: int, what: str) -> None:
        if pos < 0 or size < 0 or pos + size > self.n:
            self.fail(what, f"offset {pos}+{size} is outside the file ({self.n} bytes)")
        if align > 1 and pos % align:
            self.fail(what, f"offset {pos} is not {align}-byte aligned")

    def scalar(self, pos: int, kind: str, what: str):
        st, size = SCALARS[kind]
        self._check(pos, size, size, what)
        return st.unpack_from(self.data, pos)[0]

    def deref(self, pos: int, what: str) -> int:
        """Follow the uoffset stored at `pos` (unsigned, relative to `pos`)."""
        self._check(pos, 4, 4, what)
        target = pos + _U32.unpack_from(self.data, pos)[0]
        if target >= self.n:
            self.fail(what, f"reference at {pos} points past the end of the file")
        return target

    def table(self, pos: int, what: str) -> "Table":
        return Table(self, pos, what)

    def root(self, what: str = "root") -> "Table":
        try:
            if self.n < 8:
                self.fail(what, f"file is only {self.n} bytes")
            return self.table(self.deref(0, what), what)
        except ModelError as exc:
            raise ModelError(f"{self.path}: not an MNN model (no valid root table: "
                             f"{str(exc).split(': ', 2)[-1]})") from None


class Table:
    """One table: its position, its vtable, and checked field readers."""

    __slots__ = ("buf", "pos", "vt", "vt_size", "inline_size", "what")

    def __init__(self, buf: FlatBuffer, pos: int, what: str):
        self.buf, self.pos, self.what = buf, pos, what
        buf._check(pos, 4, 4, what)
        vt = pos - _I32.unpack_from(buf.data, pos)[0]
        buf._check(vt, 4, 2, what + " vtable")
        vt_size, inline_size = _U16.unpack_from(buf.data, vt)[0], _U16.unpack_from(buf.data, vt + 2)[0]
        if vt_size < 4 or vt_size % 2:
            buf.fail(what, f"vtable size {vt_size} is invalid")
        buf._check(vt, vt_size, 2, what + " vtable")
        if inline_size < 4:
            buf.fail(what, f"table size {inline_size} is invalid")
        buf._check(pos, inline_size, 4, what)
        self.vt, self.vt_size, self.inline_size = vt, vt_size, inline_size

    @property
    def num_fields(self) -> int:
        """Number of field slots in the vtable (present or not)."""
        return (self.vt_size - 4) // 2

    def present_fields(self) -> list[int]:
        return [f for f in range(self.num_fields) if self.field_offset(f)]

    def field_offset(self, fid: int) -> int:
        if fid >= self.num_fields:
            return 0
        return _U16.unpack_from(self.buf.data, self.vt + 4 + 2 * fid)[0]

    def field_pos(self, fid: int, size: int = 4) -> int | None:
        off = self.field_offset(fid)
        if not off:
            return None
        if off < 4 or off + size > self.inline_size:
            self.buf.fail(self.what, f"field {fid} lies outside its table")
        return self.pos + off

    def scalar(self, fid: int, kind: str, default=0):
        p = self.field_pos(fid, SCALARS[kind][1])
        return default if p is None else self.buf.scalar(p, kind, self.what)

    def ref(self, fid: int) -> int | None:
        """Absolute position of the object field `fid` refers to, or None."""
        p = self.field_pos(fid)
        return None if p is None else self.buf.deref(p, self.what)

    def table(self, fid: int, what: str) -> "Table | None":
        p = self.ref(fid)
        return None if p is None else Table(self.buf, p, what)

    def vector(self, fid: int, elem_size: int, what: str | None = None) -> tuple[int, int] | None:
        """(start of elements, length) of a vector field, checked; None if absent."""
        p = self.ref(fid)
        if p is None:
            return None
        return vector_at(self.buf, p, elem_size, what or self.what)

    def array(self, fid: int, kind: str, what: str | None = None) -> np.ndarray | None:
        """A read-only numpy view of a scalar vector field (no copy)."""
        size = SCALARS[kind][1]
        v = self.vector(fid, size, what)
        if v is None:
            return None
        start, n = v
        return np.frombuffer(self.buf.data, dtype=NUMPY[kind], count=n, offset=start)

    def string(self, fid: int, what: str | None = None) -> str | None:
        p = self.ref(fid)
        return None if p is None else string_at(self.buf, p, what or self.what)

    def strings(self, fid: int, what: str | None = None) -> list[str]:
        v = self.vector(fid, 4, what)
        if v is None:
            return []
        start, n = v
        return [string_at(self.buf, self.buf.deref(start + 4 * i, what or self.what), what or self.what)
                for i in range(n)]

    def tables(self, fid: int, what: str) -> list["Table"]:
        v = self.vector(fid, 4, what)
        if v is None:
            return []
        start, n = v
        return [Table(self.buf, self.buf.deref(start + 4 * i, f"{what}[{i}]"), f"{what}[{i}]")
                for i in range(n)]


def vector_at(buf: FlatBuffer, p: int, elem_size: int, what: str) -> tuple[int, int]:
    buf._check(p, 4, 4, what)
    n = _U32.unpack_from(buf.data, p)[0]
    if n > (buf.n - p - 4) // max(elem_size, 1):
        buf.fail(what, f"vector of {n} elements does not fit in the file")
    start = p + 4
    if elem_size > 4 and start % elem_size:
        buf.fail(what, f"vector at {p} is not {elem_size}-byte aligned")
    return start, n


def string_at(buf: FlatBuffer, p: int, what: str) -> str:
    if p in buf.strings:
        return buf.strings[p]
    buf.strings[p] = s = _decode_string(buf, p, what)
    return s


def _decode_string(buf: FlatBuffer, p: int, what: str) -> str:
    start, n = vector_at(buf, p, 1, what)
    if start + n >= buf.n or buf.data[start + n] != 0:
        buf.fail(what, f"string at {p} is not terminated")
    try:
        return bytes(buf.data[start:start + n]).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(buf.data[start:start + n]).decode("utf-8", "replace")
