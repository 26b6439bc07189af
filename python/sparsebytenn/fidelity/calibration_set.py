"""Calibration inputs for a zoo model from the real photos installed packages ship.

Calibrated pruning (convert(..., calibration=...)) needs a few hundred inputs like
the ones the model will see. No ImageNet is available, but a dozen real photos
are (skimage, darknet, sklearn). One view of each is too few for the late layers
(7x7 pixels per image at 224 px against ~1000 unknowns per output row), so each
photo contributes several seeded views: random crops of 35-100 % of the shorter
side, at random positions, half of them mirrored, resized to the model's input
and normalised like zoo.preprocess. Photos to classify afterwards (the demo's)
can be left out with `exclude`, so the check stays honest.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError

VIEWS = 128           # enough columns for 1024-channel 1x1 layers at 7x7, in ~30 s of MNN runs
MIN_CROP = 0.35


def photo_calibration(name: str, exclude=(), views: int = VIEWS, seed: int = 0) -> np.ndarray:
    """(views, 3, H, W) float32 inputs for zoo model `name` from the installed photos."""
    from PIL import Image

    from .. import zoo
    from ..zoo import catalog
    from ..zoo.images import load_rgb

    spec = catalog.spec(name)
    skip = {Path(p).resolve() for p in exclude}
    photos = [p for _, p, _ in zoo.sample_photos() if Path(p).resolve() not in skip]
    if not photos:
        raise SparseByteNNError("no sample photo is installed for calibration (pip install scikit-image, "
                                "or apt-get install darknet); pass your own images with --calibration")
    rng = np.random.default_rng(seed)
    size = spec.input_shape[-1]
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    images = [load_rgb(p) for p in photos]
    out = np.empty((views, 3, size, size), np.float32)
    for k in range(views):
        im = images[k % len(images)]                 # every photo equally often
        w, h = im.size
        side = int(min(w, h) * rng.uniform(MIN_CROP, 1.0))
        left = int(rng.integers(0, w - side + 1))
        top = int(rng.integers(0, h - side + 1))
        view = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
        if rng.random() < 0.5:
            view = view.transpose(Image.FLIP_LEFT_RIGHT)
        x = (np.asarray(view, np.float32) - mean) / std
        out[k] = x.transpose(2, 0, 1)
    return out
