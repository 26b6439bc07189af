"""Batches of NCHW inputs through stock MNN's Module API, reading named outputs: the
accuracy protocols' fast path over thousands of images (one input at a time, with every
status checked, is Session; this is for batches)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sparsebytenn_converter import read_model
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
    """One stock-MNN module computing the named outputs for a batch of NCHW inputs."""

    def __init__(self, path: Path, input_name: str, outputs: list[str], threads: int = 1):
        from sparsebytenn_converter.mnn_wheel import import_mnn, quiet

        self.mnn = import_mnn()
        self.path = Path(path)
        self.outputs = list(outputs)
        nn = self.mnn.nn
        with quiet():
            rt = nn.create_runtime_manager(({"backend": "CPU", "numThread": int(threads)},))
            self.module = nn.load_module_from_file(str(path), [input_name], self.outputs, runtime_manager=rt)
        if self.module is None:
            raise SparseByteNNError(f"{path}: MNN could not load the model with outputs {self.outputs}")

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        F = self.mnn.expr
        x = np.ascontiguousarray(x, np.float32)
        outs = self.module.forward([F.const(x, list(x.shape), F.NCHW)])
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        res = []
        for v in outs:
            if v.data_format != F.NCHW:
                v = F.convert(v, F.NCHW)
            res.append(np.array(v.read(), dtype=np.float32, copy=True).reshape(len(x), -1))
        return res
