"""Fuzz inputs as small, replayable recipes: a seed name plus concrete byte edits.

A recipe is JSON-friendly: {"seed": "mobilenet-v1", "ops": [["u32", 1234, 4294967295], ...]}.
`apply(data, ops)` rebuilds the input bytes exactly, so a crashing input is stored
as a few hundred bytes of recipe instead of a multi-MB model. `generate` draws the
ops from a random generator, aiming most of them at the positions a reader trusts
(see layout.py): uoffsets, vtables, vector lengths, union types, shape scalars.
"""
from __future__ import annotations

import random
import struct

import numpy as np

from .layout import Layout

_FMT = {"u8": "<B", "i8": "<b", "u16": "<H", "i32": "<i", "u32": "<I"}


# --------------------------------------------------------------------------- #
# applying ops

def apply(data: bytes, ops: list) -> bytes | bytearray:
    """The input a recipe describes (the seed is never modified)."""
    buf = None
    for op in ops:
        kind = op[0]
        if kind == "truncate":  # keep the first n bytes
            buf = bytearray(data[:op[1]]) if buf is None else buf[:op[1]]
            continue
        if buf is None:
            buf = bytearray(data)
        n = len(buf)
        if kind in _FMT:
            pos, val = op[1], op[2]
            size = struct.calcsize(_FMT[kind])
            if 0 <= pos <= n - size:
                struct.pack_into(_FMT[kind], buf, pos, _wrap(kind, val))
        elif kind == "flip":
            if 0 <= op[1] < n:
                buf[op[1]] ^= 1 << (op[2] & 7)
        elif kind == "fill":  # [fill, pos, length, byte]
            pos, length = op[1], max(0, min(op[2], n - op[1]))
            if 0 <= pos < n:
                buf[pos:pos + length] = bytes([op[3] & 255]) * length
        elif kind == "randrun":  # [randrun, pos, length, seed]
            pos, length = op[1], max(0, min(op[2], n - op[1]))
            if 0 <= pos < n:
                buf[pos:pos + length] = random.Random(op[3]).randbytes(length)
        elif kind == "bytes":  # [bytes, pos, hex]
            b = bytes.fromhex(op[2])
            if 0 <= op[1] <= n - len(b):
                buf[op[1]:op[1] + len(b)] = b
        elif kind == "insert":  # [insert, pos, hex]
            buf[op[1]:op[1]] = bytes.fromhex(op[2])
        elif kind == "delete":  # [delete, pos, length]
            del buf[op[1]:op[1] + op[2]]
        elif kind == "copy":  # [copy, src, dst, length]: duplicate a region over another
            src, dst, length = op[1], op[2], op[3]
            length = max(0, min(length, n - src, n - dst))
            buf[dst:dst + length] = bytes(buf[src:src + length])
        elif kind == "append":  # [append, hex]
            buf += bytes.fromhex(op[1])
        elif kind == "appendrand":  # [appendrand, length, seed]
            buf += random.Random(op[2]).randbytes(op[1])
        elif kind == "alias":  # [alias, length_pos, count, target]: a vector of `count` refs to one object
            lp, count, target = op[1], op[2], op[3]
            if 0 <= lp and lp + 4 + 4 * count <= min(n, target) and target < n:
                struct.pack_into("<I", buf, lp, count)
                first = lp + 4
                refs = target - (first + 4 * np.arange(count, dtype=np.int64))
                buf[first:first + 4 * count] = refs.astype("<u4").tobytes()
        elif kind == "bigstring":  # [bigstring, pos, length]: a string of `length` 'A's at pos
            pos, length = op[1], op[2]
            if 0 <= pos and pos + 4 + length + 1 <= n:
                struct.pack_into("<I", buf, pos, length)
                buf[pos + 4:pos + 4 + length] = b"A" * length
                buf[pos + 4 + length] = 0
        else:
            raise ValueError(f"unknown mutation {kind!r}")
    return bytes(data) if buf is None else buf  # a bytearray: no second multi-MB copy


