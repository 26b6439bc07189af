"""torch -> ONNX -> MNN, and running an .mnn once to check the conversion.

MNN's converter is called in-process through the wheel's `_tools` extension. The
`mnnconvert` console script must never be used: it pip-installs a logging SDK
(which breaks `onnx` by downgrading protobuf) and sends telemetry.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import SparseByteNNError

ONNX_OPSET = 13


@contextlib.contextmanager
def captured_stdio() -> Iterator[list[str]]:
    """Capture what native code writes to fd 1 and 2 (MNN prints there directly)."""
    out: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            out.append(tmp.read().decode(errors="replace"))


def import_mnn():
    """`import MNN` without its banner ("The device supports: ...") on stdout."""
    if "MNN" not in sys.modules:
        with captured_stdio():
            import MNN  # noqa: F401
    return sys.modules["MNN"]


def torch_to_onnx(model, input_shape, dst: Path, input_name: str, output_name: str) -> None:
    import torch

    x = torch.zeros(*input_shape)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(dst), opset_version=ONNX_OPSET, dynamo=False,
                          input_names=[input_name], output_names=[output_name],
                          do_constant_folding=True)
    import onnx

    onnx.checker.check_model(onnx.load(str(dst)))


def onnx_to_mnn(src: Path, dst: Path) -> None:
    import_mnn()
    with captured_stdio():
        import _tools  # the converter; prints the same banner as MNN on import

    args = ["mnnconvert", "-f", "ONNX", "--modelFile", str(src), "--MNNModel", str(dst),
            "--bizCode", "sparsebytenn"]
    with captured_stdio() as log:
        rc = _tools.mnnconvert(args)
    # _tools.mnnconvert returns True on success (older builds: 0 or None).
    ok = rc is True or (rc is not False and rc in (None, 0))
    if not ok or not dst.exists() or dst.stat().st_size == 0:
        tail = " | ".join(log[0].strip().splitlines()[-5:]) if log else ""
        raise SparseByteNNError(f"{src}: MNN's converter failed (rc={rc}): {tail}")


def run_mnn(path: Path, x: np.ndarray) -> np.ndarray:
    """One forward pass with stock MNN (CPU, 1 thread); returns the single output."""
    MNN = import_mnn()
    interpreter = MNN.Interpreter(str(path))
    with captured_stdio():
        session = interpreter.createSession({"numThread": 1})
    inp = interpreter.getSessionInput(session)
    if tuple(inp.getShape()) != tuple(x.shape):
        interpreter.resizeTensor(inp, tuple(x.shape))
        interpreter.resizeSession(session)
    x = np.ascontiguousarray(x, dtype=np.float32)
    inp.copyFrom(MNN.Tensor(x.shape, MNN.Halide_Type_Float, x, MNN.Tensor_DimensionType_Caffe))
    interpreter.runSession(session)
    out = interpreter.getSessionOutput(session)
    host = MNN.Tensor(out.getShape(), MNN.Halide_Type_Float,
                      np.zeros(out.getShape(), np.float32), MNN.Tensor_DimensionType_Caffe)
    out.copyToHostTensor(host)
    result = np.array(host.getData(), dtype=np.float32).reshape(out.getShape())
    return result
