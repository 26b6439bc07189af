"""One check for every file a command writes: never an input, never a silent overwrite.

Called before any work starts, so a bad output path costs the user nothing. The
writers themselves go through a temp file + rename. Used by convert (OUT, --report)
and by every other command of the CLI that writes a file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple

from .errors import ModelError

# (option name as the user typed it, path or None when not given, required suffix or None)
Output = Tuple[str, Optional[os.PathLike], Optional[str]]


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):  # hard links, symlinks
            return True
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _label(option: str, path: Path) -> str:
    return f"{option} {path}" if option else str(path)


def check_outputs(outputs: Sequence[Output], inputs: Iterable[os.PathLike] = (), force: bool = False) -> None:
    """Raise ModelError (a SparseByteNNError: one clean CLI line) naming the option
    and the file when an output path is unusable. option "" names the file alone."""
    inputs = [Path(p) for p in inputs if p is not None]
    seen: list[tuple[str, Path]] = []
    for option, value, suffix in outputs:
        if value is None:
            continue
        path = Path(value)
        for src in inputs:
            if _same_file(path, src):
                raise ModelError(f"{_label(option, path)}: is an input of this command ({src}); "
                                 "choose another file (inputs are never modified)")
        for other_option, other in seen:
            if _same_file(path, other):
                raise ModelError(f"{_label(option, path)}: the same file as {other_option or other}; "
                                 "give each output its own name")
        if suffix and path.suffix.lower() != suffix:
            raise ModelError(f"{_label(option, path)}: give a {suffix} file name")
        if path.is_dir():
            raise ModelError(f"{_label(option, path)}: is a directory; give a file name")
        if path.exists() and not force:
            raise ModelError(f"{_label(option, path)}: already exists; use --force to replace it")
        parent = path.resolve().parent
        if not parent.is_dir():
            raise ModelError(f"{_label(option, path)}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise ModelError(f"{_label(option, path)}: folder {parent} is not writable")
        seen.append((option, path))