IN_PLACE = {"truncate", "flip", "fill", "randrun", "bytes", "copy", "alias", "bigstring", *_FMT}


class Scratch:
    """A reusable copy of one seed: in-place recipes are applied to it and undone
    afterwards, so an input costs its edits instead of a multi-MB copy."""

    def __init__(self, data: bytes):
        self.buf = bytearray(data)
        self.saved: list[tuple[int, bytes]] = []

    def apply(self, ops: list):
        """A memoryview of the input, or None when the recipe needs a real copy."""
        if any(op[0] not in IN_PLACE for op in ops) or any(op[0] == "truncate" for op in ops[1:]):
            return None
        view = memoryview(self.buf)
        length = len(self.buf)
        for op in ops:
            if op[0] == "truncate":
                length = max(0, min(length, op[1]))
                continue
            lo, hi = _span(op, length)
            if hi > lo:
                self.saved.append((lo, bytes(self.buf[lo:hi])))
            edited = apply(bytes(self.buf[lo:hi]), [_shift_op(op, -lo)]) if hi > lo else b""
            if len(edited) == hi - lo and hi > lo:
                self.buf[lo:hi] = edited
        return view[:length]

    def restore(self) -> None:
        for lo, old in reversed(self.saved):
            self.buf[lo:lo + len(old)] = old
        self.saved.clear()


def _span(op: list, n: int) -> tuple[int, int]:
    """The byte range an in-place op may change (clipped to the input)."""
    kind = op[0]
    if kind in _FMT:
        lo, hi = op[1], op[1] + struct.calcsize(_FMT[kind])
        return (lo, hi) if 0 <= lo and hi <= n else (0, 0)
    if kind == "flip":
        return (op[1], op[1] + 1) if 0 <= op[1] < n else (0, 0)
    if kind in ("fill", "randrun"):
        return (op[1], min(n, op[1] + max(0, op[2]))) if 0 <= op[1] < n else (0, 0)
    if kind == "bytes":
        lo, hi = op[1], op[1] + len(op[2]) // 2
        return (lo, hi) if 0 <= lo and hi <= n else (0, 0)
    if kind == "copy":  # needs the source too: take the whole span of both
        lo = max(0, min(op[1], op[2]))
        return lo, min(n, max(op[1], op[2]) + max(0, op[3]))
    if kind == "alias":
        lo, hi = op[1], op[3] + 1
        return (lo, hi) if 0 <= lo and op[3] < n and op[1] + 4 + 4 * op[2] <= op[3] else (0, 0)
    if kind == "bigstring":
        lo, hi = op[1], op[1] + 4 + op[2] + 1
        return (lo, hi) if 0 <= lo and hi <= n else (0, 0)
    return 0, 0


def _shift_op(op: list, d: int) -> list:
    kind = op[0]
    if kind == "copy":
        return [kind, op[1] + d, op[2] + d, op[3]]
    if kind == "alias":
        return [kind, op[1] + d, op[2], op[3] + d]
    return [kind, op[1] + d, *op[2:]]


def _wrap(kind: str, val: int) -> int:
    bits = {"u8": 8, "i8": 8, "u16": 16, "i32": 32, "u32": 32}[kind]
    val &= (1 << bits) - 1
    if kind.startswith("i") and val >= 1 << (bits - 1):
        val -= 1 << bits
    return val


# --------------------------------------------------------------------------- #
# drawing ops

INTERESTING_U32 = (0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                   0xFFFFFFFE, 0xFFFFFFFF)
INTERESTING_I32 = (0, -1, 1, 2, 3, 4, 8, 16, 17, 255, 1 << 16, (1 << 16) + 1, 1 << 24, (1 << 24) + 1,
                   0x7FFFFFFF, -0x80000000, -2)
CONV_TYPES = (12, 13, 17, 18, 513, 515)
PARAM_TYPES = (0, 1, 7, 9, 32, 52, 88, 255)


