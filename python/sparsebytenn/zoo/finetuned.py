"""Zoo models that stand for a user's own dense model: a real ImageNet backbone of the
zoo fine-tuned, all layers, on Fashion-MNIST at 96 px with a new 10-class head.

The recipe is an ordinary one (catalog.TrainRecipe): BatchNorm in train mode, SGD
with Nesterov momentum, linear warm-up then cosine decay, label smoothing, random
shifts and flips, batch 64. Training uses the first `train_images` images of the
training split in a seeded order; the last catalog.RESERVED_TRAIN are never trained
on. Accuracy is measured on the test split (all 10,000 by default) both in torch and
in stock MNN; the build fails if the two disagree.

Determinism: the seed fixes the head's initialisation, the data order, the
augmentation and dropout; the torch thread count is part of the recipe because the
order of floating-point sums depends on it. Same machine type + same packages +
same recipe => the same bytes; another CPU (ISA) may give other last bits.
"""
from __future__ import annotations

import contextlib
import importlib
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import SparseByteNNError
from . import catalog
from .fashion_mnist_data import fashion_mnist
from .fashion_mnist_inputs import normalise_gray, resize_gray

# The classifier attribute of each backbone (replaced by a 10-class one).
HEADS = {"mobilenet-v1": "classifier", "efficientnet-lite0": "_fc"}
# Predictions of torch and stock MNN may differ only on near ties (a few in 10,000).
MAX_DISAGREEMENT = 0.001
EVAL_CHUNK = 250


def base_model(s: catalog.ModelSpec):
    """(ImageNet torch model, provenance) of the backbone `s` is fine-tuned from."""
    base = catalog.spec(s.base)
    return importlib.import_module(f".{base.builder}", __package__).build()


def base_downloads(s: catalog.ModelSpec) -> list[str]:
    base = catalog.spec(s.base)
    return list(getattr(importlib.import_module(f".{base.builder}", __package__), "DOWNLOADS", ()))


def with_new_head(model, s: catalog.ModelSpec, seed: int):
    """`model` with its ImageNet classifier replaced by a seeded s.num_classes one."""
    import torch
    import torch.nn as nn

    attr = HEADS[s.base]
    old = getattr(model, attr)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if isinstance(old, nn.Conv2d):
            new = nn.Conv2d(old.in_channels, s.num_classes, 1)
        else:
            new = nn.Linear(old.in_features, s.num_classes)
    setattr(model, attr, new)
    return model


@contextlib.contextmanager
def deterministic_torch(threads: int, seed: int) -> Iterator[None]:
    """Fixed threads and a seeded RNG; the caller's state comes back. (The CPU kernels
    used here are deterministic for a fixed thread count, so torch's
    use_deterministic_algorithms is not needed; it would also import the compiler.)"""
    import torch

    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(saved_threads)


def training_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n training images; the reserved tail is out of reach."""
    limit = catalog.FASHION_MNIST_TRAIN - catalog.RESERVED_TRAIN
    if not 1 <= n <= limit:
        raise SparseByteNNError(f"train_images {n}: use 1..{limit} (the last "
                                f"{catalog.RESERVED_TRAIN} training images are reserved)")
    return fashion_mnist("train", n)


def reserved_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n of the reserved (never trained on) training images."""
    images, labels = fashion_mnist("train")
    start = catalog.FASHION_MNIST_TRAIN - catalog.RESERVED_TRAIN
    return images[start:start + n], labels[start:start + n]


def batch_order(n: int, batch: int, steps: int, seed: int) -> Iterator[np.ndarray]:
    """Indices of `steps` full batches: a fresh seeded permutation of range(n) per epoch."""
    if batch > n:
        raise SparseByteNNError(f"batch {batch} is larger than the {n} training images")
    rng = np.random.default_rng(seed)
    per_epoch = n // batch
    done = 0
    while done < steps:
        order = rng.permutation(n)
        for b in range(min(per_epoch, steps - done)):
            yield order[b * batch:(b + 1) * batch]
        done += min(per_epoch, steps - done)


