"""Memory on big models: a conversion never holds several copies of all the weights.

The peak RSS of a conversion in a fresh process, minus the same process's peak after
importing everything the conversion uses, must stay within a small multiple of the
model's size. The reference is the operating system's own account (getrusage).
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sbnn_testing import require
from helpers import _mnnconvert

CHANNELS, LAYERS = 1024, 9         # 8 pointwise layers of 1 M weights: a 34 MB model
# Peak above the imports, in model sizes, plus MNN's and numpy's own working memory. Before
# these limits it was 14x (plain) and 15x (calibrated): the input bytes, a float32 copy of
# every weight, a second copy of the pruned layers, the rewriter's buffer and its bytes()
# copy, five model-sized temporaries in compaction, every tagged layer decoded again for the
# round-trip check, and both models loaded in MNN at once for the fidelity check.
LIMITS = {"plain": 7.0, "calibrated": 10.0}
CONSTANT_MB = 20.0
CHILD = r"""
import json, sys
import numpy as np
from sparsebytenn_converter.mnn_wheel import import_mnn
import_mnn()
from sparsebytenn_converter import convert
from sparsebytenn_converter import calibration, compact, encode, fidelity, reconstruct  # noqa: F401
def hwm_kb():   # VmHWM: this process's peak (ru_maxrss keeps the parent's from before exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
base = hwm_kb()
opts = json.loads(sys.argv[3])
if opts.pop("calibrate", 0):
    opts["calibration"] = np.random.default_rng(0).uniform(-1, 1, (8, 3, 4, 4)).astype(np.float32)
convert(sys.argv[1], sys.argv[2], progress=False, **opts)
print(json.dumps({"base_kb": base, "peak_kb": hwm_kb()}))
"""


@pytest.fixture(scope="module")
def big_model(tmp_path_factory):
    require(importlib.util.find_spec("torch") is not None and importlib.util.find_spec("onnx") is not None,
            "torch and onnx (scripts/setup.sh installs them) to build the test model")
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    layers = [nn.Conv2d(3, CHANNELS, 3, padding=1), nn.ReLU()]
    for _ in range(LAYERS - 1):     # pointwise: calibration's per-layer statistics stay small
        layers += [nn.Conv2d(CHANNELS, CHANNELS, 1), nn.ReLU()]
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(CHANNELS, 10)).eval()
    path = tmp_path_factory.mktemp("big") / "big.mnn"
    onnx_path = path.with_suffix(".onnx")
    torch.onnx.export(net, torch.randn(1, 3, 4, 4), str(onnx_path), opset_version=13, dynamo=False,
                      input_names=["input"], output_names=["logits"])
    _mnnconvert(["-f", "ONNX", "--modelFile", onnx_path, "--MNNModel", path, "--bizCode", "test"], path)
    onnx_path.unlink()
    return path


def peak_mb(model: Path, out: Path, **opts) -> float:
    """Peak RSS of converting `model` in a fresh process, above its peak after the imports."""
    r = subprocess.run([sys.executable, "-c", CHILD, str(model), str(out), json.dumps(opts)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    return (got["peak_kb"] - got["base_kb"]) / 1024


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["plain", "calibrated"])
def test_conversion_memory_is_a_small_multiple_of_the_model(big_model, tmp_path, kind):
    opts = dict(plain=True) if kind == "plain" else dict(calibrate=1)
    size = big_model.stat().st_size / 2**20
    assert size > 30
    extra = peak_mb(big_model, tmp_path / "out.mnn", sparsity=0.5, group=8, **opts)
    print(f"peak {extra:.0f} MB above the imports for a {size:.1f} MB model ({extra / size:.2f}x)")
    assert extra < LIMITS[kind] * size + CONSTANT_MB, f"{extra:.0f} MB above the imports for a {size:.0f} MB model"
