"""Image preprocessing for the zoo models: RGB (or gray), resize, center crop, normalise, NCHW.

Models trained on gray images (the *-fmnist ones) get the image as gray (PIL 'L'),
replicated to three channels, exactly as in training: a 28x28 Fashion-MNIST image
is resized to the input size with no crop, the same as zoo.fashion_mnist_inputs().
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError
from . import catalog


def load_rgb(image, mode: str = "RGB") -> "PIL.Image.Image":  # noqa: F821
    """A path, a PIL image or an HxW / HxWxC uint8 array -> a PIL image in `mode`
    ("RGB", or "L" for gray)."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as im:
                return im.convert(mode)
        except FileNotFoundError:
            raise SparseByteNNError(f"{image}: no such image file") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise SparseByteNNError(f"{image}: not a readable image ({exc})") from None
    if isinstance(image, Image.Image):
        return image.convert(mode)
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise SparseByteNNError(f"image array must be HxW or HxWxC uint8, got {arr.dtype} {arr.shape}")
    return Image.fromarray(arr).convert(mode)


def resize_center_crop(im, shorter_side: int, crop: int):
    from PIL import Image

    w, h = im.size
    scale = shorter_side / min(w, h)
    im = im.resize((max(crop, round(w * scale)), max(crop, round(h * scale))), Image.BILINEAR)
    w, h = im.size
    left, top = (w - crop) // 2, (h - crop) // 2
    return im.crop((left, top, left + crop, top + crop))


def preprocess(name: str, image) -> np.ndarray:
    """The model's input for one image: float32 NCHW of shape info(name)['input_shape']."""
    s = catalog.spec(name)
    crop = s.input_shape[-1]
    im = resize_center_crop(load_rgb(image, "L" if s.gray else "RGB"), s.resize, crop)
    x = np.asarray(im, dtype=np.float32)
    if s.gray:
        x = np.repeat(x[..., None], 3, axis=2)
    x = (x - np.asarray(s.mean, np.float32)) / np.asarray(s.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
