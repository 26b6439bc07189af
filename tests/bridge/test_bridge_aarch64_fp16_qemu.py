"""precision=low sessions on ARMv8.2 (FP16): the bridge, cross-built for aarch64,
inside the aarch64 MNN==3.6.1 wheel under qemu-aarch64 -cpu neoverse-n1 (ARMv8.2-A
with FP16, where MNN answers precision=low with its fp16 backend). Tagged convs must
run on the fp16 kernels (no fallback) and match stock MNN's own fp16 run of the same
file, Interpreter and Module APIs, 1 and 2 threads, the zoo's 96 px MobileNet-V1 at 30 / 90 %
and EfficientNet-Lite0 at 50 % (Fashion-MNIST heads) and a 6-conv test net at 60 %.

Tolerance: both runs round to fp16 after every multiply-add, in different orders, over
layers of up to 1024-term sums, and feed their rounded outputs onward; stock fp16 itself
lands 2e-3 .. 1.2e-2 of max |output| away from stock fp32 on these models (measured in
the same run, reported with each case). 3e-2 of max |output| (~60 fp16 ulps at that
scale) bounds ours against stock fp16 and against fp32; a layout or rounding bug (a wrong
pack, fp16 read as fp32) gives O(1)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge_helpers import require
from test_bridge_aarch64_qemu import _arm64, _cross_build

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.qemu, pytest.mark.slow]
F16_TOL = 3e-2

CHILD = r"""
import json, sys
import numpy as np
import MNN
from sparsebytenn import plugin
backend = plugin.enable()
st = plugin.status()
out = {"backend": backend, "probe": st.probe, "low_precision": st.low_precision, "runs": []}
nn, F = MNN.nn, MNN.expr

def interpreter(path, shape, be, threads, precision="low"):
    it = MNN.Interpreter(path)
    s = it.createSession({"backend": be, "numThread": threads, "precision": precision})
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    it.getSessionInput(s).copyFrom(MNN.Tensor(tuple(shape), MNN.Halide_Type_Float, x, MNN.Tensor_DimensionType_Caffe))
    before = plugin.thread_conv_runs()
    it.runSession(s)
    o = it.getSessionOutput(s)
    h = MNN.Tensor(o.getShape(), MNN.Halide_Type_Float, np.zeros(o.getShape(), np.float32), MNN.Tensor_DimensionType_Caffe)
    o.copyToHostTensor(h)
    return np.array(h.getData(), np.float64).reshape(o.getShape()), plugin.thread_conv_runs() - before

def module(path, shape, be, threads, names):
    rm = nn.create_runtime_manager(({"backend": be, "numThread": threads, "precision": "low"},))
    m = nn.load_module_from_file(path, [names[0]], [names[1]], runtime_manager=rm)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    before = plugin.thread_conv_runs()
    y = m.forward([F.const(x, list(shape), F.NCHW)])
    y = y[0] if isinstance(y, (list, tuple)) else y
    y = np.array(F.convert(y, F.NCHW).read() if y.data_format != F.NCHW else y.read(), np.float64)
    return y, plugin.thread_conv_runs() - before

def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())

for path, shape, names, cases in json.loads(sys.argv[1]):
    # Stock MNN's fp16 run (1 thread: its sums do not depend on the thread count), and
    # its fp32 run, to show how far fp16 itself moves the outputs.
    ref, _ = interpreter(path, shape, 0, 1)
    ref32, _ = interpreter(path, shape, 0, 1, "normal")
    for api, threads in cases:
        ours, convs = interpreter(path, shape, backend, threads) if api == "interpreter" else \
            module(path, shape, backend, threads, names)
        out["runs"].append({"model": path, "api": api, "threads": threads, "err": rel(ours, ref), "convs": convs,
                            "stock_fp16_vs_fp32": rel(ref, ref32), "ours_vs_fp32": rel(ours, ref32)})
print("RESULT " + json.dumps(out))
"""


def test_fp16_sessions_match_stock_fp16_under_qemu(bridge, small_models, tmp_path):
    for tool in ("qemu-aarch64", "aarch64-linux-gnu-g++", "cmake"):
        require(shutil.which(tool) is not None, f"`{tool}` (scripts/setup.sh installs it)")
    root, venv = _arm64()
    lib = _cross_build(ROOT / "build" / "bridge-aarch64")
    from sparsebytenn import zoo
    from sparsebytenn_converter import convert

    _, sparse, tagged, _ = small_models
    both = [("interpreter", 1), ("interpreter", 2), ("module", 1)]
    models = [(str(sparse), [1, 16, 15, 15], ["input", "output"], both)]
    expect = {str(sparse): len(tagged)}
    # The zoo's 96 px models (stock fp16 MobileNet-V1 at 224 px takes 24 s a run under qemu).
    one_each = [("interpreter", 2), ("module", 1)]
    for name, sp, cases in (("mobilenet-v1-fmnist", 0.3, one_each), ("mobilenet-v1-fmnist", 0.9, [("interpreter", 1)]),
                            ("efficientnet-lite0-fmnist", 0.5, one_each)):
        info = zoo.info(name)
        mb = tmp_path / f"{name}-{sp}.mnn"
        report = convert(str(zoo.get(name, progress=False)), str(mb), sparsity=sp, plain=True, progress=False)
        expect[str(mb)] = sum(1 for layer in report.layers if layer.tagged)
        models.append((str(mb), info["input_shape"], [info["input_name"], info["output_name"]], cases))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(ROOT / d) for d in ("python", "converter")),
               SPARSEBYTENN_MNN_BRIDGE=str(lib), SPARSEBYTENN_HOME=str(tmp_path / "home"), QEMU_LD_PREFIX=str(root),
               QEMU_CPU="neoverse-n1")
    r = subprocess.run(["qemu-aarch64", "-L", str(root), str(venv / "bin" / "python"), "-c", CHILD,
                        json.dumps(models)], capture_output=True, text=True, timeout=1800, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(next(ln for ln in r.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert res["backend"] == bridge.BRIDGE_TYPE, res
    # The probe found that precision=low computes in fp16 here and that ours match it.
    assert res["probe"]["fp16"] and res["low_precision"], res["probe"]
    for run in res["runs"]:
        assert run["err"] <= F16_TOL and run["ours_vs_fp32"] <= F16_TOL, run
        # Every tagged conv ran on the fp16 kernels: no fallback.
        assert run["convs"] == expect[run["model"]], run
