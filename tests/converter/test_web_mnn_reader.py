"""plugin/web/mnn_reader.mjs (JS, under node): the tagged convs of a converted .mnn,
checked against the tests' own FlatBuffers navigator (fbedit, bit-exact weights) and
MNN's own JSON dump (bias, strides, padding, fused ReLU), then each one run through
the ES module and compared with a float64 numpy convolution of those weights."""
from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbnn_testing import require, require_tool
from helpers import build_test_model, exact_conv_weights, mnn_json

from sparsebytenn_converter import convert

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kernels"))
from kernel_reference import conv2d_reference, tolerance  # noqa: E402

DRIVER = Path(__file__).with_name("mnn_reader_driver.mjs")
H = W = 9


def _read(model, out, simd):
    r = subprocess.run([shutil.which("node"), "--no-warnings", str(DRIVER), str(model), str(ROOT / "plugin" / "web"),
                        str(simd), str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads((out / "meta.json").read_text())


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    require(importlib.util.find_spec("torch") is not None and importlib.util.find_spec("onnx") is not None,
            "torch and onnx (scripts/setup.sh installs them) to build the test model")
    require_tool("node")
    require_tool("clang++-19")
    from sparsebytenn.bench.kernel_peers import build_wasm

    d = tmp_path_factory.mktemp("webmnn")
    small = build_test_model(d / "small.mnn")
    out = d / "s.mnn"
    convert(small, out, sparsity=0.6, group=4, plain=True, progress=False)
    return out, build_wasm(False), d


@pytest.mark.wasm
def test_js_reads_and_runs_the_tagged_convs(tagged, tmp_path):
    model, simd, d = tagged
    exact = exact_conv_weights(model, d)
    ops = {op["name"]: op for op in mnn_json(model, d)["oplists"]}
    tagged_names = {n for n, op in ops.items() if op.get("main", {}).get("sparseParameter")}
    assert len(tagged_names) == 6
    rng = np.random.default_rng(7)
    xs, inputs = {}, {}
    for j, n in enumerate(sorted(tagged_names)):
        xs[n] = rng.standard_normal((1, exact[n].shape[1], H, W)).astype(np.float32)
        xs[n].tofile(tmp_path / f"x_{j}.f32")
        inputs[n] = j
    (tmp_path / "in.json").write_text(json.dumps({"h": H, "w": W, "inputs": inputs}))
    meta = _read(model, tmp_path, simd)
    assert {m["name"] for m in meta} == tagged_names
    for i, m in enumerate(meta):
        name, op = m["name"], ops[m["name"]]
        c = op["main"]["common"]
        w_ref = exact[name]
        w = np.fromfile(tmp_path / f"w_{i}.f32", np.float32).reshape(m["shape"])
        assert m["shape"] == list(w_ref.shape) and np.array_equal(w, w_ref), name
        b_ref = np.array(op["main"]["bias"], np.float32)
        b = np.fromfile(tmp_path / f"b_{i}.f32", np.float32)
        assert np.allclose(b, b_ref, rtol=1e-5, atol=1e-6), name
        assert m["group"] == 4 and m["sbnnFormat"] == 1, m
        stride, dil = (c.get("strideY", 1), c.get("strideX", 1)), (c.get("dilateY", 1), c.get("dilateX", 1))
        assert m["stride"] == list(stride) and m["dilation"] == list(dil), m
        pads = c.get("pads") or [c.get("padY", 0), c.get("padX", 0)] * 2
        assert m["padMode"] == c.get("padMode", "CAFFE") and m["padding"] == list(pads[:4]), (m, c)
        lo, hi = (0.0 if c.get("relu") or c.get("relu6") else -np.inf), (6.0 if c.get("relu6") else np.inf)
        assert (m["lo"], m["hi"]) == (lo if lo == 0 else "-inf", hi if hi == 6 else "inf"), m
        ref = conv2d_reference(xs[name], w_ref, b, stride, dil, pads[:4], lo, hi)
        y = np.fromfile(tmp_path / f"y_{i}.f32", np.float32).reshape(m["yshape"])
        assert y.shape == ref.shape and np.abs(y - ref).max() <= tolerance(w_ref, xs[name]), name


@pytest.mark.wasm
def test_js_reader_refuses_broken_files(tagged, tmp_path):
    model, simd, d = tagged
    data = model.read_bytes()
    # one alpha vector's length field made huge (found by its count and first value, from fbedit's weights)
    w = next(w for w in exact_conv_weights(model, d).values() if np.count_nonzero(w) != w.size)
    head = struct.pack("<If", np.count_nonzero(w), w.ravel()[np.flatnonzero(w)[0]])
    at = data.find(head)
    assert at > 0 and data.find(head, at + 1) < 0
    long_vector = data[:at] + struct.pack("<I", 0x7FFFFFF0) + data[at + 4:]
    for k, broken in enumerate((data[: len(data) // 2], b"\xff\xff\xff\x7f" + data[4:], b"", long_vector)):
        out = tmp_path / str(k)
        out.mkdir()
        bad = out / "bad.mnn"
        bad.write_bytes(broken)
        meta = _read(bad, out, simd)
        assert isinstance(meta, dict) and meta["error"].startswith("RangeError: mnn_reader:"), meta
