"""Direct conv kernels for few input channels (sparsebytenn/dconv.h) against numpy.

Every variant in the build's table (ref, avx2, avx512 and their 3x3 stride-2
entries) meets output channel counts that are not a multiple of a unit (8 or 16)
or of the two-unit tile, 1 to 16 input channels (across two input blocks),
1x1 to 7x7 kernels, images from 1x1 up (kernels wider than the image: no
interior column), strides 1/2/3, dilation, symmetric / asymmetric / SAME pads
and the three clamps, on 1-3 threads with both executors. The reference is
kernel_reference.conv2d_reference (float64 numpy)."""
import functools
import itertools

import numpy as np
import pytest

from kernel_reference import CLAMPS, assert_all_layouts_match, conv2d_reference, from_packed, same_pads, to_packed

import sparsebytenn._kernels as K

VARIANTS = K.dconv_variants()
ISAS = list(dict.fromkeys(v["isa"] for v in VARIANTS))


def isa_params():
    return [pytest.param(isa, marks=[] if K.isa_available(isa) else
                         [pytest.mark.skip(reason=f"this CPU cannot run {isa}")], id=isa) for isa in ISAS]


# (O, I, (kh, kw), (H, W), stride, dilation, pads (top, left, bottom, right) | "SAME")
SHAPES = [
    (32, 3, (3, 3), (224, 224), (2, 2), (1, 1), (0, 0, 1, 1)),   # MobileNet-V1's stem (TF pads)
    (32, 3, (3, 3), (97, 95), (2, 2), (1, 1), (1, 1, 1, 1)),     # odd sizes, symmetric pads
    (13, 3, (3, 3), (7, 9), (1, 1), (1, 1), (1, 1, 1, 1)),       # O not a multiple of 8
    (40, 3, (5, 5), (11, 13), (2, 2), (1, 1), "SAME"),           # 3 units of 16: a half tile
    (24, 1, (3, 3), (6, 5), (1, 1), (2, 2), (2, 2, 2, 2)),       # one input channel, dilation 2
    (16, 4, (1, 1), (1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),       # 1x1 kernel, 1x1 image
    (9, 2, (7, 7), (7, 7), (1, 1), (1, 1), (3, 3, 3, 3)),        # 7x7: every column checked
    (8, 3, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1, 1, 1)),        # one pixel, all-pad taps
    (5, 16, (2, 3), (8, 17), (1, 2), (1, 1), (0, 1, 1, 0)),      # 16 inputs: two input blocks
    (48, 11, (3, 3), (15, 29), (3, 3), (1, 1), (1, 1, 1, 1)),    # stride 3, 11 inputs
    (17, 3, (4, 4), (3, 3), (1, 1), (1, 1), (2, 2, 1, 1)),       # kernel larger than the image
    (64, 3, (3, 3), (33, 40), (2, 2), (1, 1), (1, 0, 1, 2)),     # wide rows: full tiles + tails
    # interior rows of 2, 4, 6, 8 and 11 columns: every rest of a tile (AVX-512 12, AVX2 6)
    (16, 3, (3, 3), (5, 4), (1, 1), (1, 1), (1, 1, 1, 1)),
    (20, 3, (3, 3), (3, 6), (1, 1), (1, 1), (1, 1, 1, 1)),
    (16, 2, (3, 3), (4, 8), (1, 1), (1, 1), (1, 1, 1, 1)),
    (24, 3, (3, 3), (3, 10), (1, 1), (1, 1), (1, 1, 1, 1)),
    (16, 3, (3, 3), (4, 13), (1, 1), (1, 1), (1, 1, 1, 1)),
]


def make_cases():
    return [dict(shape=shape, clamp=clamp, threads=1 + (i + j) % 3, batch=1 + ((i + j) % 4 == 0), seed=10 * i + j)
            for i, shape in enumerate(SHAPES) for j, clamp in enumerate(CLAMPS)]


CASES = make_cases()


def case_id(c):
    o, i, (kh, kw), (h, w), s, d, p = c["shape"]
    pads = "same" if p == "SAME" else "".join(map(str, p))
    return f"o{o}i{i}k{kh}x{kw}_{h}x{w}_s{s[0]}{s[1]}d{d[0]}{d[1]}_{pads}_{c['clamp']}_t{c['threads']}n{c['batch']}"


