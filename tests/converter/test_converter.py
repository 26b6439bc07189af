"""Converter and inspect, checked against stock MNN, MNN's own JSON dump and numpy."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbnn_testing import require
from helpers import (exact_conv_weights, json_conv_weights, json_to_mnn, mnn_json, mnn_run,
                     partial_groups, rel_err)

from sparsebytenn_converter import convert, read_model
from sparsebytenn_converter.errors import ModelError

X_SMALL = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)



def cli(*args):
    return subprocess.run([sys.executable, "-m", "sparsebytenn", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


# ---------------------------------------------------------------- inspect
def test_inspect_json_matches_mnn_json_dump(small_model, tmp_path):
    r = cli("inspect", small_model, "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    ref = json_conv_weights(mnn_json(small_model, tmp_path))
    assert {op["name"] for op in got["ops"]} == set(ref)
    types = {op["name"]: op["type"] for op in got["ops"]}
    assert sum(t == "ConvolutionDepthwise" for t in types.values()) == 2
    assert types["logits__matmul_converted"] == "FC-as-1x1"
    for op in got["ops"]:
        w = ref[op["name"]]
        assert op["weights"] == w.size
        assert op["kernel"] == [w.shape[2], w.shape[3]]
        assert op["out_channels"] == w.shape[0]
        assert op["zero_fraction"] == pytest.approx(float(np.mean(w == 0)), abs=1e-6)
        assert op["sparse"] is None


def test_inspect_sees_sparse_metadata_and_zero_fraction(small_model, tmp_path):
    out = tmp_path / "s.mnn"
    convert(small_model, out, sparsity=0.6, group=4, plain=True, progress=False)
    got = json.loads(cli("inspect", out, "--json").stdout)
    ref = json_conv_weights(mnn_json(out, tmp_path))      # MNN decodes its own sparse coding
    tagged = [op for op in got["ops"] if op["sparse"]]
    assert len(tagged) == 6                                # 8 convs minus first and last
    for op in got["ops"]:
        assert op["zero_fraction"] == pytest.approx(float(np.mean(ref[op["name"]] == 0)), abs=1e-6)
    for op in tagged:
        sp = op["sparse"]
        assert sp["method"] == "SIMD_OC" and sp["args_sorted"]
        assert sp["args"]["sparseBlockOC"] == 4 and sp["sbnn"]["group"] == 4 and sp["sbnn"]["format"] == 1
        assert sp["sbnn"]["pattern"] == ("oc-group" if op["kernel"] == [1, 1] else "kernel")


def test_inspect_real_mobilenet(tmp_path):
    from sparsebytenn import zoo
    require(zoo.is_cached("mobilenet-v1") or not zoo.missing_requirements("mobilenet-v1"), "zoo mobilenet-v1")
    path = zoo.get("mobilenet-v1", progress=False)
    r = cli("inspect", path, "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert len(got["ops"]) >= 27
    assert sum(op["type"] == "ConvolutionDepthwise" for op in got["ops"]) == 13
    ref = exact_conv_weights(path, tmp_path)     # independent exact reader, checked against MNN's dump
    assert {op["name"] for op in got["ops"]} == set(ref)
    for op in got["ops"]:
        w = ref[op["name"]]
        assert op["zero_fraction"] == pytest.approx(float(np.mean(w == 0)), abs=1e-6), op["name"]
        assert op["weights"] == w.size and op["out_channels"] == w.shape[0]
        if op["type"] == "ConvolutionDepthwise":
            assert op["groups"] == op["in_channels"] == w.shape[0] and w.shape[1] == 1
        else:
            assert op["in_channels"] == w.shape[1] and op["groups"] == 1


# ---------------------------------------------------------------- convert, small model
@pytest.mark.parametrize("G", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("rearrange", [False, True])
def test_sparse_file_runs_in_stock_mnn_like_dense(small_model, tmp_path, G, rearrange):
    # G <= 2 at 90 %: below, the plugin would pack this model's narrow layers (16-45 inputs) in
    # wider, nearly full groups on x86, so the converter leaves them dense
    # (test_small_groups_that_run_dense_stay_untagged)
    S = 0.5 if G >= 4 else 0.9
    sp, de = tmp_path / "sp.mnn", tmp_path / "de.mnn"
    rs = convert(small_model, sp, sparsity=S, group=G, rearrange=rearrange, plain=True, progress=False)
    rd = convert(small_model, de, sparsity=S, group=G, rearrange=rearrange, format="dense", plain=True, progress=False)
    assert rel_err(mnn_run(sp, X_SMALL), mnn_run(de, X_SMALL)) < 1e-5
    # the dense file carries no sparse metadata; the sparse one tags every pruned layer
    assert all(c.sparse is None for c in read_model(de).convs)
    assert sum(c.sparse is not None for c in read_model(sp).convs) == sum(r.tagged for r in rs.layers) == 6
    # the pruned weights are G-shaped and at the requested sparsity (numpy on MNN's own dump)
    ref = json_conv_weights(mnn_json(sp, tmp_path))
    total = zeros = 0
    for rec in rs.layers:
        w = ref[rec.name]
        assert partial_groups(w, G) == 0, rec.name   # whole groups only
        total += w.size
        zeros += int((w == 0).sum())
    assert zeros / total == pytest.approx(S, abs=0.01)
    assert rd.totals()["sparsity_after"] == pytest.approx(rs.totals()["sparsity_after"])


def _group_sparsity(w: np.ndarray, G: int) -> float:
    """Share of the weights in whole zero units (G-groups; tail rows one by one), by numpy."""
    O = w.shape[0]
    pair_zero = (w == 0).all(axis=(2, 3))
    full = O // G * G
    main = pair_zero[:full].reshape(-1, G, w.shape[1]).all(axis=1).sum() * G
    return float((main + pair_zero[full:].sum()) * w.shape[2] * w.shape[3] / w.size)


def _packing_costs() -> dict[int, tuple[float, float]]:
    """Per G, (per stored weight, per output channel) relative to G=8's per stored weight, fitted
    with numpy to the shipped speed table itself (time per pixel = a x cin x cout x (1 - s) +
    b x cout, least squares relative to each row): what the plugin's packing choice models."""
    import platform

    from sparsebytenn_converter.speed_model import TABLES, host_isa

    require(platform.machine() in ("x86_64", "AMD64"), "an x86-64 host")
    isa, cpu = host_isa()
    vendor = "amd" if "amd" in cpu.lower() else "intel"
    path = next(p for p in (TABLES / f"x86-{isa}-{vendor}.json", TABLES / f"x86-{isa}-intel.json") if p.is_file())
    rows = [r for r in json.loads(path.read_text())["rows"] if r.get("engine") == "sparsebytenn"]
    fit = {}
    for G in (1, 2, 4, 8, 16):
        mine = [r for r in rows if r["G"] == G]
        A = np.array([[r["cin"] * r["cout"] * (1 - r["sparsity"]), r["cout"]] for r in mine], float)
        t = 2 * A[:, 0] / (np.array([r["gflops"] for r in mine]) * 1e9)
        fit[G] = np.linalg.lstsq(A / t[:, None], np.ones(len(mine)), rcond=None)[0]
    return {G: (a / fit[8][0], max(b, 0.0) / fit[8][0]) for G, (a, b) in fit.items()}


