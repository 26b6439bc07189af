"""Tester of the fp16 family (f16_gspmm_*__neonfp16), run under qemu-aarch64 by
test_kernels_neonfp16_qemu.py with the aarch64 `_kernels` module (not collected on
x86: the name does not start with test_).

Two independent numpy references, neither using the code under test:
  * rounded as the kernel rounds: float64 products and sums, rounded to fp16
    after every multiply-add, the bias first, the clamp last, kept entries in
    ascending input channel and tap order (docs/PACKED_FORMAT.md): the kernel must
    agree to 1 fp16 ulp (float64 holds a product of two fp16 exactly; the sum can
    differ from a true fused multiply-add only in a double-rounding tie);
  * exact float64 conv: the kernel's error must stay within the textbook bound
    of K + 1 roundings, gamma_{K+1} * (|b| + sum |w x|) with
    gamma_n = n u / (1 - n u), u = 2^-11 (fp16 unit roundoff), K the reduction length.
"""
import os

import numpy as np
import pytest

import kernel_backend
from kernel_reference import conv2d_reference, from_packed, sparse_weights, to_packed

K = kernel_backend.load()
F16 = [v for v in K.variants() if v["isa"] == "neonfp16"]
U = 2.0 ** -11


def f16_reference(x, w, b, stride, pad, lo, hi):
    """The kernel's own rounding: acc = fp16(acc + w * x) per (input channel, tap)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad[0], pad[2]), (pad[1], pad[3])))
    oh = (h + pad[0] + pad[2] - kh) // stride + 1
    ow = (wd + pad[1] + pad[3] - kw) // stride + 1
    acc = np.broadcast_to(b.astype(np.float16).astype(np.float64)[None, :, None, None], (n, o, oh, ow)).copy()
    w64 = w.astype(np.float64)
    for ic in range(c):
        for ky in range(kh):
            for kx in range(kw):
                patch = xp[:, ic, ky: ky + stride * (oh - 1) + 1: stride, kx: kx + stride * (ow - 1) + 1: stride]
                acc = (acc + w64[None, :, ic, ky, kx, None, None] * patch[:, None]).astype(np.float16).astype(np.float64)
    return np.clip(acc, lo, hi).astype(np.float16)


def error_bound(x, w, b, stride, pad):
    k = w.shape[1] * w.shape[2] * w.shape[3] + 1
    gamma = k * U / (1 - k * U)
    mag = conv2d_reference(np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)), np.abs(b.astype(np.float64)),
                           (stride, stride), (1, 1), pad)
    return gamma * mag + 2.0 ** -24   # + the smallest fp16 subnormal step near 0


def ulps(y, ref):
    """|y - ref| in units of ref's fp16 spacing."""
    return np.abs(y.astype(np.float64) - ref.astype(np.float64)) / np.spacing(np.abs(ref)).astype(np.float64)


CASES = [  # O, I, k, H, W, stride, pad, pack, G, clamp
    (20, 24, 1, 7, 9, 1, (0, 0, 0, 0), 8, 8, (0.0, 6.0)),        # MNN fp16 layout, channel and pixel tails
    (64, 96, 1, 5, 11, 1, (0, 0, 0, 0), 8, 8, (-np.inf, np.inf)),
    (33, 16, 1, 6, 6, 1, (0, 0, 0, 0), 8, 16, (0.0, np.inf)),
    (12, 20, 1, 9, 5, 1, (0, 0, 0, 0), 4, 4, (-np.inf, np.inf)),
    (22, 24, 1, 7, 9, 1, (0, 0, 0, 0), 8, 4, (0.0, 6.0)),        # G=4 half blocks straight into NC8HW8,
    (12, 16, 1, 1, 5, 1, (0, 0, 0, 0), 8, 4, (-np.inf, np.inf)),  # a partial group, fewer pixels than a vector
    (12, 8, 3, 5, 6, 2, (1, 0, 1, 1), 8, 4, (0.0, np.inf)),
    (10, 12, 1, 4, 9, 1, (0, 0, 0, 0), 1, 2, (0.0, 6.0)),
    (7, 9, 3, 9, 8, 2, (1, 1, 1, 0), 8, 1, (-np.inf, np.inf)),   # general conv path (im2col)
    (16, 8, 3, 6, 7, 1, (1, 1, 1, 1), 1, 8, (0.0, np.inf)),
]


