"""Tester for every group-sparse conv microkernel family against numpy.

The same file runs natively (x86: ref, avx2, avx512), under qemu-aarch64
(neon, ref; see test_kernels_neon_qemu.py) and against the wasm32 build
(wasmsimd, ref, and wasmrelaxedsimd in the relaxed module; see test_kernels_wasm.py): kernel_backend picks the build.
Every variant in the build's variant table gets the same cases.
"""
import itertools

import numpy as np
import pytest

import kernel_backend
from kernel_reference import CLAMPS, conv2d_reference, from_packed, sparse_weights, to_packed, tolerance

K = kernel_backend.load()
# The fp32 families; the fp16 one (f16_*, float16 activations) has its own tester
# (tests/kernels/neonfp16_checks.py) with an fp16-rounding reference.
VARIANTS = [v for v in K.variants() if v["name"].startswith("f32_")]
GROUPS = (1, 2, 4, 8, 16)

# (O, I, k, H, W, stride, dilation, pad (top, left, bottom, right))
SHAPES = [
    (20, 13, 1, 7, 7, (1, 1), (1, 1), (0, 0, 0, 0)),      # C not a multiple of G or P
    (37, 19, 3, 6, 5, (2, 2), (1, 1), (1, 0, 2, 1)),      # asymmetric padding, stride 2
    (16, 8, 5, 9, 9, (1, 1), (2, 2), (2, 2, 2, 2)),       # 5x5, dilation 2
    (24, 17, 1, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0)),      # single pixel
    (33, 40, 3, 1, 1, (1, 1), (1, 1), (1, 1, 1, 1)),      # single pixel, 3x3 all-padding taps
    (64, 64, 1, 14, 14, (1, 1), (1, 1), (0, 0, 0, 0)),    # many tiles + vector tail
    (9, 5, 3, 7, 7, (2, 2), (1, 1), (0, 0, 1, 1)),        # TF SAME stride 2
    (18, 30, 1, 5, 3, (2, 2), (1, 1), (0, 0, 0, 0)),      # 1x1 stride 2
    (40, 24, 5, 4, 6, (1, 1), (1, 1), (2, 1, 2, 2)),      # 5x5 asymmetric
    (17, 9, 3, 3, 2, (1, 2), (2, 1), (2, 0, 1, 1)),       # anisotropic stride/dilation
    (3, 2, 1, 2, 2, (1, 1), (1, 1), (0, 0, 0, 0)),        # fewer channels than G and P
    (48, 16, 3, 7, 7, (1, 1), (1, 1), (1, 1, 1, 1)),      # 3x3 "same"
]
SPARSITIES = (0.0, 0.3, 0.5, 0.9, 1.0)
PATTERNS = ("random", "random", "first_group_dense", "alternate", "last_channel_only", "unaligned", "element")
CLAMP_NAMES = tuple(CLAMPS)


def make_cases():
    """Each shape meets every sparsity; patterns, clamps, threads, batch rotate."""
    cases = []
    for i, (shape, sp) in enumerate(itertools.product(SHAPES, SPARSITIES)):
        pattern = "random" if sp in (0.0, 1.0) else PATTERNS[i % len(PATTERNS)]
        cases.append(dict(shape=shape, sparsity=sp, pattern=pattern, clamp=CLAMP_NAMES[i % 3],
                          threads=1 + (i % 2), batch=1 + (i % 5 == 0), seed=i))
    if kernel_backend.QUICK:  # under emulation: a stride coprime to 3 and 5 keeps every
        cases = cases[::7]    # clamp, sparsity, thread count and the 5x5 shapes
    return cases


CASES = make_cases()


def case_id(c):
    o, i, k, h, w, s, d, p = c["shape"]
    return f"{o}x{i}k{k}_{h}x{w}_s{s[0]}{s[1]}d{d[0]}{d[1]}_sp{c['sparsity']}_{c['pattern']}_{c['clamp']}_t{c['threads']}n{c['batch']}"


def isa_params():
    isas = sorted({v["isa"] for v in VARIANTS}, key=["ref", "avx2", "avx512", "neon", "wasmsimd", "wasmrelaxedsimd"].index)
    out = []
    for isa in isas:
        runs = K.isa_available(isa)
        marks = [] if runs else [pytest.mark.skip(reason=f"this CPU cannot run {isa} (variants compiled in, CPU lacks the ISA)")]
        out.append(pytest.param(isa, marks=marks, id=isa))
    return out


def run_all_layouts(pc, x, case):
    o, i, k, h, w, s, d, p = case["shape"]
    kw = dict(stride=s, dilation=d, padding=list(p), threads=case["threads"])
    yield "nchw", pc.run(x, **kw), None
    for pack in (4, 8, 16) if not kernel_backend.QUICK else (4, 8):
        y = pc.run(to_packed(x, pack), pack=pack, **kw)
        got, pad_lanes = from_packed(y, o)
        yield f"nc{pack}hw{pack}", got, pad_lanes
    # Mixed: packed input, NCHW output (and back), as a bridge may need.
    yield "nc8->nchw", pc.run(to_packed(x, 8), pack=8, out_pack=1, **kw), None
    y = pc.run(x, pack=1, out_pack=4, **kw)
    got, pad_lanes = from_packed(y, o)
    yield "nchw->nc4", got, pad_lanes


