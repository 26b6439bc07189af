"""Independent numpy reference for the group-sparse conv kernels, plus the
layout conversions and case generators every kernel tester shares (x86 native,
NEON under qemu, WASM under wasmtime). Pure numpy: float64 explicit padding +
one einsum per tap, nothing from the code under test."""
import numpy as np


def conv2d_reference(x, w, b, stride=(1, 1), dilation=(1, 1), pad=(0, 0, 0, 0),
                     lo=-np.inf, hi=np.inf):
    """x (N,C,H,W), w (O,C,kh,kw), pad (top, left, bottom, right) -> (N,O,OH,OW) float64."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c, h, wd = x.shape
    o, c2, kh, kw = w.shape
    assert c == c2
    sh, sw = stride
    dh, dw = dilation
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[2]), (pad[1], pad[3])))
    oh = (h + pad[0] + pad[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pad[1] + pad[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, :, ky * dh: ky * dh + sh * (oh - 1) + 1: sh,
                       kx * dw: kx * dw + sw * (ow - 1) + 1: sw]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, ky, kx])
    if b is not None:
        out += np.asarray(b, np.float64)[None, :, None, None]
    return np.clip(out, lo, hi)


def same_pads(size, k, s, d=1):
    """TF SAME padding of one axis: (before, after), the odd pixel after."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def to_packed(x, p):
    """NCHW -> MNN CPU layout (ceil(C/P), N, H, W, P), zero padded lanes."""
    n, c, h, w = x.shape
    blocks = -(-c // p)
    buf = np.zeros((blocks * p, n, h, w), np.float32)
    buf[:c] = x.transpose(1, 0, 2, 3)
    return np.ascontiguousarray(buf.reshape(blocks, p, n, h, w).transpose(0, 2, 3, 4, 1))


def from_packed(y, c):
    """(ceil(C/P), N, H, W, P) -> (NCHW with C channels, padded lanes)."""
    blocks, n, h, w, p = y.shape
    full = y.transpose(0, 4, 1, 2, 3).reshape(blocks * p, n, h, w)
    return full[:c].transpose(1, 0, 2, 3), full[c:]


def sparse_weights(rng, o, i, kh, kw, group_size, sparsity, pattern="random"):
    """OIHW float32 weights with whole (G-row group, input channel) blocks zeroed.

    pattern: random | first_group_dense (one group keeps everything, the others
    are empty), alternate (every other block), last_channel_only,
    unaligned (blocks of G+1 rows, so G is mis-declared) | element (plain
    random zeros, no group structure)."""
    w = rng.standard_normal((o, i, kh, kw)).astype(np.float32)
    ng = -(-o // group_size)
    if pattern == "element":
        w[rng.random(w.shape) < sparsity] = 0
        return w
    if pattern == "unaligned":
        g2 = group_size + 1
        keep = rng.random((-(-o // g2), i)) >= sparsity
        w *= np.repeat(keep, g2, axis=0)[:o, :, None, None]
        return w
    if pattern == "random":
        keep = rng.random((ng, i)) >= sparsity
    elif pattern == "first_group_dense":
        keep = np.zeros((ng, i), bool)
        keep[0] = True
    elif pattern == "alternate":
        keep = (np.add.outer(np.arange(ng), np.arange(i)) % 2) == 0
    elif pattern == "last_channel_only":
        keep = np.zeros((ng, i), bool)
        keep[:, -1] = True
    else:
        raise ValueError(pattern)
    w *= np.repeat(keep, group_size, axis=0)[:o, :, None, None]
    return w


CLAMPS = {"none": (-np.inf, np.inf), "relu": (0.0, np.inf), "relu6": (0.0, 6.0)}


def tolerance(w, x):
    """Absolute tolerance scaled by the magnitude of the dot products (float32 sums)."""
    k = max(1, np.count_nonzero(w) // max(1, w.shape[0]))
    return 1e-5 * (1 + np.sqrt(k) * max(1.0, float(np.abs(x).max())) * max(1.0, float(np.abs(w).max())) * 4)


def assert_all_layouts_match(run, x, ref, out_channels, packs, threads):
    """run(x_in_layout, pack=, threads=, executor=) of a dense kernel family on x (NCHW)
    in every pack and with both executors equals ref (float64) within 1e-5 relative,
    with the padded output lanes of the packed layouts all 0."""
    for pack in packs:
        for executor in ("builtin", "host"):
            y = run(x if pack == 1 else to_packed(x, pack), pack=pack, threads=threads, executor=executor)
            got, pad_lanes = (y, None) if pack == 1 else from_packed(y, out_channels)
            assert got.shape == ref.shape
            err = float(np.abs(got - ref).max())
            assert err <= 1e-5 * (1 + np.abs(ref).max()), f"pack {pack} {executor}: max abs err {err}"
            if pad_lanes is not None and pad_lanes.size:
                assert not pad_lanes.any(), f"pack {pack}: padded output lanes must be 0"
