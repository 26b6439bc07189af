"""ImageNet-1k class names in the standard (ILSVRC-2012, sorted wnid) order.

Source: Debian `darknet`: the first 1000 lines of data/imagenet.labels.list are the
ILSVRC-2012 wnids and imagenet.shortnames.list names them in the same order;
sorting by wnid gives the standard index order (0 = tench, 999 = toilet tissue).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError
from . import catalog

DARKNET_DATA = Path("/usr/share/darknet/data")


def _read(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        raise SparseByteNNError(
            f"{path}: missing; the ImageNet class names come from Debian's darknet package: "
            "`apt-get install darknet` (scripts/setup.sh installs it)") from None


@functools.lru_cache(maxsize=1)
def imagenet_wnids_and_labels() -> tuple[tuple[str, str], ...]:
    wnids = _read(DARKNET_DATA / "imagenet.labels.list")[:1000]
    names = _read(DARKNET_DATA / "imagenet.shortnames.list")[:1000]
    pairs = tuple(sorted(zip(wnids, names)))
    if len(pairs) != 1000 or len({w for w, _ in pairs}) != 1000:
        raise SparseByteNNError(f"{DARKNET_DATA}: expected 1000 distinct ImageNet wnids")
    return pairs


def imagenet_labels() -> list[str]:
    """1000 class names, index i = ImageNet class i."""
    return [name for _, name in imagenet_wnids_and_labels()]


def class_names(name: str) -> list[str]:
    """The class names of model `name`'s outputs (after its label offset)."""
    if catalog.spec(name).classes == "fashion-mnist":
        from .fashion_mnist_data import CLASSES

        return list(CLASSES)
    return imagenet_labels()


def top_k(name: str, logits: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """(label, probability) of the k best classes (ImageNet or Fashion-MNIST) from one output."""
    s = catalog.spec(name)
    z = np.asarray(logits, np.float64).reshape(-1)
    if z.size != s.num_classes:
        raise SparseByteNNError(f"{name}: expected {s.num_classes} logits, got {z.size}")
    p = np.exp(z - z.max())
    p /= p.sum()
    labels = class_names(name)
    p = p[s.label_offset:s.label_offset + len(labels)]  # drop the background class, if any
    return [(labels[i], float(p[i])) for i in np.argsort(-p)[:k]]
