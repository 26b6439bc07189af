"""One rule for every file a command writes: never an input, never a silent overwrite,
never half-written.

check_outputs() runs before any work starts, so a bad output path costs the user
nothing; write_all_atomic() writes through temp files renamed at the end. Used by
convert (OUT, --report) and by every other command of the CLI that writes a file.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
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


def _unlink_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@dataclass
class Staged:
    """An output the caller already wrote to `tmp` (from new_staged): write_all_atomic
    syncs it and renames it with the others, and removes it when anything fails."""
    tmp: Path


def new_staged(out_path: Path) -> Path:
    """An empty temp file beside out_path for a large output written in pieces (Staged)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.resolve().parent)
    except OSError as exc:
        raise ModelError(f"{out_path}: cannot write ({exc.strerror or exc})") from None
    os.close(fd)
    return Path(tmp)


def _stage(out_path: Path, data: bytes | Staged) -> str:
    """Write data to a temp file beside out_path (fsynced, usual mode); return its name."""
    if isinstance(data, Staged):
        fd, tmp = os.open(data.tmp, os.O_RDWR), str(data.tmp)
    else:
        parent = out_path.resolve().parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=parent)
        except OSError as exc:
            raise ModelError(f"{out_path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "r+b" if isinstance(data, Staged) else "wb") as f:
            if not isinstance(data, Staged):
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual mode
    except OSError as exc:
        _unlink_quietly(tmp)
        raise ModelError(f"{out_path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def write_all_atomic(files: list[tuple[Path, bytes | Staged]]) -> None:
    """Every file fully written to a temp file first, then all renamed: no half-written
    output, and no OUT without its report when the report cannot be written."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            staged.append((_stage(Path(path), data), Path(path)))
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        raise ModelError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                _unlink_quietly(tmp)
