"""The bridge on the zoo models converted by the project's converter at
S = 0.3, 0.5, 0.9: outputs equal stock MNN on the same file and on the
`--format dense` file, every tagged layer runs on the plugin."""
from __future__ import annotations

import numpy as np
import pytest

from bridge_helpers import TOL, models, rel_err

ZOO = ["mobilenet-v1", "efficientnet-lite0"]
SPARSITIES = [0.3, 0.5, 0.9]


@pytest.fixture(scope="session")
def zoo_models(tmp_path_factory):
    from sparsebytenn import zoo
    from sparsebytenn_converter import convert

    folder = tmp_path_factory.mktemp("bridge_zoo")
    cache = {}

    def get(name, sparsity):
        key = (name, sparsity)
        if key not in cache:
            src = zoo.get(name, progress=False)
            sparse, dense = folder / f"{name}-{sparsity}.mnn", folder / f"{name}-{sparsity}.dense.mnn"
            report = convert(str(src), str(sparse), sparsity=sparsity, plain=True, progress=False)
            convert(str(src), str(dense), sparsity=sparsity, plain=True, progress=False, format="dense")
            tagged = sum(1 for layer in report.layers if layer.tagged)
            info = zoo.info(name)
            cache[key] = (sparse, dense, tagged, info)
        return cache[key]

    return get


def _input(info, seed=0):
    shape = tuple(info["input_shape"])
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("sparsity", SPARSITIES)
@pytest.mark.parametrize("threads", [1, 2])
def test_zoo_model_interpreter_api(bridge, zoo_models, name, sparsity, threads):
    from sparsebytenn import Session

    sparse, dense, tagged, info = zoo_models(name, sparsity)
    assert tagged > 0
    x = _input(info)
    sess = Session(sparse, plugin=True, threads=threads)
    out = sess.run(x)
    ref = Session(sparse, plugin=False, threads=threads).run(x)
    ref_dense = Session(dense, plugin=False, threads=threads).run(x)
    for k in ref:
        assert rel_err(out[k], ref[k]) <= TOL
        assert rel_err(out[k], ref_dense[k]) <= TOL
    assert sess.stats()["plugin_convs"] == tagged
    assert sess.stats()["fallbacks"] == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("sparsity", SPARSITIES)
@pytest.mark.parametrize("threads", [1, 2])
def test_zoo_model_module_api(bridge, mnn, zoo_models, name, sparsity, threads):
    sparse, dense, tagged, info = zoo_models(name, sparsity)
    x = _input(info, 1)
    in_name = info["input_name"]
    from sparsebytenn import Session

    out_names = Session(sparse, plugin=False).output_names

    def forward(path, backend):
        rt = mnn.nn.create_runtime_manager(({"backend": backend, "numThread": threads},))
        module = mnn.nn.load_module_from_file(str(path), [in_name], out_names, runtime_manager=rt)
        y = module.forward(mnn.expr.const(x, list(x.shape), mnn.expr.NCHW))
        return np.array(mnn.expr.convert(y, mnn.expr.NCHW).read(), dtype=np.float32)

    before = bridge.thread_conv_runs()
    out = forward(sparse, bridge.BRIDGE_TYPE)
    assert bridge.thread_conv_runs() - before == tagged
    assert rel_err(out, forward(sparse, "CPU")) <= TOL
    assert rel_err(out, forward(dense, "CPU")) <= TOL


def test_cli_run_reports_every_tagged_conv(bridge, zoo_models, tmp_path):
    import json
    import subprocess
    import sys

    sparse, _, tagged, info = zoo_models("mobilenet-v1", 0.5)
    x = _input(info, 2)
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run([sys.executable, "-m", "sparsebytenn", "run", str(sparse), "--plugin", "--json",
                           "--input", str(tmp_path / "x.npy"), "--save-output", str(tmp_path / "y.npy"),
                           "--repeats", "2", "--threads", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["plugin_convs"] == tagged and summary["backend"] == "sparsebytenn"
    assert summary["threads"] == 2 and summary["median_ms"] > 0
    from sparsebytenn import Session

    ref = Session(sparse, plugin=False).run(x)
    first = list(ref)[0]
    assert summary["outputs"][first] == list(ref[first].shape)
    assert rel_err(np.load(tmp_path / "y.npy"), ref[first]) <= TOL



@pytest.fixture(scope="module")
def unpruned(tmp_path_factory):
    """The bridge tests' 6-conv net with dense weights (MNN's own converter), for the project's."""
    dense, _, _ = models.build_models(tmp_path_factory.mktemp("unpruned"), sparsity=0.0)
    return dense


@pytest.mark.parametrize("G,sparsity", [(1, 0.5), (1, 0.95), (2, 0.5), (16, 0.5)])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_group_size_the_converter_writes_runs_like_stock(bridge, unpruned, tmp_path, G, sparsity, threads):
    # --group auto on x86 may give a layer G = 1, 2, 4, 8 or 16 (the zoo models above are G=8):
    # the plugin must run each and give stock MNN's outputs on the same file, packed in G or,
    # where that runs faster (G=1 at 50 %), in wider groups (sbnn_gsparse_fastest_group)
    from sparsebytenn import Session
    from sparsebytenn_converter import convert

    out = tmp_path / f"g{G}.mnn"
    # every group-1 conv pruned and tagged: with the first and last conv left dense, stock MNN's
    # dense convs and the plugin's differed by 2e-4 (stock MNN is 2.1e-4 from a float64 numpy
    # forward of this net), which is not what this test is about
    # target arm64 tags every pruned layer (for x86 the converter leaves dense the layers this
    # plugin would pack in full wider groups); the plugin here still packs them as it chooses
    # per layer: each conv at exactly `sparsity` (min_keep 0: 95 % is not capped at 90 %), so how
    # the bridge packs it is known (below)
    report = convert(str(unpruned), str(out), sparsity=sparsity, group=G, plain=True, skip=(), target="arm64",
                     per_layer=True, min_keep=0.0, progress=False)
    tagged = sum(1 for layer in report.layers if layer.tagged)
    assert tagged > 0 and {layer.G for layer in report.layers if layer.tagged} == {G}
    x = np.random.default_rng(3).standard_normal(models.INPUT_SHAPE).astype(np.float32)
    sess = Session(out, plugin=True, threads=threads)
    got = sess.run(x)
    ref = Session(out, plugin=False, threads=threads).run(x)
    for k in ref:
        assert rel_err(got[k], ref[k]) <= TOL
    assert sess.stats()["plugin_convs"] == tagged
    assert sess.stats()["fallbacks"] == []
    # how the bridge packed them: each conv in the group the kernels' cost model picks for its
    # weights as stored in the file (sbnn_gsparse_fastest_group, itself checked against numpy
    # in tests/kernels/test_kernels_group_choice.py). With Intel's AVX-512 fits (G=1: 2.8 per
    # stored weight + 35 per output channel, G=8: 1.0 + 12) a G=1 conv at 50 % runs wider; at
    # 95 % the wide kxk convs (324, 500 inputs x taps) stay G=1 and the narrow 1x1 convs
    # (24, 32) run wider; AMD's fits differ (G=1: 2.4 + 0), and so may the packing there
    import collections

    import sparsebytenn._kernels as K
    from sparsebytenn_converter import read_model

    packed = sess.stats()["plugin_convs_packed"]
    want = collections.Counter(K.fastest_group(c.weights, G) for c in read_model(out).convs if c.sparse is not None)
    assert packed == dict(want) and min(packed) >= G, (packed, want)
    if G == 16:
        assert packed == {16: tagged}