def test_small_groups_that_run_dense_stay_untagged(small_model, tmp_path):
    # a layer pruned in groups of 1 at 30 % runs on x86 packed as G=8 with every group kept (the
    # plugin's packing choice): tagged it would gain nothing there and run on stock MNN's slow
    # element-wise sparse kernel, so it stays dense; for arm64 (no packing choice) it is tagged
    costs = _packing_costs()
    out, arm = tmp_path / "x86.mnn", tmp_path / "arm.mnn"
    r = convert(small_model, out, sparsity=0.3, group=1, plain=True, progress=False)
    j = mnn_json(out, tmp_path)
    tagged = {op["name"] for op in j["oplists"] if op.get("main", {}).get("sparseParameter")}
    weights = json_conv_weights(j)
    for rec in r.layers:      # numpy on MNN's own dump: the packing with the least modelled time
        w = weights[rec.name]
        O, I, kh, kw = w.shape
        best = min((g for g in (1, 2, 4, 8, 16)),
                   key=lambda g: (1 - _group_sparsity(w, g)) * I * kh * kw * costs[g][0] + costs[g][1])
        assert (rec.name in tagged) == (_group_sparsity(w, best) >= 0.05), (rec.name, best)
    assert len(tagged) < len(r.layers)
    assert any(d["runs_as"] > 1 for d in r.kept_dense) and "packs in wider ones" in r.table()
    ra = convert(small_model, arm, sparsity=0.3, group=1, plain=True, target="arm64", progress=False)
    assert sum(x.tagged for x in ra.layers) == len(ra.layers)
    assert rel_err(mnn_run(out, X_SMALL), mnn_run(arm, X_SMALL)) < 1e-5   # the same weights, either way


