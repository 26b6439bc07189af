"""1/f ("pink") noise images: inputs with natural images' spectrum when there is no data.

Natural photos have amplitude spectra falling about as 1/f, so their pixels are
correlated over large areas; white (Gaussian) noise has none of that, drives the
network's activations far from where photos put them, and gives statistics worse
than none. Pink noise at least reproduces the spatial correlation: a luminance field
plus weaker per-channel colour fields, each image with its own brightness and
contrast, in the model's input range.
"""
from __future__ import annotations

import numpy as np


def _pink_field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fy * fy + fx * fx)
    amp = np.where(f > 0, 1.0 / np.maximum(f, 1e-12), 0.0)
    spectrum = amp * np.exp(2j * np.pi * rng.random(amp.shape))
    field = np.fft.irfft2(spectrum, s=(h, w))
    return (field - field.mean()) / (field.std() or 1.0)


def pink_noise(n: int, shape: tuple[int, int, int], *, seed: int = 0, low: float = -1.0,
               high: float = 1.0) -> np.ndarray:
    """(n, C, H, W) float32 pink-noise images with values in [low, high]."""
    C, H, W = shape
    rng = np.random.default_rng(seed)
    out = np.empty((n, C, H, W), np.float32)
    for i in range(n):
        luma = _pink_field(rng, H, W)
        img = np.stack([luma + 0.35 * _pink_field(rng, H, W) for _ in range(C)])
        contrast = rng.uniform(0.12, 0.3)           # std of pixels as a share of the range
        brightness = rng.uniform(0.3, 0.7)          # mean pixel as a share of the range
        unit = np.clip(brightness + contrast * img / (img.std() or 1.0), 0.0, 1.0)
        out[i] = low + (high - low) * unit
    return out