@pytest.mark.parametrize("group_size", GROUPS)
@pytest.mark.parametrize("isa", isa_params())
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_conv_matches_numpy(isa, group_size, case):
    o, i, k, h, w_, s, d, p = case["shape"]
    rng = np.random.default_rng(case["seed"] * 31 + group_size)
    w = sparse_weights(rng, o, i, k, k, group_size, case["sparsity"], case["pattern"])
    b = rng.standard_normal(o).astype(np.float32)
    x = rng.standard_normal((case["batch"], i, h, w_)).astype(np.float32) * 2
    lo, hi = CLAMPS[case["clamp"]]
    pc = K.PackedConv(w, b, group_size, lo, hi, isa)
    assert pc.info["isa"] == isa and pc.info["group_size"] == group_size
    ref = conv2d_reference(x, w, b, s, d, p, lo, hi)
    tol = tolerance(w, x)
    for layout, got, pad_lanes in run_all_layouts(pc, x, case):
        assert got.shape == ref.shape, layout
        err = float(np.abs(got - ref).max())
        assert err <= tol, f"{layout}: max abs err {err} > {tol}"
        if pad_lanes is not None and pad_lanes.size:
            assert not pad_lanes.any(), f"{layout}: padded output lanes must be 0"


@pytest.mark.parametrize("isa", isa_params())
def test_all_zero_layer_gives_clamped_bias(isa):
    w = np.zeros((21, 11, 3, 3), np.float32)
    b = np.linspace(-8, 8, 21).astype(np.float32)
    pc = K.PackedConv(w, b, 4, 0.0, 6.0, isa)
    assert pc.info["nonzero_blocks"] == 0
    y = pc.run(np.random.default_rng(1).standard_normal((1, 11, 5, 5)).astype(np.float32), padding=[1, 1, 1, 1])
    np.testing.assert_array_equal(y, np.broadcast_to(np.clip(b, 0, 6)[None, :, None, None], (1, 21, 5, 5)))


@pytest.mark.parametrize("isa", isa_params())
@pytest.mark.parametrize("threads", [1, 2, 3, 5])
@pytest.mark.parametrize("executor", ["builtin", "host"])
def test_threads_and_executors(isa, threads, executor):
    """Tile split (many tiles) and group split (few tiles) under both executors."""
    rng = np.random.default_rng(threads)
    for o, i, h in ((64, 32, 17), (96, 40, 3)):
        w = sparse_weights(rng, o, i, 1, 1, 8, 0.5)
        b = rng.standard_normal(o).astype(np.float32)
        x = rng.standard_normal((1, i, h, h)).astype(np.float32)
        pc = K.PackedConv(w, b, 8, -np.inf, np.inf, isa)
        ref = conv2d_reference(x, w, b)
        got, _ = from_packed(pc.run(to_packed(x, 8), pack=8, threads=threads, executor=executor), o)
        assert np.abs(got - ref).max() <= tolerance(w, x)


def test_variant_table_covers_every_group():
    for isa in {v["isa"] for v in VARIANTS}:
        groups = sorted(v["group_size"] for v in VARIANTS if v["isa"] == isa)
        assert groups == list(GROUPS), isa
    for v in VARIANTS:
        assert v["name"].startswith(f"f32_gspmm_{v['group_size']}x{v['tile']}__"), v["name"]
    assert K.isa_available("ref")
    assert not K.isa_available("no-such-isa")


def test_packed_info_counts_blocks():
    rng = np.random.default_rng(5)
    w = sparse_weights(rng, 24, 10, 1, 1, 8, 0.5)
    pc = K.PackedConv(w, None, 8)
    kept = int(np.any(w.reshape(3, 8, 10) != 0, axis=1).sum())
    assert pc.info["nonzero_blocks"] == kept
    assert pc.info["nonzero_macs_per_pixel"] == kept * 8


@pytest.mark.parametrize("isa", isa_params())
@pytest.mark.parametrize("group_size", (4, 8, 16))
def test_channel_block_fast_paths_every_pixel_tail(isa, group_size):
    """Vector transposes into / out of NC4HW4 and NC8HW8 (x86: 16x8 and 8x8,
    NEON ld4/st4, WASM 4x4) for every pixel count 1..35 (every tail length)."""
    rng = np.random.default_rng(group_size)
    o, i = 32, 24
    w = sparse_weights(rng, o, i, 1, 1, group_size, 0.3)
    b = rng.standard_normal(o).astype(np.float32)
    pc = K.PackedConv(w, b, group_size, -np.inf, np.inf, isa)
    widths = range(1, 36) if not kernel_backend.QUICK else (1, 4, 7, 16, 17, 33)
    for width in widths:
        x = rng.standard_normal((1, i, 1, width)).astype(np.float32)
        ref = conv2d_reference(x, w, b)
        for pack in (4, 8):
            got, pad = from_packed(pc.run(to_packed(x, pack), pack=pack), o)
            assert np.abs(got - ref).max() <= tolerance(w, x), (width, pack)