def _near(rng: random.Random, positions, n: int) -> int:
    if positions and rng.random() < 0.8:
        p = rng.choice(positions)
        p = p[0] if isinstance(p, tuple) else p
        return max(0, min(n - 1, p + rng.choice((0, 0, 0, 1, 2, 3, -1, -4, 4))))
    return rng.randrange(max(n, 1))


def _uoffset(rng, lay: Layout, n: int) -> list:
    pos = rng.choice(lay.uoffsets)
    r = rng.random()
    if r < 0.3:
        val = rng.choice(INTERESTING_U32)
    elif r < 0.45:
        val = n - pos + rng.choice((-4, -1, 0, 1, 4))  # just around the end of the file
    elif r < 0.75 and lay.tables:  # another table, maybe of another kind (swapped tables)
        target = rng.choice(lay.tables)[0]
        val = target - pos
    elif r < 0.85 and lay.strings:
        val = rng.choice(lay.strings) - pos
    else:
        val = rng.randrange(1 << 32)
    return ["u32", pos, val]


def _soffset(rng, lay: Layout, n: int) -> list:
    pos, _ = rng.choice(lay.tables)
    r = rng.random()
    if r < 0.4:
        val = rng.choice(INTERESTING_I32 + (pos, pos + 1, pos - n, -n))
    elif r < 0.8 and lay.vtables:  # another table's vtable
        val = pos - rng.choice(lay.vtables)
    else:
        val = rng.randrange(-(1 << 31), 1 << 31)
    return ["i32", pos, val]


def _vtable(rng, lay: Layout, n: int) -> list:
    vt = rng.choice(lay.vtables)
    r = rng.random()
    if r < 0.35:
        return ["u16", vt, rng.choice((0, 1, 2, 3, 4, 5, 6, 0xFFFE, 0xFFFF, 64, 40))]
    if r < 0.6:
        return ["u16", vt + 2, rng.choice((0, 1, 2, 3, 4, 5, 8, 0xFFFF, 0x8000, 1000))]
    slot = vt + 4 + 2 * rng.randrange(12)
    return ["u16", slot, rng.choice((0, 1, 2, 3, 4, 5, 6, 8, 12, 0xFFFF, 0xFFFC, rng.randrange(1 << 16)))]


def _veclen(rng, lay: Layout, n: int) -> list:
    pos, length, elem = rng.choice(lay.veclens)
    fits = (n - pos - 4) // max(elem, 1)
    val = rng.choice((0, 1, length - 1, length + 1, 2 * length, length + rng.randrange(1, 64), fits, fits + 1,
                      0x3FFFFFFF, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)))
    return ["u32", pos, val]


def _scalar(rng, lay: Layout, n: int) -> list:
    pos, kind = rng.choice(lay.scalars)
    if kind in ("i8", "u8"):
        return [kind, pos, rng.randrange(256)]
    cur = None
    val = rng.choice(INTERESTING_I32 + ("rand",))
    if val == "rand":
        val = rng.randrange(-(1 << 31), 1 << 31)
    del cur
    return [kind, pos, val]


def _truncate(rng, lay: Layout, n: int) -> list:
    r = rng.random()
    if r < 0.2:
        return ["truncate", rng.choice((0, 1, 3, 4, 7, 8, 12, 15, 16, 17, 31, 64))]
    if r < 0.6:
        structural = lay.uoffsets + lay.vtables + [p for p, _ in lay.tables] + [p for p, *_ in lay.veclens]
        return ["truncate", max(0, min(n, rng.choice(structural) + rng.randrange(-8, 9)))]
    return ["truncate", rng.randrange(n + 1)]


def _flips(rng, lay: Layout, n: int) -> list:
    structural = lay.uoffsets + lay.vtables + [p for p, _ in lay.tables] + [p for p, *_ in lay.veclens]
    pos = _near(rng, structural, n) if rng.random() < 0.7 else rng.randrange(n)
    return ["flip", pos, rng.randrange(8)]


