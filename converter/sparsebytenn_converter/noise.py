"""1/f ("pink") noise images: calibration inputs when the user has no data.

Natural photos have amplitude spectra falling as about 1/f, strongly correlated
colour channels and varied brightness and contrast; these images reproduce the
three, so a network's activations on them resemble its activations on photos.
White (Gaussian) noise reproduces none of it and gives calibration statistics
worse than none (measured: ../shared/notes/fidelity-facts.md). Each image draws
its spectral slope alpha in [1, 1.5], a luminance field plus two weaker
colour-opponent fields, a brightness offset and a contrast, clipped to the
model's input range [low, high].
"""
from __future__ import annotations

import numpy as np

# luminance and two opponent axes -> RGB (about the decorrelating transform of photos)
_OPPONENT = (np.array([[1, 1, 1], [1, 0, -1], [0.5, -1, 0.5]], np.float64).T
             / np.sqrt([3.0, 2.0, 1.5]))


def pink_noise(n: int, shape: tuple[int, int, int], *, seed: int = 0, low: float = -1.0, high: float = 1.0,
               alpha=(1.0, 1.5), chroma: float = 0.25, brightness_sd: float = 0.25,
               contrast=(0.25, 0.6)) -> np.ndarray:
    """(n, C, H, W) float32 images with values in [low, high].

    brightness_sd and contrast are fractions of half the range; C other than 3 takes
    the luminance (C < 3: the first C colour channels; C > 3: luminance repeated).
    """
    C, H, W = shape
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.rfftfreq(W)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0 / max(H, W)
    half, mid = (high - low) / 2, (high + low) / 2
    out = np.empty((n, C, H, W), np.float32)
    for i in range(n):
        amp = f ** (-rng.uniform(*alpha))
        amp[0, 0] = 0.0
        fields = []
        for k in range(3):
            spectrum = amp * (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape))
            g = np.fft.irfft2(spectrum, s=(H, W))
            fields.append(g / (g.std() + 1e-12) * (1.0 if k == 0 else chroma))
        rgb = np.tensordot(_OPPONENT, np.stack(fields), axes=(1, 0))
        rgb /= rgb.std() + 1e-12
        img = np.clip(mid + half * (rng.normal(0, brightness_sd) + rng.uniform(*contrast) * rgb), low, high)
        out[i] = img[:C] if C <= 3 else np.repeat(img[:1], C, axis=0)
    return out
