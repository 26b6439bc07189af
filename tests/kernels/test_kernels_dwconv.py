"""Depthwise conv kernels (sparsebytenn/dwconv.h) against numpy, native build.

Every depthwise variant in the build's table (ref, avx2, avx512 and their
specialised 3x3/5x5 stride-1/2 entries) meets channel counts that are not a
multiple of the pack, 1x1 to 7x7 kernels, images from 1x1 up, strides 1/2,
dilation, symmetric / asymmetric / SAME pads and the three clamps, on 1-3
threads. The reference is kernel_reference.conv2d_reference (float64 numpy)
with the depthwise filter spread on a diagonal OIHW weight."""
import functools
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from kernel_reference import CLAMPS, assert_all_layouts_match, conv2d_reference, from_packed, same_pads, to_packed

import sparsebytenn._kernels as K

DW = K.dw_variants()
ISAS = list(dict.fromkeys(v["isa"] for v in DW))


def isa_params():
    return [pytest.param(isa, marks=[] if K.isa_available(isa) else
                         [pytest.mark.skip(reason=f"this CPU cannot run {isa}")], id=isa) for isa in ISAS]


def dw_reference(x, w, b, stride, dilation, pads, lo, hi):
    c = w.shape[0]
    full = np.zeros((c, c) + w.shape[2:], np.float32)
    full[np.arange(c), np.arange(c)] = w[:, 0]
    return conv2d_reference(x, full, b, stride, dilation, pads, lo, hi)


# (C, (kh, kw), (H, W), stride, dilation, pads (top, left, bottom, right) | "SAME")
SHAPES = [
    (13, (3, 3), (7, 9), (1, 1), (1, 1), (1, 1, 1, 1)),       # C not a multiple of 8 or 16
    (37, (3, 3), (8, 8), (2, 2), (1, 1), "SAME"),              # TF SAME stride 2: pad only at the end
    (40, (5, 5), (9, 11), (1, 1), (1, 1), (2, 2, 2, 2)),
    (17, (5, 5), (6, 7), (2, 2), (1, 1), (1, 2, 2, 1)),        # asymmetric, stride 2
    (24, (3, 3), (5, 5), (1, 1), (2, 2), (2, 2, 2, 2)),        # dilation 2 (kxk path)
    (32, (1, 1), (1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),        # 1x1 kernel, 1x1 image
    (9, (7, 7), (7, 7), (1, 1), (1, 1), (3, 3, 3, 3)),         # 7x7
    (8, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1, 1, 1)),         # one pixel, all-pad taps
    (3, (2, 2), (4, 5), (1, 1), (1, 1), (0, 1, 1, 0)),         # fewer channels than a block, even kernel
    (48, (3, 5), (6, 13), (1, 2), (1, 1), (1, 2, 1, 2)),       # anisotropic kernel and stride
    (16, (3, 3), (33, 29), (1, 1), (1, 1), (0, 0, 2, 2)),      # wider rows: 8-pixel steps + tails
    (25, (5, 5), (15, 15), (2, 2), (1, 1), "SAME"),
    (64, (3, 3), (28, 28), (2, 2), (1, 1), (0, 0, 1, 1)),      # MobileNet-like stride 2 (TF pads)
    (7, (4, 4), (3, 3), (1, 1), (1, 1), (2, 2, 1, 1)),         # kernel larger than the image
    (20, (3, 3), (4, 10), (1, 1), (1, 1), (1, 1, 1, 1)),       # rows of 8 + 2 (AVX-512 rest of 2)
]


def make_cases():
    cases = []
    for i, shape in enumerate(SHAPES):
        for j, clamp in enumerate(CLAMPS):
            cases.append(dict(shape=shape, clamp=clamp, threads=1 + (i + j) % 3, batch=1 + ((i + j) % 4 == 0),
                              seed=10 * i + j))
    return cases


CASES = make_cases()


def case_id(c):
    ch, (kh, kw), (h, w), s, d, p = c["shape"]
    return f"c{ch}k{kh}x{kw}_{h}x{w}_s{s[0]}{s[1]}d{d[0]}{d[1]}_{'same' if p == 'SAME' else ''.join(map(str, p))}" \
           f"_{c['clamp']}_t{c['threads']}n{c['batch']}"


def setup_case(case):
    ch, (kh, kw), (h, w_), s, d, p = case["shape"]
    if p == "SAME":
        (t, bt), (lf, rt) = same_pads(h, kh, s[0], d[0]), same_pads(w_, kw, s[1], d[1])
        p = (t, lf, bt, rt)
    rng = np.random.default_rng(case["seed"])
    w = rng.standard_normal((ch, 1, kh, kw)).astype(np.float32)
    b = rng.standard_normal(ch).astype(np.float32)
    x = (rng.standard_normal((case["batch"], ch, h, w_)) * 2).astype(np.float32)
    lo, hi = CLAMPS[case["clamp"]]
    return w, b, x, s, d, list(p), lo, hi


