"""Fashion-MNIST from Debian's dataset-fashion-mnist (gzipped IDX files).

IDX: a big-endian header (magic 2051 + count, rows, cols for images; magic 2049 +
count for labels) followed by uint8 data.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError

FOLDER = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _read_idx(path: Path, magic: int, n: int | None) -> np.ndarray:
    if not path.is_file():
        raise SparseByteNNError(f"{path}: missing; install Fashion-MNIST with "
                                "`apt-get install dataset-fashion-mnist`")
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(8)
            got_magic, count = struct.unpack(">II", head)
            if got_magic != magic:
                raise SparseByteNNError(f"{path}: not an IDX file (magic {got_magic}, expected {magic})")
            dims = list(struct.unpack(">II", f.read(8))) if magic == 2051 else []
            take = count if n is None else min(n, count)
            per_item = int(np.prod(dims)) if dims else 1
            data = f.read(take * per_item)
    except (OSError, EOFError, struct.error) as exc:
        raise SparseByteNNError(f"{path}: unreadable IDX file ({exc})") from None
    if len(data) != take * per_item:
        raise SparseByteNNError(f"{path}: truncated (expected {take} items)")
    return np.frombuffer(data, np.uint8).reshape([take] + dims)


def fashion_mnist(split: str = "test", n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [n, 28, 28], labels int64 [n]): the first n of `split` ('train'/'test')."""
    if split not in _FILES:
        raise SparseByteNNError(f"fashion_mnist: split must be 'train' or 'test', got {split!r}")
    if n is not None and n < 0:
        raise SparseByteNNError(f"fashion_mnist: n must be >= 0, got {n}")
    images_file, labels_file = _FILES[split]
    images = _read_idx(FOLDER / images_file, 2051, n)
    labels = _read_idx(FOLDER / labels_file, 2049, n).astype(np.int64)
    return images, labels
