"""Reclaim the bytes a rewrite left unreachable, keeping every live byte as it was.

The rewriter never re-serializes: a tagged convolution gets a new parameter table
and the op's reference is patched to it, so the old dense weights stay in the file,
unreachable. Here we take them out:

1. `walk` follows every reference from the root with the full table declarations
   in layout_schema.py and records every live object (table, vtable, vector,
   string) and every reference (uoffset slot -> target, table -> vtable).
   Anything it cannot describe (an unknown union member, a field slot beyond the
   declared ones, overlapping objects) makes it refuse: then nothing is removed.
2. The input model is walked too and must have no unclaimed nonzero byte: that
   proves the declarations describe every reference in this file (a reference
   declared as a scalar would leave its target unclaimed).
3. `compact` drops the gaps between live objects in multiples of 8 bytes (so every
   object keeps its alignment), copies live bytes unchanged and re-targets every
   reference by the bytes removed between its slot and its target.
4. The result is walked again and must have the same objects, the same bytes
   outside reference slots, and the same references (moved by the removed bytes).
"""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError
from .flatbuf import FlatBuffer, Table, string_at, vector_at
from .layout_schema import ROOT, TABLES, UNIONS, S, T, U, VS, VT
from .model import drop_pages

ALIGN = 8  # the largest alignment any MNN object needs ([int64] vectors)


class Refused(Exception):
    """The file holds something the walk cannot account for; compaction would have to guess."""


@dataclass
class Layout:
    objects: dict = field(default_factory=dict)  # start -> (end, kind)
    refs: list = field(default_factory=list)     # (slot, target): 4-byte uoffsets, target = slot + value
    vtables: list = field(default_factory=list)  # (table, vtable): the soffset at `table` is table - vtable

    def claim(self, start: int, end: int, kind: str) -> bool:
        """Record an object; False when it is already known (shared). Conflicts refuse."""
        prev = self.objects.get(start)
        if prev is None:
            self.objects[start] = (end, kind)
            return True
        if prev != (end, kind):
            raise Refused(f"byte {start} is reached both as {prev[1]} and as {kind}")
        return False

    def spans(self) -> np.ndarray:
        """Live objects as a sorted (n, 2) array of [start, end); overlaps refuse."""
        s = np.array(sorted((a, e) for a, (e, _) in self.objects.items()), dtype=np.int64).reshape(-1, 2)
        bad = np.flatnonzero(s[1:, 0] < s[:-1, 1])
        if bad.size:
            a, b = s[bad[0]], s[bad[0] + 1]
            raise Refused(f"objects at {a[0]} and {b[0]} overlap")
        return s


def walk(data, path="model") -> Layout:
    """Every live object and reference of an .mnn buffer (see the module doc)."""
    fb = FlatBuffer(data, path)
    lay = Layout()
    try:
        root = fb.deref(0, "root")
        lay.claim(0, 4, "root offset")
        lay.refs.append((0, root))
        stack = [(root, ROOT)]
        while stack:
            pos, name = stack.pop()
            t = Table(fb, pos, name)
            if not lay.claim(pos, pos + t.inline_size, name):
                continue
            lay.claim(t.vt, t.vt + t.vt_size, "vtable")
            lay.vtables.append((pos, t.vt))
            n_slots, refs = TABLES[name]
            extra = [f for f in t.present_fields() if f >= n_slots]
            if extra:
                raise Refused(f"a {name} table has field slot {extra[0]}, beyond the {n_slots} this "
                              "converter knows (a newer MNN?)")
            for fid, kind in refs.items():
                slot = t.field_pos(fid)
                if slot is None:
                    continue
                target = fb.deref(slot, name)
                lay.refs.append((slot, target))
                if isinstance(kind, U):
                    members = UNIONS[kind.union]
                    v = t.scalar(fid - 1, "u8", 0)
                    if not 1 <= v <= len(members):
                        raise Refused(f"a {name} table holds a {kind.union} of unknown type {v}")
                    stack.append((target, members[v - 1]))
                elif isinstance(kind, T):
                    stack.append((target, kind.table))
                else:
                    _vector(fb, lay, target, kind, name, stack)
    except ModelError as exc:
        raise Refused(str(exc).split(": ", 1)[-1]) from None
    return lay


