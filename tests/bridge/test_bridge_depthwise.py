"""Depthwise convs (MNN's ConvolutionDepthwise) run by the bridge inside real MNN
sessions: against a float64 numpy forward and against stock MNN on the same file
(1e-4 relative), with the AVX2 and AVX-512 kernels (SPARSEBYTENN_ISA), 1 and 2
threads, Interpreter and Module API, inputs from 1x1 up; SPARSEBYTENN_DWCONV=off
gives stock MNN's outputs; stats count depthwise ops apart from tagged convs.

The models are ONNX graphs (onnx.helper) converted by MNN's own converter, as in
bridge_models.py; nothing here uses the project's converter."""
from __future__ import annotations

import numpy as np
import pytest

from bridge_helpers import (TOL, check_auto_off_without_simd, check_forced_off, check_module_api, conv_chain,
                            has_module, models, rel_err, require)

C = 21   # not a multiple of 8 or 16: the last NC8HW8 block and the last zmm are partial
INPUT = (1, C, 15, 13)
# (name, (kh, kw), (sh, sw), (dh, dw), pads (top, left, bottom, right) or "SAME_UPPER", activation)
DWS = [
    ("dw3_relu", (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), "relu"),
    ("dw3_s2_tf", (3, 3), (2, 2), (1, 1), (0, 0, 1, 1), "relu6"),     # TF's asymmetric stride-2 pads
    ("dw5_same", (5, 5), (1, 1), (1, 1), "SAME_UPPER", None),
    ("dw3_dil2", (3, 3), (1, 1), (2, 2), (2, 1, 2, 3), "relu"),
    ("dw5_s2_same", (5, 5), (2, 2), (1, 1), "SAME_UPPER", "relu6"),
    ("dw7", (7, 7), (1, 1), (1, 1), (3, 3, 3, 3), None),
]


def build(folder, seed=0):
    """(.mnn with the DWS chain, numpy forward(x) for any input size)."""
    rng = np.random.default_rng(seed)
    layers = []
    for name, (kh, kw), stride, dilation, pads, act in DWS:
        w = (rng.standard_normal((C, 1, kh, kw)) * np.sqrt(2.0 / (kh * kw))).astype(np.float32)
        b = (rng.standard_normal(C) * 0.3).astype(np.float32)
        layers.append((name, w, b, stride, dilation, pads, act))
    return conv_chain(folder, "dw", layers, INPUT)


@pytest.fixture(scope="module")
def dw_model(tmp_path_factory, mnn):
    require(has_module("onnx"), "the onnx package (pip install onnx)")
    folder = tmp_path_factory.mktemp("depthwise")
    path, forward = build(folder)
    net = models.to_json(path, folder / "dw.json")
    ops = [op for op in net["oplists"] if op.get("type") == "ConvolutionDepthwise"]
    assert len(ops) == len(DWS)          # MNN made every grouped conv a ConvolutionDepthwise
    fused = [op["main"]["common"] for op in ops]
    assert any(c.get("relu") for c in fused) and any(c.get("relu6") for c in fused)   # activations fused
    assert any(c.get("padMode") == "SAME" for c in fused)
    return path, forward


def _x(shape=INPUT, seed=1):
    return (np.random.default_rng(seed).standard_normal(shape) * 2).astype(np.float32)


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
@pytest.mark.parametrize("threads", [1, 2])
def test_depthwise_chain_matches_numpy_and_stock(bridge, dw_model, monkeypatch, isa, threads):
    from sparsebytenn import Session
    import sparsebytenn._kernels as K

    assert K.isa_available(isa), f"this CPU cannot run {isa}"
    monkeypatch.setenv("SPARSEBYTENN_ISA", isa)       # read when the execution packs its weights
    monkeypatch.setenv("SPARSEBYTENN_DWCONV", "on")
    path, forward = dw_model
    sess = Session(path, plugin=True, threads=threads)
    stock = Session(path, plugin=False, threads=threads)
    # 2x2 is the smallest input the chain takes (dw3_s2_tf): the later layers see 1x1 images
    for shape in (INPUT, (2, C, 9, 16), (1, C, 2, 2), (1, C, 7, 7), (1, C, 2, 5), (1, C, 40, 33)):
        x = _x(shape)   # Session.run resizes to a new input shape
        out = sess.run(x)["output"]
        st = sess.stats()
        assert st["plugin_ops"]["depthwise"] == len(DWS), st
        assert st["plugin_convs"] == 0 and st["fallbacks"] == [] and st["depthwise_fallbacks"] == [], st
        assert rel_err(out, forward(x)) <= 1e-5, shape
        assert rel_err(out, stock.run(x)["output"]) <= TOL, shape