def _run(rng, lay: Layout, n: int) -> list:
    structural = lay.uoffsets + [p for p, _ in lay.tables] + lay.vtables
    pos = _near(rng, structural, n)
    length = rng.choice((1, 2, 4, 8, 16, 64, 256, 4096))
    if rng.random() < 0.5:
        return ["fill", pos, length, rng.choice((0, 0xFF, 0x7F, 0x80, 0x41))]
    return ["randrun", pos, length, rng.randrange(1 << 30)]


def _union(rng, lay: Layout, n: int) -> list:
    if lay.optypes and rng.random() < 0.4:
        return ["i32", rng.choice(lay.optypes), rng.choice(CONV_TYPES + (0, 11, 34, -1, 600, 601, 0x7FFFFFFF))]
    if not lay.unions:
        return _uoffset(rng, lay, n)
    return ["u8", rng.choice(lay.unions), rng.choice(PARAM_TYPES + (rng.randrange(256),))]


def _swap(rng, lay: Layout, n: int) -> list:
    """Copy one table's bytes over another's (same position, different content)."""
    (a, _), (b, _) = rng.choice(lay.tables), rng.choice(lay.tables)
    return ["copy", a, b, rng.choice((4, 8, 16, 32, 64))]


def _shift(rng, lay: Layout, n: int) -> list:
    pos = _near(rng, lay.uoffsets, n)
    if rng.random() < 0.5:
        return ["insert", pos, rng.randbytes(rng.choice((1, 2, 4, 8))).hex()]
    return ["delete", pos, rng.choice((1, 2, 4, 8, 64))]


def _string(rng, lay: Layout, n: int) -> list:
    if not lay.strings:
        return _flips(rng, lay, n)
    p = rng.choice(lay.strings)
    if rng.random() < 0.5:
        return ["bytes", p + 4, rng.choice(("ff", "c3", "eda080", "00", "f4908080"))]
    return ["u32", p, rng.choice((0, 1 << 20, 0xFFFFFFFF))]


def _alias(rng, lay: Layout, n: int) -> list:
    """Amplification: a vector whose many elements all point to the same object."""
    if not lay.ref_vectors:
        return _uoffset(rng, lay, n)
    lp, length = rng.choice(lay.ref_vectors)
    room = (n - lp) // 8
    count = rng.choice((length * 2, 1000, 100_000, room))
    count = max(1, min(count, room))
    target = lp + 4 + 4 * count
    target = rng.choice([t for t, _ in lay.tables if t >= target] or [target])
    return ["alias", lp, count, target]


