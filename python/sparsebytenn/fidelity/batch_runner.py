"""Batches of NCHW inputs through stock MNN's Module API, reading named outputs: the
accuracy protocols' fast path over thousands of images (one input at a time, with every
status checked, is Session; this is for batches)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sparsebytenn_converter import read_model
from sparsebytenn_converter.errors import ModelError
from sparsebytenn_converter.schema import OpType

from ..errors import SparseByteNNError


def model_io(path: Path) -> dict:
    """{'inputs': [names], 'outputs': [names]} of a model file."""
    model = read_model(path)
    inputs = [model.tensor_names[op.outputs[0]] for op in model.ops
              if op.type == OpType.Input and op.outputs]
    if not inputs:
        raise SparseByteNNError(f"{path}: the model declares no Input op")
    if not model.output_names:
        raise SparseByteNNError(f"{path}: the model names no output tensor")
    return {"inputs": inputs, "outputs": list(model.output_names)}


class BatchRunner:
    """One stock-MNN module (mnn_wheel.MNNModule) computing the named outputs for a batch
    of NCHW inputs, each flattened per input."""

    def __init__(self, path: Path, input_name: str, outputs: list[str], threads: int = 1):
        from sparsebytenn_converter.mnn_wheel import MNNModule

        self.path = Path(path)
        self.outputs = list(outputs)
        try:
            self.module = MNNModule(path, [input_name], self.outputs, threads=threads)
        except ModelError as exc:
            raise SparseByteNNError(str(exc)) from None

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        try:
            return [a.reshape(len(x), -1) for a in self.module.forward(x)]
        except ModelError as exc:
            raise SparseByteNNError(str(exc)) from None
