"""Fashion-MNIST as the user model sees it, for training (augmented batches of the
images it was trained on) and for measuring (test split, reserved calibration set)."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..zoo import catalog, finetuned
from ..zoo.fashion_mnist_inputs import model_inputs, normalise_gray, resize_gray


class TrainingData:
    """Seeded, augmented batches of the user model's own training images
    (train[0:59488]: the reserved tail is never touched)."""

    def __init__(self, model_name: str, images: int | None = None):
        self.spec = catalog.spec(model_name)
        limit = catalog.FASHION_MNIST_TRAIN - catalog.RESERVED_TRAIN
        self.images, self.labels = finetuned.training_images(min(images or limit, limit))

    def inputs(self, gray: np.ndarray) -> np.ndarray:
        s = self.spec
        return normalise_gray(resize_gray(gray, s.input_shape[-1]), s.mean, s.std)

    def batches(self, batch: int, steps: int, seed: int, shift: int, flip: bool
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """`steps` (inputs, labels) batches: one seeded permutation per epoch, augmented."""
        rng = np.random.default_rng([seed, 1])
        for idx in finetuned.batch_order(len(self.images), batch, steps, seed):
            yield self.inputs(finetuned.augment(self.images[idx], rng, shift, flip)), self.labels[idx]

    def plain(self, batch: int, count: int, seed: int) -> Iterator[np.ndarray]:
        """`count` unaugmented input batches (for batch-norm statistics)."""
        for idx in finetuned.batch_order(len(self.images), batch, count, seed + 7919):
            yield self.inputs(self.images[idx])


def calibration_inputs(model_name: str, n: int = catalog.RESERVED_TRAIN) -> np.ndarray:
    """The first n of the RESERVED_TRAIN training images the user model never saw, as
    it sees them: what the converter calibrates on."""
    images, _ = finetuned.reserved_images(n)
    return model_inputs(model_name, images)


def test_set(model_name: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(gray uint8 images, labels) of the test split; turned into inputs chunk by chunk
    (all 10,000 at 96 px would be 1.1 GB of float32)."""
    return finetuned.fashion_mnist("test", n)
