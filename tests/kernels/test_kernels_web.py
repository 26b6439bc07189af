"""The ES module plugin/web/sparsebytenn.mjs in node and in headless Chromium.

The test serves cases from a loopback-only server it starts and stops
(sparsebytenn.bench.browser), web_driver.mjs runs them through the module in
the engine and POSTs the outputs back, and they are compared here with the
float64 numpy reference (kernel_reference.conv2d_reference) under the testers'
tolerance, which covers relaxed_madd fused or not. Chromium is launched once for
the module; node twice (without and with relaxed SIMD)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kernel_reference import conv2d_reference, from_packed, sparse_weights, to_packed, tolerance
from sbnn_testing import require, require_tool

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
MODULE = ROOT / "plugin" / "web" / "sparsebytenn.mjs"

# (O, I, k, H, W, stride, dilation, padding, group, sparsity, clamp, batch, layout, out_layout)
CASES = [
    (64, 64, 1, 14, 14, (1, 1), (1, 1), (0, 0, 0, 0), 8, 0.5, "none", 1, "nchw", "nchw"),
    (64, 64, 1, 14, 14, (1, 1), (1, 1), (0, 0, 0, 0), 8, 0.7, "relu", 1, "nc4hw4", "nc4hw4"),
    (20, 13, 1, 7, 7, (1, 1), (1, 1), (0, 0, 0, 0), 4, 0.3, "relu6", 2, "nc4hw4", "nchw"),
    (37, 19, 3, 6, 5, (2, 2), (1, 1), (1, 0, 2, 1), 16, 0.5, "none", 1, "nchw", "nc4hw4"),
    (16, 8, 5, 9, 9, (1, 1), (2, 2), (2, 2, 2, 2), 2, 0.0, "relu", 1, "nchw", "nchw"),
    (33, 40, 3, 1, 1, (1, 1), (1, 1), (1, 1, 1, 1), 1, 0.9, "none", 1, "nc4hw4", "nc4hw4"),
    (48, 16, 3, 7, 7, (1, 1), (1, 1), (1, 1), 8, 1.0, "relu6", 1, "nchw", "nchw"),   # all-zero; [top, left] padding
    (12, 10, 3, 8, 6, (1, 2), (1, 1), (2, 1), 4, 0.5, "relu", 1, "nchw", "nc4hw4"),  # [top, left] padding
    (3, 2, 1, 2, 2, (1, 1), (1, 1), (0, 0, 0, 0), 16, 0.0, "none", 1, "nc4hw4", "nchw"),    # fewer channels than G
    (24, 32, 1, 1, 35, (1, 1), (1, 1), (0, 0, 0, 0), 4, 0.3, "none", 1, "nc4hw4", "nc4hw4"),  # every tail
]
CLAMPS = {"none": (None, None), "relu": (0.0, None), "relu6": (0.0, 6.0)}
# Bad calls: (name, the words the message must hold, call description for the driver)
ERRORS = [
    ("channels", "input has 5 channels, the weights expect 4",
     dict(wshape=[8, 4, 1, 1], wlen=32, xshape=[1, 5, 3, 3], xlen=45)),
    ("input length", "needs 36 values, got 35", dict(wshape=[8, 4, 1, 1], wlen=32, xshape=[1, 4, 3, 3], xlen=35)),
    ("nc4hw4 length", "nc4hw4 input of shape [1,6,3,3] needs 72 values",
     dict(wshape=[8, 6, 1, 1], wlen=48, xshape=[1, 6, 3, 3], xlen=54, opts={"layout": "nc4hw4"})),
    ("weights length", "weights hold 31 values", dict(wshape=[8, 4, 1, 1], wlen=31, xshape=[1, 4, 3, 3], xlen=36)),
    ("group", "groupSize must be 1, 2, 4, 8 or 16, got 3",
     dict(wshape=[8, 4, 1, 1], wlen=32, group=3, xshape=[1, 4, 3, 3], xlen=36)),
    ("layout", 'layout must be "nchw" or "nc4hw4", got "nhwc"',
     dict(wshape=[8, 4, 1, 1], wlen=32, xshape=[1, 4, 3, 3], xlen=36, opts={"layout": "nhwc"})),
    ("kernel too big", "larger than the padded 2x2 input", dict(wshape=[8, 4, 3, 3], wlen=288, xshape=[1, 4, 2, 2], xlen=16)),
    ("stride", "stride must be 2 positive integers",
     dict(wshape=[8, 4, 1, 1], wlen=32, xshape=[1, 4, 3, 3], xlen=36, opts={"stride": [0, 1]})),
    ("padding", "padding must be", dict(wshape=[8, 4, 1, 1], wlen=32, xshape=[1, 4, 3, 3], xlen=36,
                                        opts={"padding": [-1, 0]})),
    ("weights type", "weights must be a Float32Array, got Float64Array",
     dict(wshape=[8, 4, 1, 1], wlen=32, weights="float64", xshape=[1, 4, 3, 3], xlen=36)),
    ("input type", "input must be a Float32Array, got Array",
     dict(wshape=[8, 4, 1, 1], wlen=32, input="array", xshape=[1, 4, 3, 3], xlen=36)),
    ("shape rank", "input shape [N, C, H, W] must be 4 positive integers",
     dict(wshape=[8, 4, 1, 1], wlen=32, xshape=[4, 3, 3], xlen=36)),
]


def make_cases():
    """-> (meta for cases.json, case binaries, expected outputs as NCHW float64 + padded-lane flags)."""
    metas, blobs, expected = [], [], []
    for idx, (o, i, k, h, w_, s, d, p, g, sp, clamp, n, layout, out_layout) in enumerate(CASES):
        rng = np.random.default_rng(1000 + idx)
        w = sparse_weights(rng, o, i, k, k, g, sp)
        b = rng.standard_normal(o).astype(np.float32)
        x = (rng.standard_normal((n, i, h, w_)) * 2).astype(np.float32)
        lo, hi = CLAMPS[clamp]
        full_pad = tuple(p) * 2 if len(p) == 2 else p   # the module's [top, left] = symmetric
        ref = conv2d_reference(x, w, b, s, d, full_pad, -np.inf if lo is None else lo, np.inf if hi is None else hi)
        xin = x if layout == "nchw" else to_packed(x, 4)
        blobs.append(np.concatenate([w.ravel(), b, xin.ravel()]).astype(np.float32).tobytes())
        metas.append(dict(wshape=[o, i, k, k], xshape=[n, i, h, w_], group=g, lo=lo, hi=hi, stride=list(s),
                          dilation=list(d), padding=list(p), layout=layout, out_layout=out_layout))
        expected.append((ref, tolerance(w, x), out_layout))
    return metas, blobs, expected


def serve(server, wasm_simd, wasm_relaxed):
    metas, blobs, expected = make_cases()
    server.routes.update({
        "/web_index.html": HERE / "web_index.html", "/web_driver.mjs": HERE / "web_driver.mjs",
        "/sparsebytenn.mjs": MODULE, "/simd.wasm": wasm_simd, "/relaxed.wasm": wasm_relaxed,
        "/cases.json": json.dumps({"cases": metas, "errors": [dict(name=n, **c) for n, _, c in ERRORS]}).encode(),
    })
    for i, blob in enumerate(blobs):
        server.routes[f"/case/{i}.bin"] = blob
    return expected


def check_outputs(server, summary, expected, builds):
    assert "fatal" not in summary, summary.get("fatal")
    assert summary["builds"] == builds
    isa = {"relaxed": "wasmrelaxedsimd", "simd128": "wasmsimd"}
    for build in builds:
        for i, (ref, tol, out_layout) in enumerate(expected):
            key = f"/out/{build}/{i}/{isa[build]}"   # the isa the packed conv reported
            assert key in server.posted, f"no output {key}: {sorted(server.posted)[:8]}"
            y = np.frombuffer(server.posted[key], np.float32)
            n, o, oh, ow = ref.shape
            if out_layout == "nchw":
                got = y.reshape(ref.shape)
            else:
                got, pad = from_packed(y.reshape(-(-o // 4), n, oh, ow, 4), o)
                assert not pad.any(), f"{build} case {i}: padded output lanes must be 0"
            err = float(np.abs(got - ref).max())
            assert err <= tol, f"{build} case {i} ({CASES[i]}): max abs err {err} > {tol}"


def check_errors(summary):
    got = {e["name"]: e["message"] for e in summary["errors"]}
    for name, words, _ in ERRORS:
        assert got[name] is not None, f"{name}: the bad call did not throw"
        assert words in got[name], f"{name}: {got[name]!r} lacks {words!r}"


@pytest.fixture(scope="module")
def wasm_modules():
    require_tool("clang++-19")
    require_tool("wasm-ld-19")
    from sparsebytenn.bench.kernel_peers import build_wasm

    return build_wasm(False), build_wasm(True)


@pytest.fixture(scope="module")
def chromium_run(wasm_modules):
    from sparsebytenn.bench.browser import LoopbackServer, chromium_path, run_page_in_chromium

    require(chromium_path() is not None, "Debian chromium (scripts/setup.sh installs it)")
    with LoopbackServer() as server:
        expected = serve(server, *wasm_modules)
        summary = run_page_in_chromium(server, "web_index.html", timeout=120)
        yield server, summary, expected


def _node_run(wasm_modules, flags):
    from sparsebytenn.bench.browser import LoopbackServer, run_script_in_node

    require_tool("node")
    with LoopbackServer() as server:
        expected = serve(server, *wasm_modules)
        summary = run_script_in_node(server, HERE / "web_driver.mjs", [MODULE.as_uri()], flags)
        return server, summary, expected


@pytest.mark.wasm
def test_chromium_picks_relaxed_simd(chromium_run):
    _, summary, _ = chromium_run
    assert "fatal" not in summary, summary.get("fatal")
    assert summary["auto"] == {"build": "relaxed", "isa": "wasmrelaxedsimd"}


@pytest.mark.wasm
def test_chromium_both_builds_match_numpy(chromium_run):
    server, summary, expected = chromium_run
    check_outputs(server, summary, expected, ["relaxed", "simd128"])


@pytest.mark.wasm
def test_chromium_bad_calls_throw_clear_errors(chromium_run):
    check_errors(chromium_run[1])


@pytest.mark.wasm
def test_node_without_relaxed_simd_uses_simd128(wasm_modules):
    """node 20 refuses relaxed SIMD by default: the probe must say so and the
    module must fall back to the SIMD128 build (which must still be right)."""
    server, summary, expected = _node_run(wasm_modules, [])
    assert summary.get("auto") == {"build": "simd128", "isa": "wasmsimd"}, summary
    check_outputs(server, summary, expected, ["simd128"])
    check_errors(summary)


@pytest.mark.wasm
def test_node_with_relaxed_simd_uses_it(wasm_modules):
    server, summary, expected = _node_run(wasm_modules, ["--experimental-wasm-relaxed-simd"])
    assert summary.get("auto") == {"build": "relaxed", "isa": "wasmrelaxedsimd"}, summary
    check_outputs(server, summary, expected, ["relaxed", "simd128"])
