"""Dense 1x1 convs (more input channels than the direct conv kernels take) run by the
bridge on the group-sparse kernels with every unit kept, inside real MNN sessions:
against a float64 numpy forward and against stock MNN on the same file (1e-4
relative), with the AVX2 and AVX-512 kernels (SPARSEBYTENN_ISA), 1 and 2 threads,
Interpreter and Module API, batches and image sizes from 1x1 up; channel counts that
fill no 8-channel block or group of 8, stride 2, padding, ReLU / ReLU6 / none.
SPARSEBYTENN_PWCONV=off gives stock MNN's outputs bit for bit; under auto each conv
keeps what measured faster; a tagged sparse conv stays a sparse conv.

The model is an ONNX graph (onnx.helper) converted by MNN's own converter, as in
bridge_models.py; nothing here uses the project's converter."""
from __future__ import annotations

import numpy as np
import pytest

from bridge_helpers import (TOL, check_auto_margins, check_auto_off_without_simd, check_forced_off, check_module_api,
                            conv_chain, has_module, rel_err, require)

INPUT = (1, 20, 13, 11)
# (name, out channels, (kh, kw), (sh, sw), (dh, dw), pads (top, left, bottom, right), activation)
CONVS = [
    ("pw1", 37, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), "relu6"),   # 20 -> 37: partial block and group
    ("pw2", 64, (1, 1), (2, 2), (1, 1), (0, 0, 0, 0), "relu"),    # stride 2
    ("pw3", 19, (1, 1), (1, 1), (1, 1), (1, 0, 0, 1), None),      # zero padding around a 1x1 conv
    ("k3", 24, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), "relu"),     # 3x3: not a pointwise conv
]
POINTWISE = 3


def build(folder, seed=0):
    """(.mnn with the CONVS chain, numpy forward(x) for any input size)."""
    rng = np.random.default_rng(seed)
    layers, cin = [], INPUT[1]
    for name, cout, (kh, kw), stride, dilation, pads, act in CONVS:
        w = (rng.standard_normal((cout, cin, kh, kw)) * np.sqrt(2.0 / (cin * kh * kw))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.3).astype(np.float32)
        layers.append((name, w, b, stride, dilation, pads, act))
        cin = cout
    return conv_chain(folder, "pointwise", layers, INPUT)


@pytest.fixture(scope="module")
def pw_model(tmp_path_factory, mnn):
    require(has_module("onnx"), "the onnx package (pip install onnx)")
    return build(tmp_path_factory.mktemp("pointwise"))


def _x(shape=INPUT, seed=1):
    return (np.random.default_rng(seed).standard_normal(shape) * 2).astype(np.float32)


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
@pytest.mark.parametrize("threads", [1, 2])
def test_pointwise_convs_match_numpy_and_stock(bridge, pw_model, monkeypatch, isa, threads):
    from sparsebytenn import Session
    import sparsebytenn._kernels as K

    assert K.isa_available(isa), f"this CPU cannot run {isa}"
    monkeypatch.setenv("SPARSEBYTENN_ISA", isa)       # read when the execution packs its weights
    monkeypatch.setenv("SPARSEBYTENN_PWCONV", "on")
    path, forward = pw_model
    sess = Session(path, plugin=True, threads=threads)
    stock = Session(path, plugin=False, threads=threads)
    # (1, 20, 1, 1): every conv sees one pixel; 2 images; an image larger than a pixel tile
    for shape in (INPUT, (2, 20, 9, 16), (1, 20, 1, 1), (1, 20, 2, 7), (1, 20, 40, 33)):
        x = _x(shape)   # Session.run resizes to a new input shape
        out = sess.run(x)["output"]
        st = sess.stats()
        assert st["plugin_ops"]["pointwise"] == POINTWISE, (shape, st)
        assert st["plugin_convs"] == 0 and st["fallbacks"] == [] and st["pointwise_fallbacks"] == [], st
        exact = forward(x)
        assert rel_err(out, exact) <= 1e-5, shape
        ref = stock.run(x)["output"]            # MNN's Winograd 3x3 is ~1e-4 off float64 itself
        assert rel_err(out, ref) <= TOL + rel_err(ref, exact), shape
    table = sess.op_table(_x())
    ran = {name: row["plugin"] for name, row in table.items() if row["type"] == "Convolution"}
    assert ran == {"pw1_out": True, "pw2_out": True, "pw3_out": True, "k3_out": False}, ran


def test_module_api_runs_pointwise_convs_in_the_plugin(bridge, mnn, pw_model, monkeypatch):
    path, forward = pw_model
    check_module_api(bridge, mnn, monkeypatch, path, _x(seed=2), forward, "pointwise", "SPARSEBYTENN_PWCONV",
                     POINTWISE)


def test_forced_off_gives_stock_mnn_outputs(bridge, pw_model, monkeypatch):
    check_forced_off(monkeypatch, pw_model[0], _x(seed=3), "pointwise", "SPARSEBYTENN_PWCONV")


@pytest.mark.parametrize("threads", [1, 2])
def test_auto_keeps_what_measures_faster_per_op(bridge, pw_model, monkeypatch, threads):
    """auto: each pointwise conv keeps whichever of ours and MNN's own execution measured faster
    in its first runs (bridge_helpers.check_auto_margins)."""
    path, forward = pw_model
    check_auto_margins(bridge, monkeypatch, path, _x(seed=5), forward, "pointwise", "SPARSEBYTENN_PWCONV", POINTWISE, threads)


def test_auto_leaves_the_convs_to_mnn_without_simd_kernels(bridge, pw_model, monkeypatch):
    check_auto_off_without_simd(monkeypatch, pw_model[0], _x(), "pointwise", "SPARSEBYTENN_PWCONV")