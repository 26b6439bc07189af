"""Shared test helpers (import with `from sbnn_testing import require`; tests/ is on pytest's pythonpath).

`require(cond, why)`: a test that needs a toolchain or package that is missing
FAILS under CI (CI=true) and is skipped with the reason printed elsewhere, so a
missing install step can never turn CI green by skipping.
"""
import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, why: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required for CI but missing: {why}", pytrace=False)
    pytest.skip(f"missing: {why}")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"`{name}` is not on PATH (scripts/setup.sh installs it)")
    return path


def stock_mnn_logits(path, x):
    """Stock MNN's Interpreter API, one input at a time (no batching, no Module API): the
    flattened first output for every row of x (N, C, H, W). An independent reference for
    code that runs models through the Module API or the plugin."""
    import contextlib
    import io

    import numpy as np

    with contextlib.redirect_stdout(io.StringIO()):
        import MNN
    it = MNN.Interpreter(str(path))
    s = it.createSession({"numThread": 1})
    out = []
    for image in x:
        one = np.ascontiguousarray(image[None], np.float32)
        it.getSessionInput(s).copyFrom(MNN.Tensor(one.shape, MNN.Halide_Type_Float, one,
                                                  MNN.Tensor_DimensionType_Caffe))
        assert it.runSession(s) == 0
        o = it.getSessionOutput(s)
        host = MNN.Tensor(o.getShape(), MNN.Halide_Type_Float, np.zeros(o.getShape(), np.float32),
                          MNN.Tensor_DimensionType_Caffe)
        o.copyToHostTensor(host)
        out.append(np.array(host.getData(), np.float32).ravel())
    return np.array(out)