def setup_case(case):
    o, i, (kh, kw), (h, w_), s, d, p = case["shape"]
    if p == "SAME":
        (t, bt), (lf, rt) = same_pads(h, kh, s[0], d[0]), same_pads(w_, kw, s[1], d[1])
        p = (t, lf, bt, rt)
    rng = np.random.default_rng(case["seed"])
    w = rng.standard_normal((o, i, kh, kw)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    x = (rng.standard_normal((case["batch"], i, h, w_)) * 2).astype(np.float32)
    lo, hi = CLAMPS[case["clamp"]]
    return w, b, x, s, d, list(p), lo, hi


@pytest.mark.parametrize("isa", isa_params())
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_dconv_matches_numpy(isa, case):
    w, b, x, s, d, p, lo, hi = setup_case(case)
    ref = conv2d_reference(x, w, b, s, d, p, lo, hi)
    conv = K.Dconv(w, b, lo, hi, isa)
    assert conv.info["isa"] == isa
    run = functools.partial(conv.run, stride=s, dilation=d, padding=p)
    assert_all_layouts_match(run, x, ref, w.shape[0], (1, 4, 8, 16) if isa == "ref" else (8,), case["threads"])


@pytest.mark.parametrize("isa", isa_params())
def test_garbage_in_padded_input_lanes_is_ignored(isa):
    """MNN does not promise zeros in the last block's unused lanes."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((20, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(20).astype(np.float32)
    x = rng.standard_normal((1, 3, 9, 10)).astype(np.float32)
    xp = to_packed(x, 8)
    xp[0, ..., 3:] = np.nan
    got, pad = from_packed(K.Dconv(w, b, isa=isa).run(xp, stride=(2, 2), padding=[1, 1, 1, 1], pack=8), 20)
    assert np.abs(got - conv2d_reference(x, w, b, (2, 2), (1, 1), (1, 1, 1, 1))).max() <= 1e-4
    assert not pad.any()


def test_variant_table_and_dispatch():
    names = [v["name"] for v in VARIANTS]
    assert len(names) == len(set(names))
    for v in VARIANTS:
        kh, kw = v["kernel"]
        shape = f"{kh}x{kw}s{v['stride']}" if kh else "kxk"
        assert v["name"] == f"f32_dconv_{shape}__{v['isa']}"
    assert "ref" in ISAS and ISAS[-1] == "ref"
    for isa in ISAS:
        if not K.isa_available(isa):
            continue
        conv = K.Dconv(np.ones((32, 3, 3, 3), np.float32), isa=isa)
        assert conv.variant_for(2, 2) == (f"f32_dconv_3x3s2__{isa}" if isa != "ref" else "f32_dconv_kxk__ref")
        assert conv.variant_for(1, 1).endswith("kxk__" + isa)
        assert conv.variant_for(2, 1).endswith("kxk__" + isa)


def test_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="shape"):
        K.Dconv(np.ones((8, 17, 3, 3), np.float32))          # more input channels than a direct conv takes
    for bad in (np.nan, np.inf):   # a skipped padding tap would hide 0 x inf = NaN
        w = np.ones((8, 3, 3, 3), np.float32)
        w[5, 1, 2, 0] = bad
        with pytest.raises(ValueError, match="pack: bad"):
            K.Dconv(w)
    for isa in ISAS:
        if isa == "ref" or not K.isa_available(isa):
            continue
        conv = K.Dconv(np.ones((8, 3, 3, 3), np.float32), isa=isa)
        with pytest.raises(ValueError, match="layout"):
            conv.run(to_packed(np.ones((1, 3, 4, 4), np.float32), 4), pack=4)
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv.run(to_packed(np.ones((1, 3, 2, 2), np.float32), 8), padding=[0, 0, 0, 0], pack=8)


@pytest.mark.parametrize("isa", isa_params())
def test_many_threads_split_rows_and_chunks(isa):
    """More tasks than rows; splits inside a tile's rows and between its channel chunks."""
    rng = np.random.default_rng(7)
    for o, hw, s in ((32, 23, 2), (72, 9, 1)):
        w = rng.standard_normal((o, 3, 3, 3)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        x = rng.standard_normal((2, 3, hw, hw)).astype(np.float32)
        ref = conv2d_reference(x, w, b, (s, s), (1, 1), (1, 1, 1, 1), 0.0, 6.0)
        conv = K.Dconv(w, b, 0.0, 6.0, isa)
        for threads, executor in itertools.product((1, 2, 3, 7, 64), ("builtin", "host")):
            got, _ = from_packed(conv.run(to_packed(x, 8), stride=(s, s), padding=[1, 1, 1, 1], pack=8,
                                          threads=threads, executor=executor), o)
            assert np.abs(got - ref).max() <= 1e-4, (threads, executor)
