"""Lay out new FlatBuffers tables inside an existing buffer, forward only.

FlatBuffers references (uoffsets) are unsigned: an object may only refer to objects
at higher addresses. To replace one op's parameter table without re-serializing the
whole model, we write the new tables at a position *after* the op (into space the
old parameter no longer uses, or at the end of the file) and patch the op's one
reference. Everything a new table refers to is written after it, in its fragment,
except two kinds of things written once for all fragments:

- vtables (reached through a signed offset, so they may lie anywhere): a table whose
  vtable bytes equal one already in the buffer points at that one;
- `Shared` nodes (e.g. the sparse-metadata keys every layer repeats): emitted once
  in a pool at the very end by `Emitter.finish()`, after every fragment, so every
  reference to them still points forward.

Nodes: Table(fields), Vector(kind, values), TableVector(tables), String(text), Shared(node).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .flatbuf import NUMPY, SCALARS

BIG_VECTOR = 1 << 20    # bytes from which a vector's values are not copied into the fragment


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
    # {slot: (kind, value)}; kind "ref" for String/Vector/TableVector/Table/Shared values
    fields: dict


@dataclass
class Shared:
    """A node many fragments refer to: written once, at the end (see Emitter)."""
    node: object


class Pieces:
    """A fragment's bytes in order: small bytearrays, and large vectors' values as views
    of their arrays (not copied: a big layer's coding is not held twice). Writers take
    them with extend() and slice assignment, like one buffer."""

    def __init__(self, parts: list):
        self.parts = [memoryview(p).cast("B") for p in parts if len(p)]
        self.n = sum(p.nbytes for p in self.parts)

    def __len__(self) -> int:
        return self.n

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)


@dataclass
class Fragment:
    data: Pieces
    root: int                 # absolute position of the root object
    vtables: dict             # vtable bytes -> absolute position, new in this fragment
    pending: list             # (absolute slot, Shared key): references to patch in finish()


class Emitter:
    """Writes fragments into a whole-file buffer, sharing vtables and Shared nodes.

    The buffer is a bytearray or anything with len(), extend() and slice assignment
    (rewrite.FileBuffer: the output file itself)."""

    def __init__(self, buf: bytearray):
        self.buf = buf
        self.vtables: dict[bytes, int] = {}
        self.pending: list[tuple[int, tuple]] = []
        self.shared: dict[tuple, object] = {}

    def build(self, node, base: int) -> Fragment:
        """Lay `node` out as if its first byte were at absolute `base` (nothing is written)."""
        if base % 4:
            raise ValueError("fragment base must be 4-byte aligned")
        w = _Writer(base, self.vtables)
        root = w.emit(node)
        w.align(4)
        for key, n in w.shared.items():
            self.shared.setdefault(key, n)
        return Fragment(w.pieces(), root, w.new_vtables, w.pending)

    def commit(self, frag: Fragment) -> None:
        """Record that `frag` now sits in the buffer (the caller copied its bytes)."""
        self.vtables.update(frag.vtables)
        self.pending += frag.pending

    def append(self, node) -> int:
        """Write `node` at the (8-aligned) end of the buffer; returns its root position."""
        self.buf.extend(bytes(-len(self.buf) % 8))
        frag = self.build(node, len(self.buf))
        self.buf.extend(frag.data)
        self.commit(frag)
        return frag.root

    def finish(self) -> int:
        """Write the Shared pool after everything else and patch the references to it.

        Shared nodes inside shared nodes (a key string inside a shared Attribute) go
        in a further round after the first, so every reference still points forward.
        Returns the pool's size in bytes."""
        start = len(self.buf)
        while self.pending:
            pending, self.pending = self.pending, []
            self.buf.extend(bytes(-len(self.buf) % 8))
            w = _Writer(len(self.buf), self.vtables)
            where = {key: w.emit(self.shared[key]) for key in dict.fromkeys(k for _, k in pending)}
            w.align(4)
            self.buf.extend(w.pieces())
            self.vtables.update(w.new_vtables)
            for key, n in w.shared.items():
                self.shared.setdefault(key, n)
            self.pending = w.pending
            for slot, key in pending:
                assert where[key] > slot, "FlatBuffers references must point forward"
                self.buf[slot:slot + 4] = struct.pack("<I", where[key] - slot)
        return len(self.buf) - start


def build_with_root(node, base: int) -> tuple[bytes, int]:
    """A standalone fragment at `base` (no sharing with anything else)."""
    frag = Emitter(bytearray()).build(_unshared(node), base)
    return bytes(frag.data), frag.root


def _unshared(node):
    if isinstance(node, Shared):
        return _unshared(node.node)
    if isinstance(node, Table):
        return Table({s: (k, _unshared(v) if k == "ref" else v) for s, (k, v) in node.fields.items()})
    if isinstance(node, TableVector):
        return TableVector([_unshared(t) for t in node.tables])
    return node


def key_of(node) -> tuple:
    """A hashable identity for a node's content (equal content -> equal key)."""
    if isinstance(node, String):
        return ("s", node.text)
    if isinstance(node, Vector):
        return ("v", node.kind, np.ascontiguousarray(node.values, dtype=NUMPY[node.kind]).tobytes())
    if isinstance(node, TableVector):
        return ("tv", tuple(key_of(t) for t in node.tables))
    if isinstance(node, Table):
        return ("t", tuple(sorted((s, k, key_of(v) if k == "ref" else v) for s, (k, v) in node.fields.items())))
    if isinstance(node, Shared):
        return key_of(node.node)
    raise TypeError(node)


class _Writer:
    def __init__(self, base: int, known_vtables: dict):
        self.base = base
        self.out = bytearray()          # the bytes after the last big vector
        self.done: list = []            # what came before: bytearrays and big vectors' views
        self.done_bytes = 0
        self.known = known_vtables
        self.new_vtables: dict[bytes, int] = {}
        self.pending: list[tuple[int, tuple]] = []
        self.shared: dict[tuple, object] = {}

    def pos(self) -> int:
        return self.base + self.done_bytes + len(self.out)

    def align(self, a: int) -> None:
        while self.pos() % a:
            self.out.append(0)

    def patch_ref(self, at: int, target: int) -> None:
        assert target > at, "FlatBuffers references must point forward"
        at_out = at - self.base - self.done_bytes
        if at_out < 0:      # before the last big vector: slots are only ever in bytearrays
            k = at - self.base
            for part in self.done:
                if k < len(part):
                    struct.pack_into("<I", part, k, target - at)
                    return
                k -= len(part)
        struct.pack_into("<I", self.out, at_out, target - at)

    def pieces(self) -> Pieces:
        return Pieces([*self.done, self.out])

    def ref(self, at: int, child) -> None:
        """Fill the reference slot at `at` with `child`, emitted here or pooled."""
        if isinstance(child, Shared):
            key = key_of(child)
            self.shared.setdefault(key, child.node)
            self.pending.append((at, key))
            return
        self.patch_ref(at, self.emit(child))

    def emit(self, node) -> int:
        if isinstance(node, Shared):
            node = node.node
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
            self.out += struct.pack("<I", len(vals))
            if vals.nbytes < BIG_VECTOR:
                self.out += memoryview(vals.reshape(-1).view(np.uint8))
            else:                   # kept as a view of the array, not copied
                self.done += [self.out, vals.reshape(-1).view(np.uint8)]
                self.done_bytes += len(self.out) + vals.nbytes
                self.out = bytearray()
            return p
        if isinstance(node, TableVector):
            self.align(4)
            p = self.pos()
            self.out += struct.pack("<I", len(node.tables)) + b"\0" * (4 * len(node.tables))
            for i, t in enumerate(node.tables):
                self.ref(p + 4 + 4 * i, t)
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
        vt = self.known.get(vtable, self.new_vtables.get(vtable))
        if vt is None:
            self.align(2)
            vt = self.pos()
            self.out += vtable
            self.new_vtables[vtable] = vt
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
            self.ref(at, child)
        return t


def _size(kind: str) -> int:
    return 4 if kind == "ref" else SCALARS[kind][1]