def test_a_per_layer_sparsity_beyond_min_keep_prunes_to_the_cap_not_nothing(small_model, tmp_path):
    # --per-layer --sparsity 0.95 with the default --min-keep 0.1 left every layer dense (the
    # closest count to 95 % within the 90 % cap was looked for only next to 95 %)
    out = tmp_path / "capped.mnn"
    r = convert(small_model, out, sparsity=0.95, group=4, per_layer=True, plain=True, progress=False)
    weights = json_conv_weights(mnn_json(out, tmp_path))
    assert r.layers
    for rec in r.layers:     # MNN's own dump: at the cap, within one unit (G rows x 1 input x taps)
        w = weights[rec.name]
        unit = 4 * w.shape[2] * w.shape[3] / w.size
        assert 0.9 - unit - 1e-9 <= np.mean(w == 0) <= 0.9 + 1e-9, (rec.name, np.mean(w == 0))
    assert any("--min-keep 0.1" in w and "lower --min-keep" in w for w in r.warnings), r.warnings


def test_layers_pruned_too_little_stay_dense(small_model, tmp_path):
    # issue 14.6: --sparsity 0.0001 tagged every layer and nearly doubled the file
    out = tmp_path / "low.mnn"
    r = convert(small_model, out, sparsity=0.02, group=4, per_layer=True, layers={"/pw2/Conv_output_0": 0.5},
                plain=True, progress=False)
    j = mnn_json(out, tmp_path)
    tagged = {op["name"] for op in j["oplists"] if op.get("main", {}).get("sparseParameter")}
    weights = json_conv_weights(j)
    assert tagged == {"/pw2/Conv_output_0"}
    for rec in r.layers:     # MNN's own dump: tagged exactly where >= 5 % lies in whole groups
        assert (rec.name in tagged) == (_group_sparsity(weights[rec.name], 4) >= 0.05), rec.name
    assert any(0 < _group_sparsity(weights[x.name], 4) < 0.05 for x in r.layers)   # pruned, yet dense
    assert {x["name"] for x in r.kept_dense} == {x.name for x in r.layers} - tagged
    assert out.stat().st_size < 1.25 * small_model.stat().st_size
    assert not any("of the input's size" in w for w in r.warnings)
    assert rel_err(mnn_run(out, X_SMALL), mnn_run(small_model, X_SMALL)) < 0.5

    # nothing reaches 5 %: nothing tagged, and the CLI says so
    res = cli("convert", small_model, tmp_path / "none.mnn", "--sparsity", "0.02", "--per-layer", "--group", "4",
              "--plain")
    assert res.returncode == 0, res.stderr
    assert "none is tagged" in res.stdout + res.stderr
    assert not any(op.get("main", {}).get("sparseParameter") for op in mnn_json(tmp_path / "none.mnn",
                                                                                  tmp_path)["oplists"])


def test_report_warns_when_the_sparse_coding_grows_the_file(small_model, tmp_path):
    # 8 bytes per kept weight: at 10 % every tagged layer is 1.8x its dense size (for arm64: on x86
    # such a layer runs packed in full groups of 8, so it is left dense, test_small_groups_...)
    out = tmp_path / "grow.mnn"
    r = convert(small_model, out, sparsity=0.1, group=4, per_layer=True, plain=True, target="arm64", progress=False)
    ratio = out.stat().st_size / small_model.stat().st_size
    warned = [w for w in r.warnings if "of the input's size" in w]
    assert ratio > 1.25 and len(warned) == 1 and f"{ratio:.0%}" in warned[0]


