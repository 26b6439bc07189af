"""`sparsebytenn bench kernels` end to end on one small configuration: JSON
records carry the documented fields, every engine asked for either has rows or
a MISSING note saying why, and the kernels' outputs agree with the benchmark's
float64 numpy reference. (No speed is asserted: speed targets live in the
benchmark's report, not in tests.)"""
import json

import pytest

from sparsebytenn.bench import kernel_bench

FIELDS = {"isa", "layer", "sparsity", "threads", "engine", "median_ms", "gflops_effective", "max_rel_err"}


def test_bench_kernels_small_run(tmp_path, capsys):
    out = tmp_path / "k.json"
    rc = kernel_bench.main(["--engines", "sparsebytenn,xnnpack", "--layers", "7x7_1024-1024", "--sparsity", "0.5",
                            "--threads", "1,2", "--rounds", "1", "--repeats", "1", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    records = [r for r in json.loads(out.read_text()) if r["engine"] not in ("static-asm", "llvm-mca")]
    assert records and all(FIELDS <= set(r) for r in records)
    ours = [r for r in records if r["engine"] == "sparsebytenn"]
    assert {r["threads"] for r in ours} == {1, 2}
    assert all(r["max_rel_err"] < 1e-4 and r["median_ms"] > 0 for r in ours)
    for engine in ("xnnpack",):
        got = [r for r in records if r["engine"] == engine]
        assert got or f"MISSING {engine}" in text, f"{engine}: neither rows nor a MISSING note"
        assert all(r["max_rel_err"] < 1e-3 for r in got)


def test_notes_name_missing_peers_and_the_wasm_runtime():
    notes = kernel_bench.format_notes(
        [{"engine": "wasm", "runtime": "node v20 --no-liftoff"}], ["sparsebytenn", "wasm", "mnn-sparse"],
        [1], [0.0, 0.5], {"xnnpack (1 thread(s))": "not run: libXNNPACK.so.0 not found"})
    assert "node v20 --no-liftoff" in notes
    assert "MISSING xnnpack (1 thread(s)): not run: libXNNPACK.so.0 not found" in notes
    assert "mnn-sparse at sparsity 0: not run" in notes


@pytest.mark.parametrize("argv, msg", [(["--engines", "nope"], "unknown engine"),
                                       (["--layers", "3x3_1-1"], "unknown"),
                                       (["--sparsity", "1.5"], "sparsities")])
def test_bad_arguments_fail_with_one_line(argv, msg, capsys):
    assert kernel_bench.main(argv) == 1
    assert msg in capsys.readouterr().err


def test_an_engine_with_wrong_outputs_is_failed_untimed_and_out_of_the_ratios(tmp_path, capsys, monkeypatch):
    # issue 14.11: max_rel_err was computed and ignored. Here every engine is handed
    # weights that differ from the ones the float64 reference used (signs flipped in
    # one case), i.e. engines that compute the wrong thing.
    import numpy as np

    real = kernel_bench.make_cases

    def wrong_weights(*a, **kw):
        cases = real(*a, **kw)
        bad = next(c for c in cases if c["sparsity"] == 0.5)
        w = np.load(f"{bad['dir']}/w.npy")
        np.save(f"{bad['dir']}/w.npy", -w)
        return cases

    monkeypatch.setattr(kernel_bench, "make_cases", wrong_weights)
    out = tmp_path / "k.json"
    rc = kernel_bench.main(["--engines", "sparsebytenn,mnn-dense", "--layers", "7x7_1024-1024", "--sparsity",
                            "0.3,0.5", "--threads", "1", "--rounds", "1", "--repeats", "1", "--json", str(out)])
    captured = capsys.readouterr()
    assert rc == 1 and "FAILED" in captured.err
    records = [r for r in json.loads(out.read_text()) if r["engine"] not in ("static-asm", "llvm-mca")]
    bad = [r for r in records if r["sparsity"] == 0.5]
    good = [r for r in records if r["sparsity"] == 0.3]
    assert bad and all(r["status"] == "failed" and r["max_rel_err"] > 1 and r["median_ms"] is None for r in bad)
    assert good and all(r["status"] == "ok" and r["max_rel_err"] < 1e-4 and r["median_ms"] > 0 for r in good)
    table = captured.out.splitlines()
    row = next(l for l in table if l.startswith("7x7_1024-1024   0.50"))
    assert "FAILED" in row and not row.rstrip().endswith("x")          # no ratio from a wrong row
    assert next(l for l in table if l.startswith("7x7_1024-1024   0.30")).rstrip().endswith("x")


@pytest.mark.wasm
def test_bench_wasm_engines_in_node_and_chromium(tmp_path, capsys):
    """The relaxed-SIMD build in node and both builds in headless Chromium give rows
    that match the float64 reference and name the variant each one really ran."""
    from sbnn_testing import require, require_tool

    from sparsebytenn.bench.browser import chromium_path

    require_tool("clang++-19")
    require_tool("node")
    require(chromium_path() is not None, "Debian chromium (scripts/setup.sh installs it)")
    out = tmp_path / "k.json"
    engines = ["wasm-relaxed", "chromium-wasm", "chromium-wasm-relaxed"]
    rc = kernel_bench.main(["--engines", ",".join(engines), "--layers", "7x7_1024-1024", "--sparsity", "0.5",
                            "--threads", "1", "--rounds", "1", "--repeats", "1", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text[-2000:]
    records = {r["engine"]: r for r in json.loads(out.read_text()) if r["engine"] not in ("static-asm", "llvm-mca")}
    assert sorted(records) == sorted(engines), text[-2000:]
    isa = {"wasm-relaxed": "wasmrelaxedsimd", "chromium-wasm": "wasmsimd", "chromium-wasm-relaxed": "wasmrelaxedsimd"}
    for e, r in records.items():
        assert r["status"] == "ok" and r["max_rel_err"] < 1e-4 and r["median_ms"] > 0, r
        assert r["isa"] == isa[e] and r["variant"] == f"f32_gspmm_8x8__{isa[e]}", r
    assert "--experimental-wasm-relaxed-simd" in records["wasm-relaxed"]["runtime"]
    assert "Chromium" in records["chromium-wasm"]["runtime"]


def test_efficientnet_layer_set_is_the_models_1x1_convs():
    """`--layers efficientnet-lite0` times exactly the zoo model's distinct 1x1 convs
    (traced from the torch model itself), and set names mix with single layers."""
    from sbnn_testing import require

    try:
        import torch
    except ImportError:
        torch = None
    require(torch is not None, "torch (pip install 'sparsebytenn[zoo]')")
    from sparsebytenn.zoo.efficientnet_lite0 import build

    model, _ = build()
    seen = []

    def hook(mod, inp, out):
        if mod.kernel_size == (1, 1) and mod.groups == 1:
            seen.append((f"{out.shape[2]}x{out.shape[3]}_{mod.in_channels}-{mod.out_channels}", out.shape[2],
                         mod.in_channels, mod.out_channels))

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    assert kernel_bench.EFFICIENTNET_LITE0_LAYERS == list(dict.fromkeys(seen))
    plan = kernel_bench.plan_from_args(kernel_bench.build_parser().parse_args(
        ["--engines", "sparsebytenn", "--layers", "7x7_1024-1024,efficientnet-lite0,7x7_320-1280"]))
    assert [l[0] for l in plan.layers] == ["7x7_1024-1024"] + [l[0] for l in kernel_bench.EFFICIENTNET_LITE0_LAYERS]
