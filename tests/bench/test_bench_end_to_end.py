"""The whole benchmark on a tiny real model with stock MNN (and ONNX Runtime),
using a stand-in converter (tiny_models.py) so it does not depend on ours."""
import json
import subprocess
import sys

import numpy as np
import pytest

from sbnn_testing import require

SCHEMA = {"model", "sparsity", "threads", "engine", "median_ms", "iqr_ms",
          "speedup_vs_mnn_dense", "speedup_vs_mnn_sparse", "ideal_speedup"}


def _have(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    require(_have("MNN") and _have("_tools"), "the MNN wheel (MNN==3.6.1)")
    require(_have("onnx"), "onnx (pip install onnx) to build the test model")
    import tiny_models
    return tiny_models.make_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def result(tiny, tmp_path_factory):
    import tiny_models
    from sparsebytenn.bench import BenchConfig, run_bench
    cfg = BenchConfig([str(tiny)], sparsities=(0.5, 0.9), threads=(1,), rounds=3, runs=2, warmup=1,
                      converter=tiny_models.stand_in_converter, progress=False,
                      cache_dir=tmp_path_factory.mktemp("cache"))
    return run_bench(cfg)


def rows(result, engine, sparsity=None):
    return [r for r in result["results"] if r["engine"] == engine and r["sparsity"] == sparsity]


def test_every_engine_at_every_sparsity_with_the_schema(result):
    assert {(r["engine"], r["sparsity"]) for r in result["results"]} == {
        ("mnn-dense", None), ("onnxruntime", None),
        *((e, s) for e in ("mnn-pruned-dense", "mnn-sparse", "plugin") for s in (0.5, 0.9))}
    for r in result["results"]:
        assert SCHEMA <= set(r), r
        assert r["model"] == "tiny" and r["threads"] == 1
    m = result["machine"]
    for key in ("cpu_model", "cpus_available", "load_average_before", "load_average_after", "versions"):
        assert key in m
    json.dumps(result)  # serialisable as is


def _pointwise_convs(tiny) -> int:
    """The 1x1 convs of the tiny model (ONNX): the stand-in prunes them, MNN's converter tags them."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(tiny.with_suffix(".onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return sum(n.op_type == "Conv" and inits[n.input[1]].shape[2:] == (1, 1) for n in m.graph.node)


def test_stock_mnn_engines_ran_and_were_checked(result, tiny):
    for engine, s in [("mnn-dense", None), ("mnn-pruned-dense", 0.5), ("mnn-sparse", 0.5),
                      ("mnn-sparse", 0.9)]:
        (r,) = rows(result, engine, s)
        assert r["status"] == "ok", r
        assert r["samples"] == 3 * 2 and len(r["round_medians_ms"]) == 3
    # mnn-sparse (MNN's real sparse path) matched the pruned dense model
    assert rows(result, "mnn-sparse", 0.5)[0]["max_output_error"] < 1e-3
    # the plugin ran the layers MNN's own converter tagged, and matched stock MNN
    for r in rows(result, "plugin", 0.5) + rows(result, "plugin", 0.9):
        assert r["status"] == "ok", r
        assert r["max_output_error"] < 1e-3 and r["plugin_convs"] == _pointwise_convs(tiny) > 0, r


def test_speedups_are_medians_of_per_round_ratios(result):
    dense = np.array(rows(result, "mnn-dense")[0]["round_medians_ms"])
    for s in (0.5, 0.9):
        sparse = np.array(rows(result, "mnn-sparse", s)[0]["round_medians_ms"])
        pruned = rows(result, "mnn-pruned-dense", s)[0]
        p = np.array(pruned["round_medians_ms"])
        assert pruned["speedup_vs_mnn_dense"] == pytest.approx(np.median(dense / p))
        lo, hi = pruned["speedup_vs_mnn_dense_ci95"]   # 3 rounds: the interval spans their ratios
        assert min(dense / p) <= lo <= pruned["speedup_vs_mnn_dense"] <= hi <= max(dense / p)
        assert pruned["speedup_vs_mnn_sparse"] == pytest.approx(np.median(sparse / p))
        assert rows(result, "mnn-sparse", s)[0]["speedup_vs_mnn_sparse"] == pytest.approx(1.0)
    assert rows(result, "mnn-dense")[0]["speedup_vs_mnn_dense"] == pytest.approx(1.0)


def test_ideal_comes_from_the_dense_profile_and_the_pruned_layers(result):
    (profiles,) = result["profiles_ms"].values()
    profile = profiles["mnn-dense"]
    for s in (0.5, 0.9):
        layers = {ly["name"]: ly["sparsity_after"] for ly in result["conversions"]["tiny"][f"{s:g}"]}
        assert set(layers) <= set(profile), "pruned layer names must be MNN op names"
        total = sum(profile.values())
        f = sum(profile[n] for n in layers) / total
        expected = 1 / ((1 - f) + f * (1 - s))  # every pruned layer is exactly at s here
        assert rows(result, "mnn-sparse", s)[0]["ideal_speedup"] == pytest.approx(expected, rel=0.02)


def test_outputs_json_markdown_and_png(result, tmp_path):
    from PIL import Image

    from sparsebytenn.bench import format_table, write_json, write_markdown, write_plot
    j = write_json(result, tmp_path / "r.json")
    assert json.loads(j.read_text())["results"] == json.loads(json.dumps(result["results"]))
    md = write_markdown(result, tmp_path / "r.md").read_text()
    table = [ln for ln in md.split("\n\n")[1].splitlines() if ln.startswith("|")]
    assert len(table) == 2 + len(result["results"]) and "x mnn-dense" in table[0]
    assert "pruned layers ms" in md  # the time breakdown follows the table
    png = write_plot(result, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as im:
        im.verify()
    assert "mnn-sparse" in format_table(result)
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_missing_onnx_form_is_reported_and_the_rest_still_runs(tiny, tmp_path):
    import shutil
    from sparsebytenn.bench import BenchConfig, run_bench
    lone = tmp_path / "lone.mnn"
    shutil.copy(tiny, lone)  # no lone.onnx next to it
    r = run_bench(BenchConfig([str(lone)], sparsities=(0.5,), threads=(1,), rounds=1, runs=1,
                              warmup=0, engines=("mnn-dense", "onnxruntime"), progress=False))
    ort = rows(r, "onnxruntime")[0]
    assert ort["status"] == "unavailable" and "no ONNX form" in ort["error"]
    assert rows(r, "mnn-dense")[0]["status"] == "ok"


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sparsebytenn", "bench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args,message", [
    (["no-such-model-xyz"], "unknown model"),
    (["{tiny}", "--sparsity", "0.5,1.5"], "out of range"),
    (["{tiny}", "--sparsity", "-0.1"], "out of range"),
    (["{tiny}", "--engines", "mnn-dense,tensorrt"], "unknown engine"),
    (["{tiny}", "--threads", "0"], "thread"),
])
def test_cli_bad_input_gives_one_clear_line(tiny, args, message):
    r = cli(*[a.format(tiny=tiny) for a in args])
    assert r.returncode == 1, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_cli_writes_json_markdown_and_plot(tiny, tmp_path):
    r = cli(str(tiny), "--sparsity", "0.5", "--threads", "1", "--rounds", "1", "--runs", "1",
            "--warmup", "0", "--engines", "mnn-dense,onnxruntime", "--no-progress",
            "--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md"),
            "--plot", str(tmp_path / "r.png"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mnn-dense" in r.stdout and "Traceback" not in r.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert {x["engine"] for x in data["results"]} == {"mnn-dense", "onnxruntime"}
    assert (tmp_path / "r.png").stat().st_size > 1000 and (tmp_path / "r.md").is_file()


def test_cli_bench_kernels_forwards_to_the_kernel_benchmark():
    r = cli("kernels", "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: sparsebytenn bench kernels" in r.stdout and "Traceback" not in r.stderr


def test_breakdown_splits_each_engines_profile_into_pruned_layers_and_the_rest(result):
    """Recomputed here from the raw per-op profiles and the converter's layer list."""
    from sparsebytenn.bench import breakdown
    (profiles,) = result["profiles_ms"].values()
    rows = breakdown(result)
    assert {(r["engine"], r["sparsity"]) for r in rows} >= {("mnn-sparse", 0.5), ("mnn-sparse", 0.9)}
    for r in rows:
        dense, eng = profiles["mnn-dense"], profiles[f"{r['engine']}@{r['sparsity'] * 100:g}%"]
        assert set(eng) == set(dense), "every engine runs the same MNN ops"
        layers = {ly["name"]: ly["sparsity_after"] for ly in result["conversions"]["tiny"][f"{r['sparsity']:g}"]
                  if ly["sparsity_after"] > ly.get("sparsity_before", 0)}
        assert r["pruned_layers"] == len(layers) > 0
        assert r["dense_pruned_ms"] == pytest.approx(sum(dense[n] for n in layers))
        assert r["engine_pruned_ms"] == pytest.approx(sum(eng[n] for n in layers))
        assert r["engine_other_ms"] == pytest.approx(sum(eng.values()) - r["engine_pruned_ms"])
        ideal = sum(dense[n] for n in layers) / sum(dense[n] * (1 - s) for n, s in layers.items())
        assert r["pruned_ideal_speedup"] == pytest.approx(ideal)


def test_op_types_add_up_to_the_profiles_and_say_who_ran_each_op(result, tiny):
    """issue 15.3: the other ops split by type and by runner; recomputed from the raw
    profiles, the ONNX graph's conv count and the bridge's own count of convs it ran."""
    from sparsebytenn.bench.breakdown import by_op_type, format_breakdown

    (key, profiles), = result["profiles_ms"].items()
    rows = by_op_type(result)
    plugin_convs = {r["sparsity"]: r["plugin_convs"] for r in result["results"] if r["engine"] == "plugin"}
    assert {(r["engine"], r["sparsity"]) for r in rows} == {
        (e, s) for e in ("mnn-pruned-dense", "mnn-sparse", "plugin") for s in (0.5, 0.9)}
    for (engine, s) in {(r["engine"], r["sparsity"]) for r in rows}:
        mine = [r for r in rows if r["engine"] == engine and r["sparsity"] == s]
        dense, eng = profiles["mnn-dense"], profiles[f"{engine}@{s * 100:g}%"]
        assert sum(r["ops"] for r in mine) == len(set(dense) | set(eng))
        assert sum(r["dense_ms"] for r in mine) == pytest.approx(sum(dense.values()))
        assert sum(r["engine_ms"] for r in mine) == pytest.approx(sum(eng.values()))
        convs = sum(r["ops"] for r in mine if r["op_type"].startswith("Convolution"))
        assert convs >= _pointwise_convs(tiny) > 0
        by_plugin = [r for r in mine if r["ran_by"] == "plugin"]
        if engine == "plugin":       # the pruned convs the bridge counted, and dense ops it took over
            pruned = [r for r in by_plugin if r["op_type"] == "Convolution, pruned"]
            assert sum(r["ops"] for r in pruned) == plugin_convs[s] > 0
            assert {r["op_type"] for r in by_plugin} <= {"Convolution, pruned", "Convolution", "ConvolutionDepthwise"}
        else:
            assert by_plugin == []
    assert "by op type" in format_breakdown(result)


def test_a_plugin_that_ran_only_some_tagged_convs_is_not_timed():
    # issue 14.10: only plugin_convs == 0 was refused; 12 of 13 falling back to stock
    # MNN would have been timed under the plugin's name
    from types import SimpleNamespace

    from sparsebytenn.bench.harness import _plugin_check
    from sparsebytenn.bench.measure import Instance

    layers = [{"name": f"c{i}", "tagged": True} for i in range(13)] + [{"name": "d", "tagged": False}]
    check = _plugin_check({0.5: SimpleNamespace(layers=layers)})
    for ran, ok in [(13, True), (12, False), (0, False)]:
        inst = Instance("plugin@50%", "plugin", "x:y", None, 1, 0.5, info={"plugin_convs": ran})
        why = check(inst)
        assert (why is None) == ok and (ok or f"ran {ran} of the 13 tagged" in why), why
