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
    flattened output of a one-output model for every row of x (N, C, H, W). An independent reference for
    code that runs models through the Module API or the plugin (through the one stock-MNN
    runner, mnn_wheel.MNNSession, itself tested against numpy in tests/test_mnn_wheel.py)."""
    import numpy as np

    from sparsebytenn_converter.mnn_wheel import MNNSession

    stock = MNNSession(path)
    return np.array([stock.run_single(np.ascontiguousarray(image[None], np.float32)).ravel() for image in x])


def fixed_batch_model(folder):
    """conv 1x1 (3->8) + ReLU, a Reshape that bakes in batch 1, FC 128->5 (torch -> ONNX ->
    MNN's converter): MNN runs it with batch 1 and fails with status 3 (compute size error)
    at batch 4. Returns (the .mnn, {name: float64 weights} for a numpy forward)."""
    import numpy as np
    import torch

    from sparsebytenn_converter.mnn_wheel import mnnconvert

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(s):
            super().__init__()
            s.c, s.fc = torch.nn.Conv2d(3, 8, 1), torch.nn.Linear(8 * 4 * 4, 5)

        def forward(s, x):
            return s.fc(torch.relu(s.c(x)).reshape(1, 128))

    net = Net().eval()
    onnx, path = folder / "r.onnx", folder / "r.mnn"
    torch.onnx.export(net, torch.randn(1, 3, 4, 4), str(onnx), opset_version=13, dynamo=False,
                      input_names=["input"], output_names=["out"])
    ok, log = mnnconvert("-f", "ONNX", "--modelFile", onnx, "--MNNModel", path, "--bizCode", "test")
    assert ok and path.is_file(), log
    return path, {k: v.detach().numpy().astype(np.float64) for k, v in net.state_dict().items()}