def test_module_api_runs_depthwise_in_the_plugin(bridge, mnn, dw_model, monkeypatch):
    path, forward = dw_model
    check_module_api(bridge, mnn, monkeypatch, path, _x(seed=2), forward, "depthwise", "SPARSEBYTENN_DWCONV", len(DWS))


def test_forced_off_gives_stock_mnn_outputs(bridge, dw_model, monkeypatch):
    check_forced_off(monkeypatch, dw_model[0], _x(seed=3), "depthwise", "SPARSEBYTENN_DWCONV")


TRIALS = 6   # runs after a resize that time ours against MNN's own execution (measured_execution.h)


def _ours_per_run(bridge, sess, x, runs, reference):
    """Depthwise ops our kernels ran in each of `runs` inferences (the bridge's counter;
    Session.stats() would add an inference of its own), every output checked."""
    taken = []
    for _ in range(runs):
        before = bridge.thread_dense_runs("depthwise")
        assert rel_err(sess.run(x)["output"], reference) <= TOL
        taken.append(bridge.thread_dense_runs("depthwise") - before)
    return taken


def _auto_runs(bridge, path, x, stock, threads):
    """A fresh plugin session under SPARSEBYTENN_DWCONV=auto: ops ours ran per run
    (every output checked against stock MNN) and the bridge's notes at the end."""
    from sparsebytenn import Session

    sess = Session(path, plugin=True, threads=threads)
    return _ours_per_run(bridge, sess, x, TRIALS + 2, stock), sess.depthwise_fallbacks


@pytest.mark.parametrize("threads", [1, 2])
def test_auto_keeps_what_measures_faster_per_op(bridge, dw_model, monkeypatch, threads):
    """auto on AVX-512 / AVX2: every depthwise op runs ours and MNN's own execution in its
    first runs and keeps the faster. Forced by the margin (ours must be M times faster):
    a huge margin leaves every op to MNN after the trials, a tiny one keeps every op, and
    the outputs are stock MNN's throughout; with the default margin, each op is in one or
    the other, and those left to MNN say why."""
    monkeypatch.setenv("SPARSEBYTENN_DWCONV", "auto")
    path, _ = dw_model
    x = _x(seed=5)
    from sparsebytenn import Session

    stock = Session(path, plugin=False, threads=threads).run(x)["output"]
    for isa in ("avx2", "avx512"):
        monkeypatch.setenv("SPARSEBYTENN_ISA", isa)
        monkeypatch.setenv("SPARSEBYTENN_DWCONV_MARGIN", "1e9")
        taken, notes = _auto_runs(bridge, path, x, stock, threads)
        assert taken == [len(DWS)] * TRIALS + [0, 0], (isa, taken)   # ours ran in every trial, then none
        assert len(notes) == len(DWS) and all("MARGIN=1e+09" in n for n in notes), notes
        monkeypatch.setenv("SPARSEBYTENN_DWCONV_MARGIN", "1e-9")
        taken, notes = _auto_runs(bridge, path, x, stock, threads)
        assert taken == [len(DWS)] * (TRIALS + 2) and notes == [], (isa, taken, notes)
        monkeypatch.delenv("SPARSEBYTENN_DWCONV_MARGIN")
        taken, notes = _auto_runs(bridge, path, x, stock, threads)
        assert taken[:TRIALS] == [len(DWS)] * TRIALS and taken[-1] == taken[-2], taken
        assert taken[-1] + len(notes) == len(DWS) and all("measured faster" in n for n in notes), (taken, notes)