def test_fully_connected_layer_is_pruned_in_groups_and_runs_in_stock_mnn(small_model, tmp_path):
    # MNN stores the FC (Gemm) as a 1x1 convolution: keep only the first conv dense
    sp, de = tmp_path / "sp.mnn", tmp_path / "de.mnn"
    rs = convert(small_model, sp, sparsity=0.5, group=4, skip=["first"], plain=True, progress=False)
    convert(small_model, de, sparsity=0.5, group=4, skip=["first"], format="dense", plain=True, progress=False)
    assert rel_err(mnn_run(sp, X_SMALL), mnn_run(de, X_SMALL)) < 1e-5
    got = {op["name"]: op for op in json.loads(cli("inspect", sp, "--json").stdout)["ops"]}
    fc = got["logits__matmul_converted"]
    assert fc["type"] == "FC-as-1x1" and fc["sparse"] and fc["sparse"]["sbnn"]["group"] == 4
    w = json_conv_weights(mnn_json(sp, tmp_path))["logits__matmul_converted"]      # (10, 40, 1, 1)
    assert 0 < (w == 0).mean() < 1
    assert partial_groups(w, 4) == 0                         # 10 = 2 groups of 4 + 2 tail rows
    assert sum(r.tagged for r in rs.layers) == 7


@pytest.mark.parametrize("target,G", [("arm64", 4), ("wasm", 4), ("x86", 8)])
def test_target_picks_its_group_size(small_model, tmp_path, target, G):
    out = tmp_path / "t.mnn"
    r = cli("convert", small_model, out, "--sparsity", "0.5", "--target", target, "--plain", "-q")
    assert r.returncode == 0, r.stderr
    tagged = [op for op in json.loads(cli("inspect", out, "--json").stdout)["ops"] if op["sparse"]]
    assert tagged and all(op["sparse"]["sbnn"]["group"] == G and op["sparse"]["sbnn"]["target"] == target
                          and op["sparse"]["args"]["sparseBlockOC"] == G for op in tagged)
    w = json_conv_weights(mnn_json(out, tmp_path))
    for op in tagged:  # MNN's own dump: whole G-groups
        assert partial_groups(w[op["name"]], G) == 0, op["name"]


def test_x86_default_chooses_the_group_per_layer(small_model, tmp_path):
    # with calibration (the default, data-free) on x86 the group size is chosen per layer
    import platform

    require(platform.machine() in ("x86_64", "AMD64"), "an x86-64 host")
    out = tmp_path / "a.mnn"
    r = convert(small_model, out, sparsity=0.5, progress=False)
    assert r.allocation and r.allocation["groups"] == [16, 8, 4, 2, 1]
    written = {op["name"]: op for op in json.loads(cli("inspect", out, "--json").stdout)["ops"] if op["sparse"]}
    # tagged: the layers auto pruned by 5 % or more (the rest stay dense, said in the report)
    assert set(written) == {x.name for x in r.layers if x.tagged}
    assert {d["name"] for d in r.kept_dense} == {x.name for x in r.layers if not x.tagged}
    for x in r.layers:
        assert x.G in (16, 8, 4, 2, 1)
        if x.tagged:
            assert written[x.name]["sparse"]["sbnn"]["group"] == x.G
    assert r.totals()["sparsity_after"] == pytest.approx(0.5, abs=0.03)
    # with the user's own images the target's G (8 on x86) stays the default
    x = np.random.default_rng(0).standard_normal((16, 3, 32, 32)).astype(np.float32)
    mine = convert(small_model, tmp_path / "b.mnn", sparsity=0.5, calibration=x, progress=False)
    assert not mine.allocation and {y.G for y in mine.layers} == {8}


@pytest.mark.parametrize("G,said", [(2, True), (8, False)])
def test_report_says_when_stock_mnn_runs_a_layer_slowly(small_model, tmp_path, G, said):
    # stock MNN's own sparse path handles G <= 2 with its element-wise kernel (docs/FORMAT.md)
    r = cli("convert", small_model, tmp_path / "g.mnn", "--sparsity", "0.5", "--group", str(G), "--plain")
    assert r.returncode == 0, r.stderr
    line = [x for x in (r.stdout + r.stderr).splitlines() if x.startswith("stock MNN:")]
    assert bool(line) == said, line
    if said:
        tagged = [op for op in json.loads(cli("inspect", tmp_path / "g.mnn", "--json").stdout)["ops"] if op["sparse"]]
        assert f"{len(tagged)} tagged layer(s) with G <= 2" in line[0]


