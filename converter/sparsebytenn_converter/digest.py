"""sha256 of a file, read in 1 MB chunks (models are tens of MB; wheels more)."""
import hashlib
from pathlib import Path


def sha256_of(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