def _aliased_strings(rng, lay: Layout, n: int) -> list:
    """Many names all pointing at one huge string: quadratic decode if strings are not shared."""
    if not lay.ref_vectors:
        return _uoffset(rng, lay, n)
    lp, _ = rng.choice(lay.ref_vectors)
    count = max(1, min(rng.choice((1000, 100_000, 1_000_000)), (n - lp) // 8))
    target = lp + 4 + 4 * count
    length = max(0, n - target - 8)
    return ["bigstring", target, length], ["alias", lp, count, target]


# ---- well-formed mutations: the file stays valid for the reader, so it reaches MNN
# with values a model may really hold (weights), or parameters that keep every
# offset and length intact (conv geometry, sparse metadata, input shape).

_FLOATS = (float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e30, -1e30, 3e38, 1e-40, 1e-45, 1.0, -1.0)


def _weights(rng, lay: Layout, n: int) -> list:
    if not lay.floats:
        return _flips(rng, lay, n)
    start, count = rng.choice(lay.floats)
    ops = []
    for _ in range(rng.choice((1, 1, 2, 8, 64))):
        pos = start + 4 * rng.randrange(count)
        x = rng.choice(_FLOATS) if rng.random() < 0.7 else rng.gauss(0.0, 10.0 ** rng.randrange(-3, 4))
        ops.append(["u32", pos, struct.unpack("<I", struct.pack("<f", x))[0]])
    return tuple(ops)


_SMALL = {"padMode": (0, 1, 2, 3), "relu": (0, 1), "relu6": (0, 1), "hasOutputShape": (0, 1)}


def _conv_param(rng, lay: Layout, n: int) -> list:
    if not lay.conv_scalars:
        return _scalar(rng, lay, n)
    pos, kind, key = rng.choice(lay.conv_scalars)
    if key in _SMALL:
        return ["u8" if kind == "bool" else kind, pos, rng.choice(_SMALL[key])]
    return [kind, pos, rng.choice((0, 1, 1, 2, 2, 3, 4, 5, 7, 8, 16, -1))]


def _sparse_meta(rng, lay: Layout, n: int) -> list:
    if not lay.sparse_ints:
        return _scalar(rng, lay, n)
    return ["i32", rng.choice(lay.sparse_ints), rng.choice((0, 1, 2, 3, 4, 5, 8, 12, 16, 32, 64, -1,
                                                             rng.randrange(1 << 16)))]


def _input_shape(rng, lay: Layout, n: int) -> list:
    if not lay.input_dims:
        return _scalar(rng, lay, n)
    start, count = rng.choice(lay.input_dims)
    i = rng.randrange(max(count, 1))
    # a large batch is valid but only slow (224 images of MobileNet: 3 s): keep it small
    return ["i32", start + 4 * i, rng.choice((1, 2, 3, 0, -1) if i == 0 else (1, 2, 3, 7, 31, 32, 97, 224, 225, 0, -1))]


WELL_FORMED = (_weights, _conv_param, _sparse_meta, _input_shape)
STRATEGIES = [  # (weight, drawer): about half the inputs stay well-formed
    (10, _uoffset), (6, _soffset), (6, _vtable), (8, _veclen), (6, _scalar), (6, _truncate), (8, _flips),
    (5, _run), (5, _union), (3, _swap), (2, _shift), (2, _string), (1, _alias), (0.3, _aliased_strings),
    (30, _weights), (20, _conv_param), (10, _sparse_meta), (8, _input_shape),
]
_WEIGHTS = [w for w, _ in STRATEGIES]


def generate(rng: random.Random, lay: Layout, n: int) -> list:
    """1-4 ops for a seed of n bytes with layout `lay` (all well-formed, or any mix)."""
    ops: list = []
    well_formed = rng.random() < 0.5
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        if well_formed:
            draw = rng.choices(WELL_FORMED, (30, 20, 10, 8))[0]
        else:
            _, draw = rng.choices(STRATEGIES, _WEIGHTS)[0]
        got = draw(rng, lay, n)
        if isinstance(got, tuple):
            ops.extend(got)
        else:
            ops.append(got)
    # a truncation applies to the original bytes; keep it first so later ops see the short file
    ops.sort(key=lambda o: o[0] != "truncate")
    return ops


def generate_raw(rng: random.Random) -> list:
    """A file that is not an MNN model at all: empty, text, random, other formats, fake roots."""
    r = rng.random()
    if r < 0.1:
        return []
    if r < 0.3:
        return [["appendrand", rng.choice((1, 3, 4, 8, 15, 16, 17, 64, 4096, 65536)), rng.randrange(1 << 30)]]
    if r < 0.5:
        head = rng.choice((b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"\x7fELF\x02\x01\x01", b"{\"model\": 1}\n",
                           b"MNN\n", b"\x08\x01\x12\x04onnx", b"\x00" * 16, b"\xff" * 16, "é".encode() * 8))
        return [["append", head.hex()], ["appendrand", rng.randrange(0, 512), rng.randrange(1 << 30)]]
    # a tiny buffer whose root offset and vtable are random but plausible
    n = rng.choice((8, 16, 24, 32, 64, 128))
    root = rng.randrange(0, n, 4)
    ops = [["appendrand", n, rng.randrange(1 << 30)], ["u32", 0, root]]
    if rng.random() < 0.7 and root + 4 <= n:
        ops.append(["i32", root, rng.choice((-4, 4, root, -8, root - 4))])
    return ops