def make_case(seed, o, i, k, h, wd, sparsity=0.5):
    rng = np.random.default_rng(seed)
    w = sparse_weights(rng, o, i, k, k, 8, sparsity)
    w = (w / np.sqrt(i * k * k)).astype(np.float16).astype(np.float32)   # fp16 values, the pack keeps them exact
    b = rng.standard_normal(o).astype(np.float16).astype(np.float32)
    x = rng.standard_normal((1, i, h, wd)).astype(np.float16)
    return w, b, x


def test_the_fp16_family_is_in_the_variant_table_and_runs_here():
    assert sorted(v["group_size"] for v in F16) == [1, 2, 4, 8, 16]
    assert all(v["name"].startswith("f16_gspmm_") and v["name"].endswith("__neonfp16") for v in F16)
    assert K.isa_available("neonfp16"), "this CPU model lacks FP16 (QEMU_CPU must be ARMv8.2+)"
    # Automatic dispatch never hands fp16 weights to an fp32 caller.
    assert K.default_isa() == "neon"
    os.environ["SPARSEBYTENN_ISA"] = "neonfp16"
    try:
        assert K.default_isa() == "neon"
    finally:
        del os.environ["SPARSEBYTENN_ISA"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}x{c[1]}k{c[2]}s{c[5]}p{c[7]}G{c[8]}")
def test_f16_conv_matches_the_fp16_rounding_reference(case):
    o, i, k, h, wd, stride, pad, pack, g, (lo, hi) = case
    w, b, x = make_case(o * 131 + i, o, i, k, h, wd)
    pc = K.PackedConv(w, b, g, lo, hi, "neonfp16")
    assert pc.info["variant"].startswith("f16_gspmm_") and pc.info["group_size"] == g
    xin = x if pack == 1 else to_packed(x, pack).astype(np.float16)
    y = pc.run(xin, stride=(stride, stride), padding=list(pad), pack=pack)
    assert y.dtype == np.float16
    if pack != 1:
        y, extra = from_packed(y, o)
        assert not extra.any(), "output lanes beyond O must be 0"
    ref = f16_reference(x, w, b, stride, pad, lo, hi)
    assert y.shape == ref.shape
    d = ulps(y, ref)
    assert d.max() <= 1, f"max {d.max()} fp16 ulps off the fp16-rounding reference"
    assert (d == 0).mean() >= 0.98, f"only {(d == 0).mean():.3f} of outputs bit-exact"
    exact = conv2d_reference(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                             (stride, stride), (1, 1), pad, lo, hi)
    err = np.abs(y.astype(np.float64) - exact)
    bound = error_bound(x, w, b, stride, pad)
    assert (err <= bound).all(), f"error {err.max():.3g} beyond the fp16 bound (worst ratio {(err / bound).max():.2f})"


def test_f16_two_threads_equal_one():
    w, b, x = make_case(5, 40, 32, 1, 10, 10)
    pc = K.PackedConv(w, b, 8, 0.0, 6.0, "neonfp16")
    xin = to_packed(x, 8).astype(np.float16)
    one = pc.run(xin, pack=8)
    for executor in ("builtin", "host"):
        assert np.array_equal(pc.run(xin, pack=8, threads=2, executor=executor), one)


def test_f16_pack_refuses_float32_activations():
    w, b, x = make_case(6, 8, 8, 1, 4, 4)
    pc = K.PackedConv(w, b, 8, isa="neonfp16")
    with pytest.raises(ValueError, match="float16"):
        pc.run(x.astype(np.float32))
    # and an fp32 pack refuses float16 ones
    with pytest.raises(ValueError, match="float32"):
        K.PackedConv(w, b, 8, isa="neon").run(x)
