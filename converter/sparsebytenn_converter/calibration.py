"""Calibration data in, activations out: what reconstruction learns from.

Inputs (`load_calibration`): a list of image paths, a folder of images, one
image, or an .npy/.npz holding an already preprocessed NCHW float array. Images
need a `preprocess(path) -> (1, C, H, W) float32` function (the caller knows the
model's normalisation; the converter does not guess it).

Activations (`Probe`): stock MNN runs the model and returns any named tensor
(its Module API accepts intermediate tensor names as outputs), so what we learn
from is exactly what MNN computes, including fused activations and layouts.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .errors import ModelError
from .mnn_wheel import MNNModule
from .schema import OpType

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
MAX_IMAGES = 1024        # more is slower and rarely better for one-shot reconstruction


def _image_files(source) -> list[Path] | None:
    """The image paths `source` names, or None when it is an array file."""
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
    else:
        p = Path(source)
        if p.is_dir():
            paths = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
            if not paths:
                raise ModelError(f"{p}: calibration folder holds no image "
                                 f"({', '.join(sorted(IMAGE_SUFFIXES))})")
            return paths
        if p.suffix.lower() in (".npy", ".npz"):
            return None
        paths = [p]
    for q in paths:
        if not q.is_file():
            raise ModelError(f"{q}: calibration image not found")
    if not paths:
        raise ModelError("calibration: the list of images is empty")
    return paths


def _load_array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ModelError(f"{path}: calibration file not found")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable .npy/.npz file ({exc})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            keys = list(data.keys())
            if not keys:
                raise ModelError(f"{path}: the .npz file holds no array")
            arr = np.concatenate([np.asarray(data[k]) for k in keys]) if len(keys) > 1 and \
                all(data[k].ndim == 4 for k in keys) else np.asarray(data[keys[0]])
    else:
        arr = data
    return arr


def load_calibration(source, *, preprocess: Callable | None = None, limit: int | None = None) -> np.ndarray:
    """(N, C, H, W) float32 calibration inputs from `source` (see module docstring).

    A numpy array is accepted as is. An .npy/.npz of shape (C, H, W) is one sample.
    """
    label = "calibration array"
    if isinstance(source, np.ndarray):
        arr = source
    else:
        files = _image_files(source)
        if files is None:
            label = str(source)
            arr = _load_array(Path(source))
        else:
            if preprocess is None:
                raise ModelError(f"{files[0]}: calibration images need the model's preprocessing "
                                 "(resize and normalisation): pass preprocess=, or in the CLI "
                                 "--like ZOO_NAME, or give preprocessed NCHW inputs as an .npy file")
            files = files[: limit or MAX_IMAGES]
            batches = []
            for f in files:
                try:
                    x = np.asarray(preprocess(f), dtype=np.float32)
                except ModelError:
                    raise
                except Exception as exc:  # a user callable: report which file it failed on
                    raise ModelError(f"{f}: preprocessing failed ({exc})") from None
                batches.append(x[None] if x.ndim == 3 else x)
            shapes = {b.shape[1:] for b in batches}
            if len(shapes) != 1:
                raise ModelError(f"{files[0]}: preprocessed calibration images differ in shape "
                                 f"({sorted(shapes)})")
            arr = np.concatenate(batches)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ModelError(f"{label}: expected NCHW (4 dimensions), got shape {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ModelError(f"{label}: expected numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr[: limit or MAX_IMAGES], dtype=np.float32)
    if arr.shape[0] == 0:
        raise ModelError(f"{label}: holds no sample")
    if not np.isfinite(arr).all():
        raise ModelError(f"{label}: contains NaN or infinity")
    return arr


def input_name(model) -> str:
    names = [model.tensor_names[op.outputs[0]] for op in model.ops if op.type == OpType.Input and op.outputs]
    if len(names) != 1:
        raise ModelError(f"{model.path}: calibration needs a model with exactly one input "
                         f"(found {len(names)})")
    return names[0]


class Probe:
    """Run a model (a path or its bytes) in stock MNN and return named tensors as NCHW arrays."""

    def __init__(self, input_name: str, batch: int = 4):
        self.input_name = input_name
        self.batch = batch

    @contextlib.contextmanager
    def open(self, model: Path | bytes, names: Sequence[str], where: str, what: str = "calibration inputs"
             ) -> Iterator[Callable[[np.ndarray], list[np.ndarray]]]:
        """Yield forward(x) -> [array per name] for batches of x (any batch size)."""
        tmp = None
        if isinstance(model, (bytes, bytearray)):
            fd, tmp = tempfile.mkstemp(suffix=".mnn", prefix="sbnn-calib-")
            with os.fdopen(fd, "wb") as f:
                f.write(model)
            path = tmp
        else:
            path = str(model)
        try:
            module = MNNModule(path, [self.input_name], names, where=where)

            def one_call(x):
                try:
                    return module.forward(x), None
                except ModelError as exc:
                    return [], getattr(exc, "mnn_says", str(exc))

            state = {"batch": self.batch}

            def forward(x: np.ndarray) -> list[np.ndarray]:
                arrays, why = [], None
                if state["batch"] > 1 and x.shape[0] > 1:
                    arrays, why = one_call(x)
                    if not arrays:
                        state["batch"] = 1
                if not arrays:
                    # some models fix the batch in a Reshape (e.g. to 1 x classes): one at a time
                    per = []
                    for i in range(x.shape[0]):
                        one, why = one_call(x[i:i + 1])
                        if not one:
                            raise ModelError(f"{where}: stock MNN cannot run the {what} of shape "
                                             f"{tuple(x.shape[1:])} "
                                             f"({why or 'does the model take that input shape?'})")
                        per.append(one)
                    arrays = [np.concatenate(parts) for parts in zip(*per)]
                return arrays

            yield forward
        finally:
            if tmp is not None:
                os.unlink(tmp)

    def run(self, model: Path | bytes, inputs: np.ndarray, names: Sequence[str], where: str,
            sink: Callable[[int, list[np.ndarray]], None]) -> None:
        """Call sink(first_sample_index, [array per name]) for each batch of inputs."""
        with self.open(model, names, where) as forward:
            for start in range(0, inputs.shape[0], self.batch):
                sink(start, forward(inputs[start:start + self.batch]))
