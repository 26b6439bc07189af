"""Fashion-MNIST as a zoo model sees it: float32 (n, 3, S, S) NCHW inputs.

Each 28x28 uint8 image is resized to S x S with PIL's bilinear filter (rounded
back to uint8, as an image file would be), replicated to R = G = B and normalised
with the model's own (x - mean) / std. This is what the `*-fmnist` zoo models were
trained and tested on, and what zoo.preprocess() gives for a 28x28 array.

Memory: 10,000 test images at 96 px are 1.1 GB of float32; pass n, or use
model_inputs() on slices, when that is too much.
"""
from __future__ import annotations

import numpy as np

from ..errors import SparseByteNNError
from . import catalog
from .fashion_mnist_data import fashion_mnist


def resize_gray(images: np.ndarray, size: int) -> np.ndarray:
    """(n, h, w) uint8 -> (n, size, size) uint8, PIL bilinear."""
    from PIL import Image

    out = np.empty((len(images), size, size), np.uint8)
    for i, im in enumerate(images):
        out[i] = np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
    return out


def normalise_gray(gray: np.ndarray, mean, std) -> np.ndarray:
    """(n, H, W) uint8 -> (n, 3, H, W) float32, channel c = (gray - mean[c]) / std[c]."""
    x = gray.astype(np.float32)[:, None]
    mean = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((x - mean) / std)


def model_inputs(name: str, images: np.ndarray) -> np.ndarray:
    """Gray uint8 images (n, h, w), e.g. from zoo.fashion_mnist(), as model `name`'s input."""
    s = catalog.spec(name)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise SparseByteNNError(f"{name}: expected gray images as uint8 (n, h, w), "
                                f"got {images.dtype} {images.shape}")
    return normalise_gray(resize_gray(images, s.input_shape[-1]), s.mean, s.std)


def fashion_mnist_inputs(name: str, split: str = "test", n: int | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(inputs float32 (n, 3, S, S), labels int64 (n,)): the first n images of `split`
    ('train' / 'test'; all when n is None) as zoo model `name` sees them."""
    images, labels = fashion_mnist(split, n)
    return model_inputs(name, images), labels
