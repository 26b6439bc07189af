"""The state a conversion carries from stage to stage (see convert.py)."""
from __future__ import annotations

import mmap
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .heap import trim_heap
from .model import ConvInfo, Model, drop_pages


@dataclass
class Work:
    """Weights as the stages change them, and what each stage decided.

    W and B hold every convolution's weights and bias in the current channel order;
    `before` keeps the chosen layers' weights as read. W starts as read-only views of
    the model's weights (no copy of the whole model): a stage that changes a layer puts
    a new array in W, it never writes into one.
    """

    model: Model
    chosen: list[ConvInfo]
    G: dict[str, int]                       # group size per chosen layer
    W: dict[str, np.ndarray]
    B: dict[str, np.ndarray | None]
    before: dict[str, np.ndarray]
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)   # units to prune: (main groups, tail)
    retained_identity: dict[str, float] = field(default_factory=dict)  # energy kept without rearrangement
    tagged: set[str] = field(default_factory=set)          # layers written with sparse metadata
    permuted: set[str] = field(default_factory=set)        # weights touched by a permutation (any axis)
    out_permuted: set[str] = field(default_factory=set)    # output channels rearranged
    const_edits: dict = field(default_factory=dict)        # op index -> (Const op, permuted values)
    out_order: dict[str, np.ndarray] = field(default_factory=dict)  # output channel i was dense channel order[i]
    in_order: dict[str, np.ndarray] = field(default_factory=dict)   # likewise for input channels
    scratch_dir: Path | None = None        # where temporary files go (None: the system's)
    parked: "Parking | None" = None

    @classmethod
    def start(cls, model: Model, chosen: list[ConvInfo], G: int, scratch_dir: Path | None = None) -> "Work":
        W = {c.name: _read_only(c.weights) for c in model.convs if c.weights is not None}
        B = {c.name: (np.array(c.bias, dtype=np.float32) if c.bias is not None else None) for c in model.convs}
        return cls(model, chosen, {c.name: G for c in chosen}, W, B, {c.name: W[c.name] for c in chosen},
                   scratch_dir=scratch_dir)

    def release_weights(self) -> None:
        """Drop W and `before` (the report and the written model have what they need)."""
        self.W, self.before = {}, {}
        self.parked = None
        drop_pages(self.model.data)
        trim_heap()

    def park(self) -> None:
        """Before stock MNN loads a model (it needs about twice the file's size): move the
        weights held in memory to a temporary file and give back every mapped page, so the
        conversion's own copies do not add to MNN's. Stages read parked weights as before
        (read-only arrays, paged in from the page cache when used)."""
        loose = {id(a): a for d in (self.W, self.before) for a in d.values()
                 if a is not None and not _mapped(a)}
        if loose:
            if self.parked is None:
                self.parked = Parking(self.scratch_dir)
            views = self.parked.store(list(loose.values()))
            for d in (self.W, self.before):
                for name, a in d.items():
                    if a is not None and id(a) in views:
                        d[name] = views[id(a)]
        del loose
        self.drop_pages()
        trim_heap()

    def drop_pages(self) -> None:
        """Give back the pages of the input and of parked weights (see park)."""
        drop_pages(self.model.data)
        if self.parked is not None:
            self.parked.drop_pages()

    def changed(self, name: str) -> bool:
        """Weights differ from the file's (pruned or permuted)."""
        return name in self.permuted or name in self.counts


def _read_only(w: np.ndarray) -> np.ndarray:
    """A read-only float32 view of `w` (a copy only when it is not float32 already)."""
    v = w.view() if w.dtype == np.float32 else w.astype(np.float32)
    v.flags.writeable = False
    return v


def _mapped(a: np.ndarray) -> bool:
    """Whether `a` is a view of a mapped file (the input, or parked weights)."""
    b = a
    while isinstance(b, (np.ndarray, memoryview)):
        b = b.base if isinstance(b, np.ndarray) else b.obj
    return isinstance(b, mmap.mmap)


class Parking:
    """Arrays moved to an unlinked temporary file (gone with the process, whatever happens)
    and mapped back read-only."""

    def __init__(self, folder: Path | None):
        self.file = tempfile.TemporaryFile(prefix=".sbnn-weights-", dir=folder)
        self.maps: list[mmap.mmap] = []

    def store(self, arrays: list[np.ndarray]) -> dict[int, np.ndarray]:
        """{id(array): read-only view of its copy in the file}."""
        fd = self.file.fileno()
        start = -(-os.fstat(fd).st_size // mmap.ALLOCATIONGRANULARITY) * mmap.ALLOCATIONGRANULARITY
        pos, where = start, []
        for a in arrays:
            c = np.ascontiguousarray(a)
            mv = memoryview(c.reshape(-1).view(np.uint8))
            where.append(pos - start)
            at = pos
            while mv.nbytes:
                k = os.pwrite(fd, mv, at)
                mv, at = mv[k:], at + k
            pos += -(-c.nbytes // 64) * 64
        os.ftruncate(fd, max(pos, start + 1))
        m = mmap.mmap(fd, max(pos - start, 1), access=mmap.ACCESS_READ, offset=start)
        self.maps.append(m)
        return {id(a): np.frombuffer(m, dtype=a.dtype, count=a.size, offset=off).reshape(a.shape)
                for a, off in zip(arrays, where)}

    def drop_pages(self) -> None:
        for m in self.maps:
            drop_pages(m)
