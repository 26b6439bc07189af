"""Independent references for converter tests: stock MNN runs models, MNN's own JSON
dump gives the weights, numpy does the arithmetic. Nothing here uses the converter
(mnn_wheel is only the door to stock MNN's wheel)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from sparsebytenn_converter.mnn_wheel import MNNSession, import_mnn

MNN = import_mnn()


def mnn_run(path, x: np.ndarray) -> np.ndarray:
    """Run a model in stock MNN (CPU, 1 thread) and return its one output (through the
    project's one stock-MNN runner, mnn_wheel.MNNSession, tested in tests/test_mnn_wheel.py)."""
    return MNNSession(path).run_single(x)


def _mnnconvert(args, out: Path):
    # in a subprocess: MNN's converter prints a lot and keeps global state; its return
    # value is not an exit status, so success is the output file appearing
    Path(out).unlink(missing_ok=True)
    code = "import sys, _tools; _tools.mnnconvert(['mnnconvert'] + sys.argv[1:])"
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    assert Path(out).is_file() and Path(out).stat().st_size > 0, r.stdout + r.stderr


def mnn_json(path, tmp: Path) -> dict:
    """The model as MNN's own converter dumps it to JSON."""
    out = tmp / (Path(path).stem + ".json")
    _mnnconvert(["-f", "MNN", "--modelFile", path, "--JsonFile", out], out)
    return json.loads(out.read_text())


def json_to_mnn(j: dict, out: Path) -> Path:
    src = out.with_suffix(".json")
    src.write_text(json.dumps(j))
    _mnnconvert(["-f", "JSON", "--modelFile", src, "--MNNModel", out], out)
    return out


def json_conv_weights(j: dict) -> dict[str, np.ndarray]:
    """name -> OIHW weights of every Convolution/ConvolutionDepthwise, decoding MNN's
    float-sparse coding (quanParameter index/alpha) when present."""
    out = {}
    for op in j["oplists"]:
        if op.get("type") not in ("Convolution", "ConvolutionDepthwise"):
            continue
        p = op["main"]
        c = p["common"]
        O, kh, kw = c["outputCount"], c.get("kernelY", 1), c.get("kernelX", 1)
        if p.get("weight"):
            w = np.array(p["weight"], np.float32)
        else:
            q = p["quanParameter"]
            w = np.zeros(q["weightSize"], np.float32)
            w[np.array(q["index"], np.int64)] = np.array(q["alpha"], np.float32)
        out[op["name"]] = w.reshape(O, -1, kh, kw)
    return out


def exact_conv_weights(path, tmp: Path) -> dict[str, np.ndarray]:
    """name -> OIHW weights, bit-exact, read with the tests' own FlatBuffers navigator
    (fbedit) and checked against MNN's JSON dump, which prints floats to 6 decimals
    (so on its own it turns weights below 5e-7, common after batch-norm folding, into
    zeros). Nothing here uses the project's reader."""
    import fbedit

    exact = fbedit.FB(Path(path).read_bytes()).conv_weights()
    dumped = json_conv_weights(mnn_json(path, tmp))
    assert set(exact) == set(dumped)
    for name, w in exact.items():
        d = dumped[name]
        assert w.shape == d.shape, name
        assert np.all(np.abs(w - d) <= 1e-6 + 1e-6 * np.abs(w)), f"{name}: fbedit and MNN's dump disagree"
    return exact


def zero_groups(w: np.ndarray, G: int) -> np.ndarray:
    """(O//G, I) True where a whole group (G output channels x 1 input channel x all
    taps) is zero; the O mod G tail rows are left out."""
    O, I = w.shape[:2]
    return (w[: O // G * G] == 0).all(axis=(2, 3)).reshape(-1, G, I).all(axis=1)


def partial_groups(w: np.ndarray, G: int) -> int:
    """How many groups hold some but not all of their (output, input) kernels at zero."""
    O, I = w.shape[:2]
    pair_zero = (w[: O // G * G] == 0).all(axis=(2, 3)).reshape(-1, G, I)
    return int((pair_zero.any(axis=1) & ~pair_zero.all(axis=1)).sum())


def build_test_model(path: Path) -> Path:
    """A small net with every structure the converter must handle: 3x3 stem, depthwise,
    pointwise, a residual add, a concat, a kxk group-1 conv and an FC (Gemm)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(s):
            super().__init__()
            s.stem = nn.Conv2d(3, 16, 3, 2, 1)
            s.dw1 = nn.Conv2d(16, 16, 3, 1, 1, groups=16)
            s.pw1 = nn.Conv2d(16, 32, 1)
            s.pw2 = nn.Conv2d(32, 32, 1)
            s.dw2 = nn.Conv2d(32, 32, 3, 1, 1, groups=32)
            s.pw3 = nn.Conv2d(32, 32, 1)
            s.k3 = nn.Conv2d(32, 24, 3, 1, 1)
            s.pw4 = nn.Conv2d(32, 21, 1)      # 21 = not a multiple of G: tail rows
            s.pw5 = nn.Conv2d(45, 40, 1)
            s.fc = nn.Linear(40, 10)

        def forward(s, x):
            x = torch.relu(s.stem(x))
            x = torch.clamp(s.dw1(x), 0, 6)
            a = torch.relu(s.pw1(x))
            b = torch.relu(s.pw2(a))
            b = s.pw3(torch.relu(s.dw2(b)))
            r = a + b
            c = torch.cat([s.k3(r), s.pw4(r)], 1)
            c = torch.relu(s.pw5(c))
            c = torch.nn.functional.adaptive_avg_pool2d(c, 1).flatten(1)
            return s.fc(c)

    onnx_path = path.with_suffix(".onnx")
    torch.onnx.export(Net().eval(), torch.randn(1, 3, 32, 32), str(onnx_path), opset_version=13,
                      dynamo=False, input_names=["input"], output_names=["logits"])
    _mnnconvert(["-f", "ONNX", "--modelFile", onnx_path, "--MNNModel", path, "--bizCode", "test"], path)
    return path


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def inputs(n: int, seed: int) -> np.ndarray:
    """n standard-normal inputs (n, 3, 32, 32) for build_test_model's network."""
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)