@pytest.mark.parametrize("isa", isa_params())
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_dwconv_matches_numpy(isa, case):
    w, b, x, s, d, p, lo, hi = setup_case(case)
    ref = dw_reference(x, w, b, s, d, p, lo, hi)
    dw = K.DwConv(w, b, lo, hi, isa)
    assert dw.info["isa"] == isa
    run = functools.partial(dw.run, stride=s, dilation=d, padding=p)
    assert_all_layouts_match(run, x, ref, w.shape[0], (1, 4, 8, 16) if isa == "ref" else (8,), case["threads"])


@pytest.mark.parametrize("isa", isa_params())
def test_garbage_in_padded_input_lanes_is_ignored(isa):
    """MNN does not promise zeros in the last block's unused lanes."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((11, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(11).astype(np.float32)
    x = rng.standard_normal((1, 11, 6, 6)).astype(np.float32)
    xp = to_packed(x, 8)
    xp[1, ..., 3:] = np.nan
    got, pad = from_packed(K.DwConv(w, b, isa=isa).run(xp, padding=[1, 1, 1, 1], pack=8), 11)
    assert np.abs(got - dw_reference(x, w, b, (1, 1), (1, 1), (1, 1, 1, 1), -np.inf, np.inf)).max() <= 1e-4
    assert not pad.any()


def test_variant_table_and_dispatch():
    names = [v["name"] for v in DW]
    assert len(names) == len(set(names))
    for v in DW:
        kh, kw = v["kernel"]
        shape = f"{kh}x{kw}s{v['stride']}" if kh else "kxk"
        assert v["name"] == f"f32_dwconv_{shape}__{v['isa']}"
    assert "ref" in ISAS and ISAS[-1] == "ref"
    for isa in ISAS:
        if not K.isa_available(isa):
            continue
        w = np.ones((16, 1, 3, 3), np.float32)
        dw = K.DwConv(w, isa=isa)
        want = f"f32_dwconv_3x3s1__{isa}" if isa != "ref" else "f32_dwconv_kxk__ref"
        assert dw.variant_for(1, 1) == want
        assert dw.variant_for(1, 2).endswith("kxk__" + isa)     # anisotropic stride: the kxk entry
        assert K.DwConv(np.ones((16, 1, 2, 3), np.float32), isa=isa).variant_for(1, 1).endswith("kxk__" + isa)


def test_simd_variants_refuse_other_packs():
    for isa in ISAS:
        if isa == "ref" or not K.isa_available(isa):
            continue
        dw = K.DwConv(np.ones((8, 1, 3, 3), np.float32), isa=isa)
        with pytest.raises(ValueError, match="layout"):
            dw.run(to_packed(np.ones((1, 8, 4, 4), np.float32), 4), pack=4)


@pytest.mark.parametrize("isa", ["ref", "avx2", "avx512"])
def test_env_selects_the_depthwise_isa(isa):
    if not K.isa_available(isa):
        pytest.skip(f"this CPU cannot run {isa}")
    env = dict(os.environ, SPARSEBYTENN_ISA=isa)
    code = ("import numpy as np, sparsebytenn._kernels as K;"
            "print(K.DwConv(np.ones((8, 1, 3, 3), np.float32)).info['isa'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [isa]


@pytest.mark.parametrize("isa", isa_params())
def test_many_threads_and_mobilenet_rows(isa):
    """More tasks than rows of some units; row splits in the middle of a unit."""
    rng = np.random.default_rng(7)
    for ch, hw, s in ((32, 23, 1), (40, 15, 2)):
        w = rng.standard_normal((ch, 1, 3, 3)).astype(np.float32)
        b = rng.standard_normal(ch).astype(np.float32)
        x = rng.standard_normal((1, ch, hw, hw)).astype(np.float32)
        ref = dw_reference(x, w, b, (s, s), (1, 1), (1, 1, 1, 1), 0.0, 6.0)
        dw = K.DwConv(w, b, 0.0, 6.0, isa)
        for threads, executor in itertools.product((1, 2, 3, 7), ("builtin", "host")):
            got, _ = from_packed(dw.run(to_packed(x, 8), stride=(s, s), padding=[1, 1, 1, 1], pack=8,
                                        threads=threads, executor=executor), ch)
            assert np.abs(got - ref).max() <= 1e-4, (threads, executor)
