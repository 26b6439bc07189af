"""Evaluation inputs: Fashion-MNIST as a model sees it, and the sample photos.

Fashion-MNIST images (28x28 grayscale) are resized to size x size (bilinear),
replicated to 3 channels and normalised with the model's own (x - mean) / std, so
the pretrained backbone sees the value range it was trained on. Subsets are
drawn with a fixed seed and stratified by class, so every class is represented
in the same proportion in train and test.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SparseByteNNError

DEFAULT_MEAN = (127.5, 127.5, 127.5)
DEFAULT_STD = (127.5, 127.5, 127.5)


@dataclass(frozen=True)
class Normalisation:
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD

    def apply(self, rgb_uint8: np.ndarray) -> np.ndarray:
        """(n, H, W, 3) uint8 -> (n, 3, H, W) float32."""
        x = rgb_uint8.astype(np.float32)
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of n items, as equal a share per class as possible, in a seeded order."""
    labels = np.asarray(labels)
    if n > len(labels):
        raise SparseByteNNError(f"asked for {n} images but the split has only {len(labels)}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    base, extra = divmod(n, len(classes))
    picked = []
    for i, c in enumerate(classes):
        take = base + (1 if i < extra else 0)
        if take > len(per_class[c]):
            raise SparseByteNNError(f"class {c} has only {len(per_class[c])} images, {take} needed")
        picked.append(per_class[c][:take])
    return np.sort(np.concatenate(picked))


def load_fashion_mnist(split: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 28, 28), labels (n,)): a stratified, seeded subset of `split`."""
    from ..zoo import fashion_mnist

    images, labels = fashion_mnist(split)  # raises with the apt-get hint when missing
    idx = stratified_subset(labels, n, seed)
    return images[idx], labels[idx]


def load_calibration_images(n: int, exclude_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n training-split images disjoint from the probe's training subset (and, being
    from the training split, from every test image): stratified, seeded by seed + 2."""
    from ..zoo import fashion_mnist

    images, labels = fashion_mnist("train")
    taken = stratified_subset(labels, exclude_train, seed)
    rest = np.setdiff1d(np.arange(len(labels)), taken)
    if n > len(rest):
        raise SparseByteNNError(f"--calibration-images {n}: only {len(rest)} training images remain "
                                f"besides the probe's {exclude_train}")
    idx = rest[stratified_subset(labels[rest], n, seed + 2)]
    return images[idx], labels[idx]


def resize_gray_to_rgb(images: np.ndarray, size: int) -> np.ndarray:
    """(n, h, w) uint8 -> (n, size, size, 3) uint8, bilinear."""
    from PIL import Image

    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, im in enumerate(images):
        r = np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
        out[i] = r[..., None]
    return out
