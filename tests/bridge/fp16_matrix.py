"""The fp16 bridge matrix under qemu-aarch64: models x sparsities x (API, threads),
each run against stock MNN's own fp16 run of the same file. Shared by the suite's
reduced test (test_bridge_aarch64_fp16_qemu.py) and the full matrix
(docs/results/arm_fp16_bridge.py, every zoo model at 30 / 50 / 90 %)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from bridge_helpers import require
from test_bridge_aarch64_qemu import _arm64, _cross_build

ROOT = Path(__file__).resolve().parents[2]
ALL_CASES = [("interpreter", 1), ("interpreter", 2), ("module", 1), ("module", 2)]

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



def zoo_model(name: str, sparsity: float, folder: Path, cases, group=None) -> tuple[list, int]:
    """(matrix row, tagged conv count) for the zoo model `name` converted at `sparsity`
    (group: G for every layer; None: the converter's default)."""
    from sparsebytenn import zoo
    from sparsebytenn_converter import convert

    info = zoo.info(name)
    mb = folder / f"{name}-{sparsity}-G{group or 'default'}.mnn"
    report = convert(str(zoo.get(name, progress=False)), str(mb), sparsity=sparsity, plain=True, progress=False,
                     group=group)
    row = [str(mb), list(info["input_shape"]), [info["input_name"], info["output_name"]], list(cases)]
    return row, sum(1 for layer in report.layers if layer.tagged)


def run_matrix(models: list, home: Path, timeout: int = 1800) -> dict:
    """Runs CHILD under qemu-aarch64 -cpu neoverse-n1 with the cross-built bridge; returns its result."""
    for tool in ("qemu-aarch64", "aarch64-linux-gnu-g++", "cmake"):
        require(shutil.which(tool) is not None, f"`{tool}` (scripts/setup.sh installs it)")
    root, venv = _arm64()
    lib = _cross_build(ROOT / "build" / "bridge-aarch64")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(ROOT / d) for d in ("python", "converter")),
               SPARSEBYTENN_MNN_BRIDGE=str(lib), SPARSEBYTENN_HOME=str(home), QEMU_LD_PREFIX=str(root),
               QEMU_CPU="neoverse-n1")
    r = subprocess.run(["qemu-aarch64", "-L", str(root), str(venv / "bin" / "python"), "-c", CHILD,
                        json.dumps(models)], capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(next(ln for ln in r.stdout.splitlines() if ln.startswith("RESULT "))[7:])