def test_rearrangement_preserves_function_and_raises_energy(small_model, tmp_path):
    out = tmp_path / "perm.mnn"
    r = convert(small_model, out, sparsity=0.7, group=4, rearrange_only=True, format="dense", progress=False)
    assert any(rec.permuted for rec in r.layers)
    assert rel_err(mnn_run(out, X_SMALL), mnn_run(small_model, X_SMALL)) < 1e-5
    # the weights really moved (MNN's dump of the two files differs)
    a = json_conv_weights(mnn_json(out, tmp_path))
    b = json_conv_weights(mnn_json(small_model, tmp_path))
    assert any(not np.array_equal(a[k], b[k]) for k in a)
    p = convert(small_model, tmp_path / "p.mnn", sparsity=0.7, group=4, plain=True, progress=False)
    for rec in p.layers:
        assert rec.retained >= rec.retained_identity * (1 - 1e-9), rec.name
    assert p.totals()["retained"] > p.totals()["retained_identity"]


def test_everything_else_survives(small_model, tmp_path):
    out = tmp_path / "o.mnn"
    convert(small_model, out, sparsity=0.5, plain=True, progress=False)
    a, b = mnn_json(small_model, tmp_path), mnn_json(out, tmp_path / "..")
    for k in a:
        if k != "oplists":
            assert a[k] == b[k], k
    tagged = {c.name for c in read_model(out).convs if c.sparse}
    for x, y in zip(a["oplists"], b["oplists"], strict=True):
        if x["name"] in tagged:
            assert x["main"]["common"] == y["main"]["common"]
            x, y = dict(x), dict(y)
            x.pop("main"), y.pop("main")
        elif x.get("main_type") == "Convolution2D":
            x, y = dict(x), dict(y)
            x.pop("main"), y.pop("main")   # permuted consumers: checked by the function tests
        assert x == y


