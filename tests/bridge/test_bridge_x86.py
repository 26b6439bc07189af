"""The MNN bridge inside real MNN 3.6.1 sessions (x86): results equal stock MNN,
the tagged convs really run on our kernels, dense models are untouched, and
sessions are safe to create in bulk and to run from two threads."""
from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

from bridge_helpers import TOL, models, rel_err


def _x(seed=1, shape=None):
    return np.random.default_rng(seed).standard_normal(shape or models.INPUT_SHAPE).astype(np.float32)


def test_enable_returns_bridge_type_and_finds_pack_8(bridge, mnn):
    import sparsebytenn

    assert sparsebytenn.enable() == bridge.BRIDGE_TYPE == sparsebytenn.BACKEND
    st = bridge.status()
    assert st.enabled and st.pack == 8  # the x86 wheel's AVX2 CPU backend packs channels by 8
    assert st.probe["errors"][8] <= TOL


@pytest.mark.parametrize("threads", [1, 2])
def test_interpreter_api_matches_stock_and_runs_every_tagged_conv(bridge, mnn, small_models, threads):
    from sparsebytenn import Session

    dense, sparse, tagged, params = small_models
    x = _x()
    ref_sparse = Session(sparse, plugin=False, threads=threads).run(x)["output"]
    ref_dense = Session(dense, plugin=False, threads=threads).run(x)["output"]
    sess = Session(sparse, plugin=True, threads=threads)
    out = sess.run(x)["output"]
    assert rel_err(out, ref_sparse) <= TOL
    # MNN runs the dense 3x3/5x5 convs with Winograd, which alone differs from the
    # exact result by ~2e-4 on this net: compare with it loosely, and with an
    # exact float64 numpy forward tightly.
    assert rel_err(out, ref_dense) <= 1e-3
    assert rel_err(out, models.numpy_forward(params, x)) <= 1e-5
    st = sess.stats()
    assert st["plugin_convs"] == len(tagged)
    assert st["plugin_threads"] == threads        # the session's numThread reached the kernels
    assert st["fallbacks"] == []
    # Plain MNN API with the returned backend type, as a user would write it.
    interp = mnn.Interpreter(str(sparse))
    session = interp.createSession({"backend": bridge.BRIDGE_TYPE, "numThread": threads})
    inp = interp.getSessionInput(session)
    inp.copyFrom(mnn.Tensor(list(x.shape), mnn.Halide_Type_Float, x, mnn.Tensor_DimensionType_Caffe))
    before, before_threads = bridge.thread_conv_runs(), bridge.thread_conv_threads()
    interp.runSession(session)
    assert bridge.thread_conv_runs() - before == len(tagged)
    assert bridge.thread_conv_threads() - before_threads == threads * len(tagged)
    o = interp.getSessionOutput(session)
    host = mnn.Tensor(o.getShape(), mnn.Halide_Type_Float, np.zeros(o.getShape(), np.float32),
                      mnn.Tensor_DimensionType_Caffe)
    o.copyToHostTensor(host)
    assert rel_err(np.array(host.getNumpyData()), ref_sparse) <= TOL


@pytest.mark.parametrize("threads", [1, 2])
def test_module_api_matches_stock(bridge, mnn, small_models, threads):
    dense, sparse, tagged, params = small_models
    x = _x(2)

    def forward(backend):
        rt = mnn.nn.create_runtime_manager(({"backend": backend, "numThread": threads},))
        module = mnn.nn.load_module_from_file(str(sparse), ["input"], ["output"], runtime_manager=rt)
        y = module.forward(mnn.expr.const(x, list(x.shape), mnn.expr.NCHW))
        return np.array(mnn.expr.convert(y, mnn.expr.NCHW).read(), dtype=np.float32)

    ref = forward("CPU")
    before = bridge.thread_conv_runs()
    out = forward(bridge.BRIDGE_TYPE)
    assert bridge.thread_conv_runs() - before == len(tagged)
    assert rel_err(out, ref) <= TOL