def _vector(fb: FlatBuffer, lay: Layout, p: int, kind, owner: str, stack: list) -> None:
    if kind == S:
        start, n = vector_at(fb, p, 1, owner)
        string_at(fb, p, owner)  # checks the terminator
        lay.claim(p, start + n + 1, "string")
        return
    if kind == VS or isinstance(kind, VT):
        start, n = vector_at(fb, p, 4, owner)
        if not lay.claim(p, start + 4 * n, "references"):
            return
        for i in range(n):
            slot = start + 4 * i
            target = fb.deref(slot, owner)
            lay.refs.append((slot, target))
            if kind == VS:
                _vector(fb, lay, target, S, owner, stack)
            else:
                stack.append((target, kind.table))
        return
    _, size = kind
    start, n = vector_at(fb, p, size, owner)
    lay.claim(p, start + size * n, f"[{size}-byte scalars]")


def gaps(spans: np.ndarray, n: int) -> np.ndarray:
    """[start, end) ranges of an n-byte buffer that no live object covers."""
    edges = np.concatenate([[0], spans.ravel(), [n]]).reshape(-1, 2)
    return edges[edges[:, 1] > edges[:, 0]]


def unclaimed_nonzero(data, lay: Layout) -> int:
    """How many nonzero bytes lie outside every live object (padding is zero)."""
    a = np.frombuffer(data, np.uint8)
    return int(sum(np.count_nonzero(a[s:e]) for s, e in gaps(lay.spans(), len(a))))


def check_fully_described(data, path) -> None:
    """Refuse unless the walk accounts for every nonzero byte of `data` (an input model)."""
    n = unclaimed_nonzero(data, walk(data, path))
    if n:
        raise Refused(f"{n:,} nonzero bytes of the input are not reachable through any field this "
                      "converter knows (dead data, e.g. from --no-compact or another tool, or an "
                      "unknown extension), so removing bytes cannot be proven safe")


@dataclass
class Compacted:
    data: bytes
    removed: int


@dataclass
class _Plan:
    lay: Layout
    gaps: np.ndarray          # [start, end) of each gap that loses bytes
    cut: np.ndarray           # bytes removed from the start of each
    patches: dict             # position -> 4 new bytes (moved references)
    shift: object             # position -> bytes removed before it


