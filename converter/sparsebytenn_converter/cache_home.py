"""Where SparseByteNN keeps what it measured or built once: $SPARSEBYTENN_HOME,
default ~/.cache/sparsebytenn (the Python package's caches live there too)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """Created on first use."""
    p = Path(os.environ.get("SPARSEBYTENN_HOME", Path.home() / ".cache" / "sparsebytenn"))
    p.mkdir(parents=True, exist_ok=True)
    return p
