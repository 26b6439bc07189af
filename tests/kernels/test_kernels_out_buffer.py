"""PackedConv.run(out=...): a caller-owned output array (what the kernel benchmark
and any host with preallocated tensors use) plus the workspace the binding keeps
between runs, and the cost-balanced (tile, group) work split, against numpy.
Native build only (the qemu and wasm runs share test_kernels_conv.py instead)."""
import numpy as np
import pytest

from kernel_reference import conv2d_reference, from_packed, sparse_weights, to_packed, tolerance
from sparsebytenn import _kernels as K

ISAS = [v["isa"] for v in K.variants() if v["group_size"] == 8 and v["available"]]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("pack", [1, 8])
def test_out_is_written_and_returned(isa, pack):
    rng = np.random.default_rng(pack)
    o, i, hw = 20, 24, 14   # O not a multiple of 8: a partial last channel block
    w = sparse_weights(rng, o, i, 1, 1, 8, 0.5)
    b = rng.standard_normal(o).astype(np.float32)
    pc = K.PackedConv(w, b, 8, isa=isa)
    shape = (1, o, hw, hw) if pack == 1 else (-(-o // 8), 1, hw, hw, 8)
    out = np.full(shape, np.nan, np.float32)
    for seed in (1, 2):   # the second run reuses workspace and output: no stale values
        x = np.random.default_rng(seed).standard_normal((1, i, hw, hw)).astype(np.float32)
        y = pc.run(x if pack == 1 else to_packed(x, 8), pack=pack, out=out)
        assert np.shares_memory(y, out)
        got = out if pack == 1 else from_packed(out, o)[0]
        assert np.abs(got - conv2d_reference(x, w, b)).max() <= tolerance(w, x)
        if pack == 8:   # lanes beyond O in the last block are defined as 0
            assert np.all(from_packed(out, o)[1] == 0)


@pytest.mark.parametrize("kind", ["conv", "depthwise"])
def test_out_rejects_bad_arrays(kind):
    if kind == "conv":   # 8 -> 16 channels, 1x1
        op, cin, pad = K.PackedConv(np.ones((16, 8, 1, 1), np.float32), None, 8), 8, (0, 0)
    else:                # 16 channels, 3x3, same-size output
        op, cin, pad = K.DwConv(np.ones((16, 1, 3, 3), np.float32), isa="ref"), 16, (1, 1)   # NCHW: ref
    x = np.ones((1, cin, 4, 4), np.float32)
    with pytest.raises(ValueError, match="shape"):
        op.run(x, padding=pad, pack=1, out=np.zeros((1, 16, 4, 5), np.float32))
    with pytest.raises(ValueError, match="float32"):
        op.run(x, padding=pad, pack=1, out=np.zeros((1, 16, 4, 4), np.float64))
    with pytest.raises(ValueError, match="contiguous"):
        op.run(x, padding=pad, pack=1, out=np.zeros((1, 16, 4, 8), np.float32)[..., ::2])
    ro = np.zeros((1, 16, 4, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        op.run(x, padding=pad, pack=1, out=ro)
    with pytest.raises(ValueError, match="numpy array"):
        op.run(x, padding=pad, pack=1, out=[0.0] * 256)
    # out overlapping the input (same buffer): refused, the kernels read x while writing
    buf = np.zeros((1, 16, 4, 4), np.float32)
    with pytest.raises(ValueError, match="overlap"):
        op.run(buf[:, :cin], padding=pad, pack=1, out=buf)
    # ... and a good one is written in place with what a fresh array gets
    o = np.full((1, 16, 4, 4), np.nan, np.float32)
    y = op.run(x, padding=pad, pack=1, out=o)
    assert np.shares_memory(y, o) and np.array_equal(o, op.run(x, padding=pad, pack=1))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("threads", [2, 3, 4])
def test_work_split_with_skewed_groups(isa, threads):
    """One dense group among sparse ones, several images and a pixel tail: the
    cost-balanced split cuts tiles between groups; every (tile, group) item
    must be computed exactly once."""
    rng = np.random.default_rng(threads)
    o, i, hw, n = 64, 40, 14, 3
    w = sparse_weights(rng, o, i, 1, 1, 8, 0.9, pattern="first_group_dense")
    b = rng.standard_normal(o).astype(np.float32)
    x = rng.standard_normal((n, i, hw, hw)).astype(np.float32)
    pc = K.PackedConv(w, b, 8, isa=isa)
    ref = conv2d_reference(x, w, b)
    out = np.full((o // 8, n, hw, hw, 8), np.nan, np.float32)
    for executor in ("builtin", "host"):
        pc.run(to_packed(x, 8), pack=8, threads=threads, executor=executor, out=out)
        assert np.abs(from_packed(out, o)[0] - ref).max() <= tolerance(w, x)