def test_timed_runs_never_include_the_trials(bridge, dw_model, monkeypatch):
    """Session.run_timed (what `sparsebytenn run` reports) warms up past the trials,
    whatever warm-up it is asked for: with every op left to MNN after its trials, the
    bridge ran ours exactly in the trials, all of them before the first timed run."""
    from sparsebytenn import Session

    monkeypatch.setenv("SPARSEBYTENN_DWCONV", "auto")
    monkeypatch.setenv("SPARSEBYTENN_DWCONV_MARGIN", "1e9")
    path, _ = dw_model
    sess = Session(path, plugin=True)
    before = bridge.thread_dense_runs("depthwise")
    times = sess.run_timed(_x(), repeats=3, warmup=0)
    assert len(times) == 3
    assert bridge.thread_dense_runs("depthwise") - before == TRIALS * len(DWS)
    assert len(sess.depthwise_fallbacks) == len(DWS)      # the notes of those decisions are kept


def test_run_command_reports_what_runs_after_the_trials(bridge, dw_model, monkeypatch):
    """`sparsebytenn run --json` counts the dense ops the plugin runs once its trials are
    over (here none: every op left to MNN), and says why, not what the first run tried."""
    import json
    import subprocess
    import sys

    path, _ = dw_model
    env = {**__import__("os").environ, "SPARSEBYTENN_DWCONV": "auto", "SPARSEBYTENN_DWCONV_MARGIN": "1e9",
           "SPARSEBYTENN_ISA": "avx2"}
    out = subprocess.run([sys.executable, "-m", "sparsebytenn", "run", str(path), "--plugin", "--repeats", "2",
                          "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["plugin_depthwise"] == 0, summary


def test_auto_measures_again_after_a_resize(bridge, dw_model, monkeypatch):
    """A new input shape is a new measurement: an op left to MNN at one size runs both
    again at the next."""
    from sparsebytenn import Session

    monkeypatch.setenv("SPARSEBYTENN_DWCONV", "auto")
    monkeypatch.setenv("SPARSEBYTENN_ISA", "avx2")
    monkeypatch.setenv("SPARSEBYTENN_DWCONV_MARGIN", "1e9")
    path, forward = dw_model
    sess = Session(path, plugin=True)
    for shape in (INPUT, (1, C, 9, 16)):
        x = _x(shape)
        taken = _ours_per_run(bridge, sess, x, TRIALS + 1, forward(x))
        assert taken == [len(DWS)] * TRIALS + [0], (shape, taken)


def test_auto_leaves_the_ops_to_mnn_without_simd_kernels(bridge, dw_model, monkeypatch):
    check_auto_off_without_simd(monkeypatch, dw_model[0], _x(), "depthwise", "SPARSEBYTENN_DWCONV")


def test_stats_count_depthwise_apart_from_tagged_convs(bridge, small_models, monkeypatch):
    """The 6-layer net: 5 tagged convs + 1 depthwise. plugin_convs stays the tagged count
    (what bench/harness.py and the hardening corpus compare with the tagged layers)."""
    from sparsebytenn import Session

    monkeypatch.setenv("SPARSEBYTENN_DWCONV", "on")
    dense, sparse, tagged, params = small_models
    x = _x(models.INPUT_SHAPE, seed=4)
    sess = Session(sparse, plugin=True, threads=2)
    out = sess.run(x)["output"]
    st = sess.stats()
    assert st["plugin_convs"] == len(tagged) and st["plugin_convs_created"] == len(tagged)
    assert st["plugin_ops"]["sparse_conv"] == len(tagged) and st["plugin_ops"]["depthwise"] == 1
    assert st["plugin_ops_created"]["depthwise"] == 1 and st["fallbacks"] == []
    assert rel_err(out, models.numpy_forward(params, x)) <= 1e-5
    table = sess.op_table(x)
    dw = [name for name, row in table.items() if row["type"] == "ConvolutionDepthwise"]
    assert len(dw) == 1 and table[dw[0]]["plugin"]
