"""Freed memory goes back to the system (glibc), so the conversion's peak is what it holds.

glibc serves a large allocation with its own mapping, returned on free -- until the
first such free: then it raises that threshold to the freed size (up to 32 MB) and keeps
later blocks of a layer's size in its heap after they are freed. Over a conversion that
retained tens of MB per calibrated layer, on top of stock MNN's copy of the model
(measured: 2.86x the model instead of 2.3x). A fixed threshold keeps every large block
in its own mapping; trim_heap() returns what the heap still holds before MNN loads a model.
Elsewhere than glibc both do nothing.

The fixed threshold is for the rest of the process: glibc has no call that turns its
dynamic threshold back on (mallopt only ever turns it off), and a long-running program
calling convert() would keep a mapping (and its page faults) per large block. So
convert() leaves it alone and only `sparsebytenn convert`, whose process ends with the
conversion, sets it (an API caller converting a big calibrated model can do the same).
"""
from __future__ import annotations

import ctypes

_M_MMAP_THRESHOLD = -3          # mallopt parameter (malloc.h)
_THRESHOLD = 128 << 10          # glibc's default, kept fixed

_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.mallopt, _LIBC.malloc_trim      # glibc only
        except (OSError, AttributeError):
            _LIBC = False
    return _LIBC or None


def fixed_mmap_threshold() -> None:
    """Large blocks always in their own mappings, for the rest of the process (see above)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)


def trim_heap() -> None:
    """Hand the heap's free memory back to the system."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
