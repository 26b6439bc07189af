"""Run a model in stock MNN and read its penultimate features and its logits.

The feature tensor is the one feeding the classifier: the input of the model's
last convolution (MNN stores FC as a 1x1 convolution), followed back through
pure layout ops (ConvertTensor, Reshape, Flatten, Squeeze) to the pooled
activations. MNN's Module API returns any named tensor when it is listed as an
output, so the same graph (and the same MNN kernels) computes both.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sparsebytenn_converter import read_model
from sparsebytenn_converter.schema import OpType

from ..errors import SparseByteNNError

# MNN op types that only move or re-view data (names as the converter's reader gives them).
LAYOUT_OPS = {"ConvertTensor", "Reshape", "Flatten", "Squeeze", "Unsqueeze"}


def model_io(path: Path) -> dict:
    """{'inputs': [names], 'outputs': [names], 'feature': name, 'classifier': conv name}."""
    model = read_model(path)
    inputs = [model.tensor_names[op.outputs[0]] for op in model.ops
              if op.type == OpType.Input and op.outputs]
    if not inputs:
        raise SparseByteNNError(f"{path}: the model declares no Input op")
    outputs = list(model.output_names)
    convs = [c for c in model.convs if c.op_type == OpType.Convolution]
    if not convs:
        raise SparseByteNNError(f"{path}: no convolution found, so no classifier to read features from")
    last = convs[-1]
    producer = {t: op for op in model.ops for t in op.outputs}
    t = model.ops[last.op_index].inputs[0]
    for _ in range(16):
        op = producer.get(t)
        if op is None or op.type_name not in LAYOUT_OPS or not op.inputs:
            break
        t = op.inputs[0]
    return {"inputs": inputs, "outputs": outputs, "feature": model.tensor_names[t], "classifier": last.name}


class MNNRunner:
    """One stock-MNN module computing the named outputs for a batch of NCHW inputs."""

    def __init__(self, path: Path, input_name: str, outputs: list[str], threads: int = 1):
        from ..plugin import _quiet_stdout, import_mnn

        self.mnn = import_mnn()
        self.path = Path(path)
        self.outputs = list(outputs)
        nn = self.mnn.nn
        with _quiet_stdout():
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


def run_batches(runner: MNNRunner, n: int, make_batch, batch: int = 32, progress=None) -> list[np.ndarray]:
    """Concatenated outputs over n items; make_batch(start, stop) gives the inputs."""
    parts: list[list[np.ndarray]] = [[] for _ in runner.outputs]
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        for i, o in enumerate(runner(make_batch(start, stop))):
            parts[i].append(o)
        if progress is not None:
            progress.update(stop - start)
    return [np.concatenate(p) for p in parts]


def feature_permutation(dense: Path, variant: Path, classifier: str) -> np.ndarray | None:
    """perm with variant_feature[:, j] == dense_feature[:, perm[j]], or None if unchanged.

    Whole-network rearrangement permutes the output channels of the last pruned
    layer and, to keep the function, the classifier's input columns with them, so
    the penultimate features of a rearranged model come in another order. The
    classifier itself is never pruned (skip last), so its columns are exact copies:
    matching them recovers the order, and the probe fitted on dense features then
    reads the variant's features in the same order.
    """
    wd = read_model(dense).conv(classifier).weights
    wv = read_model(variant).conv(classifier).weights
    if wd is None or wv is None or wd.shape != wv.shape:
        raise SparseByteNNError(f"{variant}: classifier {classifier!r} is not a copy of the dense one")
    cols_d = np.ascontiguousarray(np.moveaxis(wd.reshape(wd.shape[0], wd.shape[1], -1), 1, 0))
    cols_v = np.ascontiguousarray(np.moveaxis(wv.reshape(wv.shape[0], wv.shape[1], -1), 1, 0))
    where: dict[bytes, list[int]] = {}
    for i, col in enumerate(cols_d):
        where.setdefault(col.tobytes(), []).append(i)
    perm = np.empty(len(cols_v), np.int64)
    for j, col in enumerate(cols_v):
        found = where.get(col.tobytes())
        if not found:
            raise SparseByteNNError(f"{variant}: classifier {classifier!r} input column {j} matches no "
                                    "column of the dense classifier; cannot align the features")
        perm[j] = found.pop(0)       # identical columns (e.g. dead channels): taken in order
    return None if np.array_equal(perm, np.arange(len(perm))) else perm