def test_detect_finds_exactly_numpy_pruned_layers(small_model, tmp_path):
    rng = np.random.default_rng(0)
    j = mnn_json(small_model, tmp_path)
    pruned = {"/pw2/Conv_output_0", "/k3/Conv_output_0", "/pw4/Conv_output_0"}
    unstructured = "/pw5/Conv_output_0"
    G = 4
    for op in j["oplists"]:
        if op["name"] in pruned:
            c = op["main"]["common"]
            O, kk = c["outputCount"], c.get("kernelX", 1) * c.get("kernelY", 1)
            w = np.array(op["main"]["weight"], np.float32).reshape(O, -1, kk)
            full = O // G * G
            drop = rng.random((O // G, w.shape[1])) < 0.6
            w[:full][np.repeat(drop, G, axis=0)] = 0
            w[full:][rng.random((O - full, w.shape[1])) < 0.6] = 0
            op["main"]["weight"] = w.ravel().tolist()
        if op["name"] == unstructured:
            w = np.array(op["main"]["weight"], np.float32)
            w[rng.random(w.size) < 0.6] = 0
            op["main"]["weight"] = w.ravel().tolist()
    src = json_to_mnn(j, tmp_path / "pruned.mnn")
    out = tmp_path / "det.mnn"
    r = convert(src, out, detect=True, group=G, progress=False)
    assert {rec.name for rec in r.layers if rec.tagged} == pruned
    assert [s["name"] for s in r.not_group_shaped] == [unstructured]
    assert rel_err(mnn_run(out, X_SMALL), mnn_run(src, X_SMALL)) < 1e-5


def test_options(small_model, tmp_path):
    names = [c.name for c in read_model(small_model).convs if c.type != "ConvolutionDepthwise"]
    r = convert(small_model, tmp_path / "a.mnn", sparsity=0.5, per_layer=True, group=4, plain=True, progress=False,
                layers=[f"{names[1]}=0.8"], skip=["first", names[2]])
    by = {rec.name: rec for rec in r.layers}
    assert names[0] not in by and names[2] not in by and names[-1] in by
    assert by[names[1]].sparsity_after == pytest.approx(0.8, abs=0.03)
    for n in names[3:]:
        assert by[n].sparsity_after == pytest.approx(0.5, abs=0.06)
    r = convert(small_model, tmp_path / "b.mnn", sparsity=0.95, min_keep=0.5, group=4, plain=True, progress=False)
    assert all(rec.sparsity_after <= 0.5 + 1e-6 for rec in r.layers)
    rep = tmp_path / "r.json"
    cli("convert", small_model, tmp_path / "c.mnn", "--sparsity", "0.3", "--group", "8", "--report", rep)
    d = json.loads(rep.read_text())
    assert d["totals"]["sparsity_after"] == pytest.approx(0.3, abs=0.01) and d["output_bytes"] > 0
    # the data-free default on x86 chooses G per layer: at least the target, and says so when well above it
    out = cli("convert", small_model, tmp_path / "d.mnn", "--sparsity", "0.3", "--report", rep, "--force")
    assert out.returncode == 0, out.stderr
    s = json.loads(rep.read_text())["totals"]["sparsity_after"]
    assert 0.3 - 0.01 <= s <= 0.3 + 0.06, s
    if s > 0.32:
        assert "reached" in out.stdout + out.stderr, out.stdout[-500:]


# ---------------------------------------------------------------- bad input
def test_bad_inputs_give_one_line_and_no_output(small_model, tmp_path):
    data = small_model.read_bytes()
    trunc = tmp_path / "trunc.mnn"
    trunc.write_bytes(data[: len(data) // 2])
    corrupt = tmp_path / "corrupt.mnn"
    c = bytearray(data)
    c[0:4] = (len(data) + 100).to_bytes(4, "little")
    corrupt.write_bytes(bytes(c))
    text = tmp_path / "text.mnn"
    text.write_text("hello, not a model\n" * 10)
    out = tmp_path / "out.mnn"
    cases = [
        ("missing", ["convert", tmp_path / "nope.mnn", out, "--sparsity", "0.5"]),
        ("non-MNN", ["convert", text, out, "--sparsity", "0.5"]),
        ("truncated", ["convert", trunc, out, "--sparsity", "0.5"]),
        ("corrupted", ["convert", corrupt, out, "--sparsity", "0.5"]),
        ("S>=1", ["convert", small_model, out, "--sparsity", "1.0"]),
        ("S<0", ["convert", small_model, out, "--sparsity", "-0.1"]),
        ("G", ["convert", small_model, out, "--sparsity", "0.5", "--group", "3"]),
        ("target", ["convert", small_model, out, "--sparsity", "0.5", "--target", "riscv"]),
        ("OUT==IN", ["convert", small_model, small_model, "--sparsity", "0.5"]),
        ("unwritable", ["convert", small_model, tmp_path / "no-such-dir" / "o.mnn", "--sparsity", "0.5"]),
        ("layer", ["convert", small_model, out, "--layer", "bogus=0.5"]),
        ("inspect truncated", ["inspect", trunc]),
        ("inspect corrupted", ["inspect", corrupt]),
        ("inspect non-MNN", ["inspect", text]),
        ("inspect missing", ["inspect", tmp_path / "nope.mnn"]),
    ]
    before = small_model.read_bytes()
    for what, args in cases:
        r = cli(*args)
        assert r.returncode != 0, what
        assert "Traceback" not in r.stderr, (what, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("sparsebytenn: error:"), (what, r.stderr)
        assert not out.exists(), what
    assert small_model.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.mnn")]
    # the unknown --layer name error lists the layers that can be named
    r = cli("convert", small_model, out, "--layer", "bogus=0.5")
    assert "bogus" in r.stderr and "/pw2/Conv_output_0" in r.stderr, r.stderr


def test_inspect_table_names_every_conv(small_model, tmp_path):
    r = cli("inspect", small_model)
    assert r.returncode == 0, r.stderr
    for name in json_conv_weights(mnn_json(small_model, tmp_path)):
        assert name in r.stdout, name
    assert "ConvolutionDepthwise" in r.stdout and "FC-as-1x1" in r.stdout


def test_existing_output_needs_force(small_model, tmp_path):
    out = tmp_path / "o.mnn"
    out.write_bytes(b"precious")
    r = cli("convert", small_model, out, "--sparsity", "0.5")
    assert r.returncode == 1 and "--force" in r.stderr and out.read_bytes() == b"precious"
    r = cli("convert", small_model, out, "--sparsity", "0.5", "--force")
    assert r.returncode == 0, r.stderr
    assert read_model(out).convs


def test_corrupted_bytes_never_crash_the_reader(small_model):
    """Flip bytes across the whole file: the reader either reads it or raises ModelError."""
    from sparsebytenn_converter import ModelError
    data = small_model.read_bytes()
    rng = np.random.default_rng(3)
    for _ in range(300):
        b = bytearray(data)
        for p in rng.integers(0, len(b), size=4):
            b[p] = int(rng.integers(0, 256))
        cut = int(rng.integers(len(b) // 2, len(b) + 1))
        try:
            read_model("fuzz.mnn", data=bytes(b[:cut]))
        except ModelError:
            pass


def _two_input_model(path: Path) -> Path:
    """x -> stem -> pw1 -> pw2 -> out1 and y -> head -> out2, with the head first in the file."""
    import torch
    import torch.nn as nn

    from helpers import _mnnconvert

    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(s):
            super().__init__()
            s.head = nn.Conv2d(16, 8, 1)
            s.stem = nn.Conv2d(3, 16, 1)
            s.pw1 = nn.Conv2d(16, 16, 1)
            s.pw2 = nn.Conv2d(16, 16, 1)

        def forward(s, y, x):
            h = s.head(y)
            return s.pw2(torch.relu(s.pw1(torch.relu(s.stem(x))))), h

    onnx_path = path.with_suffix(".onnx")
    torch.onnx.export(Net().eval(), (torch.randn(1, 16, 4, 4), torch.randn(1, 3, 8, 8)), str(onnx_path),
                      opset_version=13, dynamo=False, input_names=["y", "x"], output_names=["out1", "out2"])
    _mnnconvert(["-f", "ONNX", "--modelFile", onnx_path, "--MNNModel", path, "--bizCode", "test"], path)
    return path


def test_skip_first_and_last_follow_the_graph_not_the_file(tmp_path):
    # issue 14.4: with two inputs the head read from the second input is both a first
    # and a last layer; the file's first conv is not the network's first layer.
    model = _two_input_model(tmp_path / "two.mnn")
    names = [c.name for c in read_model(model).convs]     # MNN names a conv by its output
    assert len(names) == 4 and names[0] == "out2"          # the head comes first in the file
    by_module = dict(zip(("head", "stem", "pw1", "pw2"), names))
    rep = convert(model, tmp_path / "o.mnn", sparsity=0.5, group=4, plain=True, progress=False)
    assert [r.name for r in rep.layers] == [by_module["pw1"]]
    skipped = {s["name"] for s in rep.skipped if s["reason"] == "skipped (--skip)"}
    assert skipped == {by_module["head"], by_module["stem"], by_module["pw2"]}
    only_first = convert(model, tmp_path / "f.mnn", sparsity=0.5, group=4, skip=["first"], plain=True, progress=False)
    assert {r.name for r in only_first.layers} == {by_module["pw1"], by_module["pw2"]}


def test_detect_regroups_groups_trained_in_another_channel_order(small_model, tmp_path):
    # a model pruned in training with masks in the dense channel order (e.g. groups the
    # converter chose after rearranging): every group is 4 scattered output channels.
    # pw1 and pw3 share their output channels (residual add), so one order serves both.
    rng = np.random.default_rng(1)
    j = mnn_json(small_model, tmp_path)
    G, C = 4, 32
    groups = rng.permutation(C).reshape(-1, G)
    layers = ("/pw1/Conv_output_0", "/pw3/Conv_output_0")
    for op in j["oplists"]:
        if op["name"] in layers:
            w = np.array(op["main"]["weight"], np.float32).reshape(C, -1)
            for g in groups:
                w[np.ix_(g, np.flatnonzero(rng.random(w.shape[1]) < 0.5))] = 0
            op["main"]["weight"] = w.ravel().tolist()
    src = json_to_mnn(j, tmp_path / "scattered.mnn")
    with pytest.raises(ModelError, match="found no layer"):
        convert(src, tmp_path / "plain.mnn", detect=True, group=G, rearrange=False, progress=False)
    out = tmp_path / "det.mnn"
    r = convert(src, out, detect=True, group=G, progress=False)
    assert {rec.name for rec in r.layers if rec.tagged} == set(layers)
    assert rel_err(mnn_run(out, X_SMALL), mnn_run(src, X_SMALL)) < 1e-5
    before, after = exact_conv_weights(src, tmp_path), exact_conv_weights(out, tmp_path)
    for name in layers:
        w = after[name]
        assert partial_groups(w, G) == 0 and (w == 0).mean() > 0.3
        rec = next(x for x in r.layers if x.name == name)
        np.testing.assert_array_equal(w, before[name][rec.out_order])
