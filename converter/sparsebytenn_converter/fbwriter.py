"""Lay out new FlatBuffers tables inside an existing buffer, forward only.

FlatBuffers references (uoffsets) are unsigned: an object may only refer to objects
at higher addresses. To replace one op's parameter table without re-serializing the
whole model, we write the new tables at a position *after* the op (into space the
old parameter no longer uses, or at the end of the file) and patch the op's one
reference. Everything a new table refers to is written after it, in this fragment.

Nodes: Table(fields), Vector(kind, values), TableVector(tables), String(text).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .flatbuf import NUMPY, SCALARS


@dataclass
class String:
    text: str


@dataclass
class Vector:
    kind: str            # scalar kind, see flatbuf.SCALARS
    values: np.ndarray


@dataclass
class TableVector:
    tables: list


@dataclass
class Table:
    # {slot: (kind, value)}; kind "ref" for String/Vector/TableVector/Table values
    fields: dict


def build(node, base: int) -> bytes:
    """Serialize `node` as a fragment whose first byte lands at absolute `base`.

    Returns the bytes; the root object (the one to reference) starts at
    `base + root_offset(fragment)`, which callers get from build_with_root.
    """
    return build_with_root(node, base)[0]


def build_with_root(node, base: int) -> tuple[bytes, int]:
    if base % 4:
        raise ValueError("fragment base must be 4-byte aligned")
    w = _Writer(base)
    root = w.emit(node)
    w.align(4)
    return bytes(w.out), root


class _Writer:
    def __init__(self, base: int):
        self.base = base
        self.out = bytearray()

    def pos(self) -> int:
        return self.base + len(self.out)

    def align(self, a: int) -> None:
        while self.pos() % a:
            self.out.append(0)

    def patch_ref(self, at: int, target: int) -> None:
        assert target > at, "FlatBuffers references must point forward"
        struct.pack_into("<I", self.out, at - self.base, target - at)

    def emit(self, node) -> int:
        if isinstance(node, String):
            self.align(4)
            p = self.pos()
            data = node.text.encode("utf-8")
            self.out += struct.pack("<I", len(data)) + data + b"\0"
            return p
        if isinstance(node, Vector):
            size = SCALARS[node.kind][1]
            self.align(4)
            while (self.pos() + 4) % size:  # elements (after the 4-byte length) size-aligned
                self.out += b"\0" * 4
            p = self.pos()
            vals = np.ascontiguousarray(node.values, dtype=NUMPY[node.kind])
            self.out += struct.pack("<I", len(vals)) + vals.tobytes()
            return p
        if isinstance(node, TableVector):
            self.align(4)
            p = self.pos()
            self.out += struct.pack("<I", len(node.tables)) + b"\0" * (4 * len(node.tables))
            for i, t in enumerate(node.tables):
                self.patch_ref(p + 4 + 4 * i, self.emit(t))
            return p
        if isinstance(node, Table):
            return self._table(node)
        raise TypeError(node)

    def _table(self, node: Table) -> int:
        # inline layout: soffset, then fields largest first so each is naturally aligned
        fields = sorted(node.fields.items(), key=lambda kv: -_size(kv[1][0]))
        offsets, layout, off = {}, [], 4
        for slot, (kind, value) in fields:
            size = _size(kind)
            off = (off + size - 1) // size * size
            offsets[slot] = off
            layout.append((slot, kind, value, off))
            off += size
        inline = (off + 3) // 4 * 4
        n_slots = max(node.fields) + 1 if node.fields else 0
        vtable = struct.pack("<HH", 4 + 2 * n_slots, inline) + b"".join(
            struct.pack("<H", offsets.get(s, 0)) for s in range(n_slots))
        self.align(2)
        vt = self.pos()
        self.out += vtable
        self.align(4)
        t = self.pos()
        body = bytearray(inline)
        struct.pack_into("<i", body, 0, t - vt)
        refs = []
        for slot, kind, value, o in layout:
            if kind == "ref":
                refs.append((t + o, value))
            else:
                SCALARS[kind][0].pack_into(body, o, value)
        self.out += body
        for at, child in refs:
            self.patch_ref(at, self.emit(child))
        return t


def _size(kind: str) -> int:
    return 4 if kind == "ref" else SCALARS[kind][1]
