"""Freed memory goes back to the system (glibc), so the conversion's peak is what it holds.

glibc serves a large allocation with its own mapping, returned on free -- until the
first such free: then it raises that threshold to the freed size (up to 32 MB) and keeps
later blocks of a layer's size in its heap after they are freed. Over a conversion that
retained tens of MB per calibrated layer, on top of stock MNN's copy of the model
(measured: 2.86x the model instead of 2.3x). A fixed threshold keeps every large block
in its own mapping; trim_heap() returns what the heap still holds before MNN loads a model.
Elsewhere than glibc both do nothing.
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
    """Large blocks always in their own mappings (process-wide; set once per conversion)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)


def trim_heap() -> None:
    """Hand the heap's free memory back to the system."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
