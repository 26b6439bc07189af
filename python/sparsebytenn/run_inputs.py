"""The inputs `sparsebytenn run` feeds a model: files given per input name, random
data of each input's own shape for the rest."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import SparseByteNNError

# Random inputs above this many values (256 MiB of float32, e.g. 3 x 4730 x 4730) are
# more likely a wrong or corrupted input shape than what the user wants timed.
MAX_RANDOM_VALUES = 1 << 26


def parse(specs: list[str] | None) -> list[tuple[str | None, Path]]:
    """`--input` values: "FILE.npy" (single-input models) or "NAME=FILE.npy"."""
    out = []
    for spec in specs or []:
        name, path = spec.split("=", 1) if "=" in spec and not Path(spec).is_file() else (None, spec)
        if name == "" or path == "":
            raise SparseByteNNError(f"--input {spec!r}: give NAME=FILE.npy or FILE.npy")
        out.append((name, Path(path)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise SparseByteNNError(f"--input: an input is given twice ({names})")
    return out


def load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise SparseByteNNError(f"{path}: no such input file")
    try:
        return np.load(path, allow_pickle=False).astype(np.float32)
    except (ValueError, OSError) as exc:
        raise SparseByteNNError(f"{path}: not a readable .npy array ({exc})") from None


def build(sess, specs: list[tuple[str | None, Path]]) -> dict[str, np.ndarray]:
    """{input name: array} for every input of the session's model."""
    names = list(sess.input_names)
    given = {}
    for name, path in specs:
        if name is None:
            if len(names) != 1:
                raise SparseByteNNError(f"{sess.path}: the model has inputs {names}; name each one: "
                                        f"--input NAME=FILE.npy")
            name = names[0]
        if name not in names:
            raise SparseByteNNError(f"{sess.path}: no input named {name!r}; inputs are {names}")
        given[name] = load(path)
    rng = np.random.default_rng(0)
    out = {}
    for name in names:
        if name in given:
            out[name] = given[name]
        else:
            shape = tuple(max(1, d) for d in sess.input_shape(name))
            if math.prod(shape) > MAX_RANDOM_VALUES:
                raise SparseByteNNError(f"{sess.path}: input {name!r} has shape {shape}, {math.prod(shape):,} values; "
                                        f"more than {MAX_RANDOM_VALUES:,} are not made up at random -- give it with "
                                        f"--input {name}=FILE.npy")
            out[name] = rng.standard_normal(shape, dtype=np.float32)
    return out
