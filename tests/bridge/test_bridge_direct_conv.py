"""Dense convs with few input channels (a network's first conv) run by the bridge's
direct conv kernels inside real MNN sessions: against a float64 numpy forward and
against stock MNN on the same file (1e-4 relative), with the AVX2 and AVX-512
kernels (SPARSEBYTENN_ISA), 1 and 2 threads, Interpreter and Module API, inputs from
2x2 up (the later convs then see 1x1 images); a conv with more input channels is not a direct conv; SPARSEBYTENN_DCONV=off gives
stock MNN's outputs; under auto each conv keeps what measured faster.

The model is an ONNX graph (onnx.helper) converted by MNN's own converter, as in
bridge_models.py; nothing here uses the project's converter."""
from __future__ import annotations

import numpy as np
import pytest

from bridge_helpers import (TOL, check_auto_margins, check_auto_off_without_simd, check_forced_off, check_module_api,
                            conv_chain, has_module, models, rel_err, require)

INPUT = (1, 3, 23, 19)
# (name, out channels, (kh, kw), (sh, sw), (dh, dw), pads (top, left, bottom, right) or "SAME_UPPER", activation)
CONVS = [
    ("stem", 13, (3, 3), (2, 2), (1, 1), (0, 0, 1, 1), "relu6"),     # TF's stride-2 pads; 13: partial block
    ("dil", 16, (3, 3), (1, 1), (2, 2), (2, 1, 2, 3), "relu"),      # dilation 2, asymmetric pads
    ("same5", 40, (5, 5), (1, 1), (1, 1), "SAME_UPPER", None),       # 16 inputs (two blocks), 40 outputs
    ("wide", 24, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), "relu"),      # 40 inputs: not a direct conv (1x1: no Winograd)
]
DIRECT = 3    # the convs with at most 16 input channels


def build(folder, seed=0):
    """(.mnn with the CONVS chain, numpy forward(x) for any input size)."""
    rng = np.random.default_rng(seed)
    layers, cin = [], INPUT[1]
    for name, cout, (kh, kw), stride, dilation, pads, act in CONVS:
        w = (rng.standard_normal((cout, cin, kh, kw)) * np.sqrt(2.0 / (cin * kh * kw))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.3).astype(np.float32)
        layers.append((name, w, b, stride, dilation, pads, act))
        cin = cout
    return conv_chain(folder, "direct", layers, INPUT)


@pytest.fixture(scope="module")
def direct_model(tmp_path_factory, mnn):
    require(has_module("onnx"), "the onnx package (pip install onnx)")
    folder = tmp_path_factory.mktemp("direct")
    path, forward = build(folder)
    net = models.to_json(path, folder / "direct.json")
    ops = [op for op in net["oplists"] if op.get("type") == "Convolution"]
    assert len(ops) == len(CONVS)
    fused = [op["main"]["common"] for op in ops]
    assert fused[0].get("relu6") and fused[1].get("relu") and fused[2].get("padMode") == "SAME"
    return path, forward


@pytest.fixture(autouse=True)
def _only_direct_convs(monkeypatch):
    """"wide" is a dense 1x1 conv, the pointwise takeover's (test_bridge_pointwise.py)."""
    monkeypatch.setenv("SPARSEBYTENN_PWCONV", "off")


def _x(shape=INPUT, seed=1):
    return (np.random.default_rng(seed).standard_normal(shape) * 2).astype(np.float32)


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
@pytest.mark.parametrize("threads", [1, 2])
def test_direct_convs_match_numpy_and_stock(bridge, direct_model, monkeypatch, isa, threads):
    from sparsebytenn import Session
    import sparsebytenn._kernels as K

    assert K.isa_available(isa), f"this CPU cannot run {isa}"
    monkeypatch.setenv("SPARSEBYTENN_ISA", isa)       # read when the execution packs its weights
    monkeypatch.setenv("SPARSEBYTENN_DCONV", "on")
    path, forward = direct_model
    sess = Session(path, plugin=True, threads=threads)
    stock = Session(path, plugin=False, threads=threads)
    # 2x2 is the smallest input the stem takes (one output pixel: every later conv sees 1x1)
    for shape in (INPUT, (2, 3, 9, 16), (1, 3, 2, 2), (1, 3, 2, 7), (1, 3, 64, 57)):
        x = _x(shape)   # Session.run resizes to a new input shape
        out = sess.run(x)["output"]
        st = sess.stats()
        assert st["plugin_ops"]["direct_conv"] == DIRECT, (shape, st)
        assert st["plugin_convs"] == 0 and st["fallbacks"] == [] and st["direct_conv_fallbacks"] == [], st
        exact = forward(x)
        assert rel_err(out, exact) <= 1e-5, shape
        # Stock MNN runs the 5x5 conv with Winograd transforms, ~1e-4 off float64 itself.
        ref = stock.run(x)["output"]
        assert rel_err(out, ref) <= TOL + rel_err(ref, exact), shape
    table = sess.op_table(_x())
    ran = {name: row["plugin"] for name, row in table.items() if row["type"] == "Convolution"}
    assert sorted(ran.values()) == [False] + [True] * DIRECT, ran    # "wide" is not a direct conv


def test_module_api_runs_direct_convs_in_the_plugin(bridge, mnn, direct_model, monkeypatch):
    path, forward = direct_model
    check_module_api(bridge, mnn, monkeypatch, path, _x(seed=2), forward, "direct_conv", "SPARSEBYTENN_DCONV", DIRECT)


def test_forced_off_gives_stock_mnn_outputs(bridge, direct_model, monkeypatch):
    check_forced_off(monkeypatch, direct_model[0], _x(seed=3), "direct_conv", "SPARSEBYTENN_DCONV")


@pytest.mark.parametrize("threads", [1, 2])
def test_auto_keeps_what_measures_faster_per_op(bridge, direct_model, monkeypatch, threads):
    """auto: each direct conv keeps whichever of ours and MNN's own execution measured faster
    in its first runs (bridge_helpers.check_auto_margins)."""
    path, forward = direct_model
    check_auto_margins(bridge, monkeypatch, path, _x(seed=5), forward, "direct_conv", "SPARSEBYTENN_DCONV", DIRECT, threads)


def test_auto_leaves_the_convs_to_mnn_without_simd_kernels(bridge, direct_model, monkeypatch):
    check_auto_off_without_simd(monkeypatch, direct_model[0], _x(), "direct_conv", "SPARSEBYTENN_DCONV")


def test_non_finite_weights_stay_with_mnn_and_say_why(bridge, tmp_path, monkeypatch):
    """A NaN weight: the kernels skip zero-padding taps, where MNN computes 0 x NaN = NaN,
    so the conv stays MNN's (outputs bit for bit) and the note names the reason."""
    from sparsebytenn import Session

    require(has_module("onnx"), "the onnx package (pip install onnx)")
    monkeypatch.setenv("SPARSEBYTENN_DCONV", "on")
    rng = np.random.default_rng(9)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w[2, 1, 0, 0] = np.nan
    b = np.zeros(8, np.float32)
    path, _ = conv_chain(tmp_path, "nan", [("nan", w, b, (2, 2), (1, 1), (1, 1, 1, 1), None)], (1, 3, 9, 9))
    x = _x((1, 3, 9, 9))
    sess = Session(path, plugin=True)
    out = sess.run(x)["output"]
    assert sess.stats()["plugin_ops"]["direct_conv"] == 0
    notes = sess.dense_fallbacks("direct_conv")
    assert len(notes) == 1 and "non-finite weights" in notes[0], notes
    np.testing.assert_array_equal(out, Session(path, plugin=False).run(x)["output"])