def _plan(data, path) -> _Plan | None:
    """What compaction removes and re-targets in `data`; None when nothing can go."""
    lay = walk(data, path)
    spans = lay.spans()
    n = len(data)
    g = gaps(spans, n)
    # drop the first multiple of ALIGN bytes of each gap; a trailing gap goes entirely
    cut = np.where(g[:, 1] == n, g[:, 1] - g[:, 0], (g[:, 1] - g[:, 0]) // ALIGN * ALIGN)
    g, cut = g[cut > 0], cut[cut > 0]
    if not len(g):
        return None
    cut_starts = g[:, 0]
    before = np.concatenate([[0], np.cumsum(cut)])  # bytes removed before cut i

    def shift(p):
        return before[np.searchsorted(cut_starts, p, side="left")]

    slots = np.array([r[0] for r in lay.refs], np.int64)
    targets = np.array([r[1] for r in lay.refs], np.int64)
    new_slots = slots - shift(slots)
    values = (targets - shift(targets)) - new_slots
    tabs = np.array([v[0] for v in lay.vtables], np.int64)
    vts = np.array([v[1] for v in lay.vtables], np.int64)
    new_tabs = tabs - shift(tabs)
    soff = new_tabs - (vts - shift(vts))
    if values.min(initial=1) <= 0 or np.abs(soff).max(initial=0) >= 1 << 31:
        raise Refused("a reference would not point forward after compaction")
    patches = {at: struct.pack("<I", v) for at, v in zip(slots.tolist(), values.tolist())}
    patches.update((at, struct.pack("<i", v)) for at, v in zip(tabs.tolist(), soff.tolist()))
    return _Plan(lay, g, cut, patches, shift)


def compact(data, path="model") -> Compacted:
    """`data` without its unreachable bytes; every reference re-targeted, then verified."""
    plan = _plan(data, path)
    if plan is None:
        return Compacted(bytes(data), 0)
    mv = memoryview(data).cast("B")
    result = b"".join(mv[p[0]:p[1]] if isinstance(p, tuple) else p for p in _pieces(len(data), plan))
    _verify(data, plan.lay, result, plan.shift, path)
    return Compacted(result, len(data) - len(result))


def compact_file(src: int, n: int, dst: int, path="model") -> int:
    """compact() from one open file (n bytes) into another, streamed: live bytes are
    copied file to file and the verification reads both through mappings whose pages
    are given back object by object, so memory stays far below the model's size.
    Returns the bytes removed (the whole of `src` is copied when nothing can go)."""
    from .rewrite import FileBuffer, copy_range   # (rewrite imports this module)

    # (mappings are left to the garbage collector: an error's traceback may still hold views of them)
    old = mmap.mmap(src, n, access=mmap.ACCESS_READ)
    try:
        plan = _plan(old, path)
        drop_pages(old)
        out = FileBuffer(dst)
        if plan is None:
            copy_range(src, dst, 0, 0, n)
            return 0
        for p in _pieces(n, plan):
            if isinstance(p, tuple):
                copy_range(src, dst, p[0], len(out), p[1] - p[0])
                out.n += p[1] - p[0]
            else:
                out.extend(p)
        new = mmap.mmap(dst, len(out), access=mmap.ACCESS_READ)
        try:
            _verify(old, plan.lay, new, plan.shift, path)
        finally:
            drop_pages(new)
        return n - len(out)
    finally:
        drop_pages(old)


def _pieces(n: int, plan: _Plan):
    """The compacted file in order: (start, end) ranges of the original, and new bytes
    (each moved reference; the zeros left of a gap)."""
    at = sorted(plan.patches)
    j, prev = 0, 0

    def live(a: int, b: int):
        nonlocal j
        while j < len(at) and at[j] < b:
            p = at[j]
            yield (a, p)
            yield plan.patches[p]
            a = p + 4
            j += 1
        yield (a, b)

    for (s, e), c in zip(plan.gaps.tolist(), plan.cut.tolist()):
        yield from live(prev, s)
        yield bytes(e - s - c)
        prev = e
    yield from live(prev, n)


def _verify(old, lay: Layout, new: bytes, shift, path) -> None:
    """Same objects, same bytes outside reference slots, same references, all moved by `shift`."""
    got = walk(new, path)

    def moved(pairs):
        if not pairs:
            return []
        a = np.array(pairs, np.int64)
        return sorted(map(tuple, (a - shift(a)).tolist()))

    starts = np.array(sorted(lay.objects), np.int64)
    want = {int(s - d): (lay.objects[int(s)][0] - int(d), lay.objects[int(s)][1])
            for s, d in zip(starts, shift(starts))}
    if got.objects != want:
        raise AssertionError("compaction changed the set of live objects")
    if sorted(got.refs) != moved(lay.refs) or sorted(got.vtables) != moved(lay.vtables):
        raise AssertionError("compaction changed a reference")
    old_slots = _slot_positions(lay)
    new_slots = _slot_positions(got)
    ends = np.array([lay.objects[s][0] for s in starts.tolist()], np.int64)
    d = shift(starts)
    lo_a, hi_a = np.searchsorted(old_slots, starts), np.searchsorted(old_slots, ends)
    lo_b, hi_b = np.searchsorted(new_slots, starts - d), np.searchsorted(new_slots, ends - d)
    ma, mb = memoryview(old).cast("B"), memoryview(new).cast("B")
    for k, (s, e, dk) in enumerate(zip(starts.tolist(), ends.tolist(), d.tolist())):
        if lo_a[k] == hi_a[k] and lo_b[k] == hi_b[k]:
            same = ma[s:e] == mb[s - dk:e - dk]       # compared in place: weights can be large
        else:                                          # tables and reference vectors: small
            same = np.array_equal(_without_slots(ma, s, e, old_slots[lo_a[k]:hi_a[k]]),
                                  _without_slots(mb, s - dk, e - dk, new_slots[lo_b[k]:hi_b[k]]))
        if not same:
            raise AssertionError(f"compaction changed the bytes of the {lay.objects[s][1]} at {s}")
        if e - s >= 1 << 20:       # a weight vector: give its pages back (mapped files)
            drop_pages(old)
            drop_pages(new)


def _slot_positions(lay: Layout) -> np.ndarray:
    """Sorted positions of every reference slot and table soffset (compared as zeros)."""
    return np.unique(np.array([r[0] for r in lay.refs] + [v[0] for v in lay.vtables], np.int64))


def _without_slots(mv, s: int, e: int, slots: np.ndarray) -> np.ndarray:
    """A copy of bytes [s, e) with the 4 bytes at each slot zeroed."""
    a = np.frombuffer(mv[s:e], np.uint8).copy()
    for p in (slots - s).tolist():
        a[p:p + 4] = 0
    return a