def test_resize_to_a_new_input_shape(bridge, small_models):
    from sparsebytenn import Session

    _, sparse, tagged, _ = small_models
    sess, ref = Session(sparse, plugin=True), Session(sparse, plugin=False)
    for shape in [(1, 16, 15, 15), (2, 16, 21, 17), (1, 16, 8, 8)]:
        x = _x(3, shape)
        assert rel_err(sess.run(x)["output"], ref.run(x)["output"]) <= TOL
        assert sess.stats()["plugin_convs"] == len(tagged)


@pytest.mark.parametrize("threads", [1, 2])
def test_dense_model_through_the_bridge_equals_stock(bridge, small_models, monkeypatch, threads):
    """No tagged conv: with the dense takeovers off the bridge is MNN, bit for bit; with
    them (the defaults) the outputs are as close to a float64 forward as stock MNN's, within 1e-4."""
    from sparsebytenn import Session

    dense, _, _, params = small_models
    x = _x(4)
    ref = Session(dense, plugin=False, threads=threads).run(x)["output"]
    exact = models.numpy_forward(params, x)
    for takeovers in ("off", "auto"):
        monkeypatch.setenv("SPARSEBYTENN_DWCONV", takeovers)
        monkeypatch.setenv("SPARSEBYTENN_DCONV", takeovers)
        monkeypatch.setenv("SPARSEBYTENN_PWCONV", takeovers)
        sess = Session(dense, plugin=True, threads=threads)
        out = sess.run(x)["output"]
        assert sess.stats()["plugin_convs"] == 0
        if takeovers == "off":
            assert sess.stats()["plugin_ops_created"] == {"depthwise": 0, "direct_conv": 0, "pointwise": 0}
            np.testing.assert_array_equal(out, ref)
        else:   # stock MNN's Winograd 3x3 / 5x5 convs are ~2e-4 off float64 themselves, and the
            # ops the bridge takes read their outputs: as close to float64 as stock MNN, within 1e-4
            assert rel_err(out, exact) <= TOL + rel_err(ref, exact)


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_200_sessions_created_and_destroyed_keep_rss_flat(bridge, mnn, small_models):
    _, sparse, tagged, _ = small_models
    x = _x(5)

    def one():
        interp = mnn.Interpreter(str(sparse))
        s = interp.createSession({"backend": bridge.BRIDGE_TYPE, "numThread": 2})
        interp.getSessionInput(s).copyFrom(
            mnn.Tensor(list(x.shape), mnn.Halide_Type_Float, x, mnn.Tensor_DimensionType_Caffe))
        interp.runSession(s)
        del s, interp

    for _ in range(20):  # warm up allocators and caches
        one()
    gc.collect()
    created0 = bridge.library().sbnn_mnn_total_convs_created()
    rss0 = _rss_kb()
    for _ in range(200):
        one()
    gc.collect()
    grown = _rss_kb() - rss0
    assert bridge.library().sbnn_mnn_total_convs_created() - created0 == 200 * len(tagged)
    assert grown < 8 * 1024, f"RSS grew by {grown} KiB over 200 sessions"


def test_two_sessions_in_two_python_threads(bridge, small_models):
    from sparsebytenn import Session

    dense, sparse, tagged, params = small_models
    inputs = [_x(10 + i) for i in range(2)]
    refs = [Session(sparse, plugin=False).run(x)["output"] for x in inputs]
    errors, counts = [], []

    def worker(i):
        try:
            sess = Session(sparse, plugin=True, threads=2)
            for _ in range(20):
                out = sess.run(inputs[i])["output"]
                errors.append(rel_err(out, refs[i]))
                counts.append(sess.stats()["plugin_convs"])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(errors) == 40 and all(isinstance(e, float) and e <= TOL for e in errors), errors[:3]
    assert counts == [len(tagged)] * 40


def test_low_precision_sessions_match_stock(bridge, mnn, small_models):
    from sparsebytenn import Session

    _, sparse, _, _ = small_models
    x = _x(6)
    out = Session(sparse, plugin=True, precision="low").run(x)["output"]
    ref = Session(sparse, plugin=False, precision="low").run(x)["output"]
    assert rel_err(out, ref) <= TOL