def augment(images: np.ndarray, rng: np.random.Generator, shift: int, flip: bool) -> np.ndarray:
    """Random translation by up to `shift` pixels (zero fill, like the black background)
    and random horizontal flips, on (n, h, w) uint8."""
    n, h, w = images.shape
    out = images.copy()
    if shift > 0:
        padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift)))
        dy, dx = rng.integers(0, 2 * shift + 1, (2, n))
        out = np.stack([padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    if flip:
        mirrored = rng.random(n) < 0.5
        out[mirrored] = out[mirrored, :, ::-1]
    return out


def learning_rate(step: int, r: catalog.TrainRecipe) -> float:
    """Linear warm-up to r.lr, then cosine decay to 0 at the last step."""
    warm = max(1, round(r.warmup * r.steps))
    if step < warm:
        return r.lr * (step + 1) / warm
    t = (step - warm) / max(1, r.steps - warm)
    return r.lr * 0.5 * (1.0 + math.cos(math.pi * t))


def make_optimizer(model, r: catalog.TrainRecipe):
    import torch

    weights = [p for p in model.parameters() if p.ndim > 1]       # conv / linear weights
    others = [p for p in model.parameters() if p.ndim <= 1]       # biases, BatchNorm
    return torch.optim.SGD([{"params": weights, "weight_decay": r.weight_decay},
                            {"params": others, "weight_decay": 0.0}],
                           lr=r.lr, momentum=r.momentum, nesterov=True)


def fine_tune(s: catalog.ModelSpec, model, images: np.ndarray, labels: np.ndarray,
              r: catalog.TrainRecipe, progress: bool) -> dict:
    """Train all layers of `model` (head already replaced) in place; returns a summary."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    size = s.input_shape[-1]
    aug_rng = np.random.default_rng([r.seed, 1])
    model.train()
    model.to(memory_format=torch.channels_last)     # about 2x faster on CPU
    opt = make_optimizer(model, r)
    losses = []
    t0 = time.perf_counter()
    bar = tqdm(batch_order(len(images), r.batch, r.steps, r.seed), total=r.steps, leave=False,
               desc=f"{s.name}: fine-tune", unit="step", disable=not progress)
    for step, idx in enumerate(bar):
        gray = resize_gray(augment(images[idx], aug_rng, r.shift, r.flip), size)
        x = torch.from_numpy(normalise_gray(gray, s.mean, s.std)).contiguous(
            memory_format=torch.channels_last)
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, r)
        loss = F.cross_entropy(model(x), torch.from_numpy(labels[idx]),
                               label_smoothing=r.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix_str(f"loss {np.mean(losses[-50:]):.3f}")
    bar.close()
    model.eval()
    model.to(memory_format=torch.contiguous_format)
    if not np.isfinite(losses).all():
        raise SparseByteNNError(f"{s.name}: training diverged (loss {losses[-1]}); lower the lr")
    return {"seconds": round(time.perf_counter() - t0, 1), "steps": len(losses),
            "images_seen": len(losses) * r.batch,
            "final_loss": round(float(np.mean(losses[-50:])), 4),
            "train_images": f"Fashion-MNIST train[0:{r.train_images}]",
            "torch": torch.__version__}


def evaluate(s: catalog.ModelSpec, model, mnn_path: Path, images: np.ndarray, labels: np.ndarray,
             threads: int, desc: str, progress: bool) -> dict:
    """Accuracy of the torch model and of the .mnn in stock MNN on the same inputs."""
    import torch
    from tqdm import tqdm

    from ..session import Session

    run_mnn = Session(mnn_path, plugin=False, threads=threads).run_single
    size = s.input_shape[-1]
    pred_torch, pred_mnn, max_diff = [], [], 0.0
    for start in tqdm(range(0, len(images), EVAL_CHUNK), leave=False, unit="chunk",
                      desc=f"{s.name}: {desc}", disable=not progress):
        x = normalise_gray(resize_gray(images[start:start + EVAL_CHUNK], size), s.mean, s.std)
        with torch.no_grad():
            want = model(torch.from_numpy(x).contiguous(memory_format=torch.channels_last)).numpy()
        # One image per run: the .mnn is exported for batch 1 (a reshape in EfficientNet's
        # graph keeps that batch, so a resized session would be wrong, or crash).
        got = np.concatenate([run_mnn(x[i:i + 1]).reshape(1, -1) for i in range(len(x))])
        pred_torch.append(want.argmax(1))
        pred_mnn.append(got.argmax(1))
        max_diff = max(max_diff, float(np.abs(got - want).max()))
    pred_torch, pred_mnn = np.concatenate(pred_torch), np.concatenate(pred_mnn)
    result = {"images": len(labels), "torch": float(np.mean(pred_torch == labels)),
              "mnn": float(np.mean(pred_mnn == labels)),
              "predictions_differing": int(np.sum(pred_torch != pred_mnn)),
              "max_abs_logit_diff": max_diff}
    if result["predictions_differing"] > MAX_DISAGREEMENT * len(labels):
        raise SparseByteNNError(
            f"{s.name}: stock MNN and torch disagree on {result['predictions_differing']} of "
            f"{len(labels)} {desc} images; the conversion is wrong")
    return result


def accuracies(s: catalog.ModelSpec, model, mnn_path: Path, r: catalog.TrainRecipe,
               progress: bool) -> dict:
    """Test-split accuracy (the project's measure) and that on the reserved training images."""
    with deterministic_torch(r.threads, r.seed):
        test_images, test_labels = fashion_mnist("test", r.test_images)
        out = {"test": evaluate(s, model, mnn_path, test_images, test_labels, r.threads,
                                "test accuracy", progress)}
        if r.validation_images:
            val_images, val_labels = reserved_images(r.validation_images)
            out["reserved_train"] = evaluate(s, model, mnn_path, val_images, val_labels, r.threads,
                                             "reserved-train accuracy", progress)
    return out


def build(s: catalog.ModelSpec, r: catalog.TrainRecipe, progress: bool, on_fetched=None):
    """(fine-tuned torch model in eval mode, provenance): the backbone with a new head,
    all layers trained by recipe `r`. on_fetched() is called once the weights are in."""
    images, labels = training_images(r.train_images)   # first: a missing dataset fails fast
    model, base_source = base_model(s)
    if on_fetched is not None:
        on_fetched()
    with deterministic_torch(r.threads, r.seed):
        with_new_head(model, s, r.seed)
        training = fine_tune(s, model, images, labels, r, progress)
    source = {"base_model": s.base, "base_source": base_source,
              "data": "Debian dataset-fashion-mnist", "recipe": asdict(r), "training": training}
    return model, source


def save_state_dict(model, path: Path) -> None:
    """torch.save through memory: a file target would put its (temp) name inside the zip."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    path.write_bytes(buffer.getvalue())


def load(s: catalog.ModelSpec, state_dict: Path):
    """The fine-tuned torch model (eval mode) from a saved state_dict."""
    import torch

    model, _ = base_model(s)
    with_new_head(model, s, seed=0)      # the architecture; the weights come from the file
    try:
        state = torch.load(state_dict, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise SparseByteNNError(f"{state_dict}: not a state_dict of {s.name} ({exc})") from None
    return model.eval()
