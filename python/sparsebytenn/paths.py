"""Where the project keeps its caches (models, the arm64 root folder, build outputs)."""
import os
from pathlib import Path


def home() -> Path:
    """$SPARSEBYTENN_HOME, default ~/.cache/sparsebytenn; created on first use."""
    from sparsebytenn_converter.cache_home import cache_home

    return cache_home()


def repo_root() -> Path | None:
    """The source checkout this package runs from (editable installs), else None."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "plugin").is_dir():
            return parent
    return None
