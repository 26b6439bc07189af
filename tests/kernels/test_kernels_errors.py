"""Bad input to the kernel bindings: clear ValueErrors, never a crash."""
import numpy as np
import pytest

import kernel_backend
from kernel_reference import to_packed

K = kernel_backend.load()


def packed(o=16, i=8, k=1, g=8):
    return K.PackedConv(np.ones((o, i, k, k), np.float32), None, g)


@pytest.mark.parametrize("g", [0, 3, 5, 32, -8])
def test_bad_group(g):
    with pytest.raises(ValueError, match="group"):
        K.PackedConv(np.ones((16, 8, 1, 1), np.float32), None, g)


def test_weights_must_be_4d_float32_contiguous():
    with pytest.raises(ValueError, match="4-D"):
        K.PackedConv(np.ones((16, 8), np.float32), None, 8)
    with pytest.raises(ValueError, match="float32"):
        K.PackedConv(np.ones((16, 8, 1, 1), np.float64), None, 8)
    with pytest.raises(ValueError, match="contiguous"):
        K.PackedConv(np.ones((8, 16, 1, 1), np.float32).transpose(1, 0, 2, 3), None, 8)


def test_bias_length_and_clamp():
    with pytest.raises(ValueError, match="bias"):
        K.PackedConv(np.ones((16, 8, 1, 1), np.float32), np.ones(15, np.float32), 8)
    with pytest.raises(ValueError, match="output_min"):
        K.PackedConv(np.ones((16, 8, 1, 1), np.float32), None, 8, 6.0, 0.0)
    with pytest.raises(ValueError, match="output_min"):
        K.PackedConv(np.ones((16, 8, 1, 1), np.float32), None, 8, float("nan"), 1.0)


def test_unknown_isa():
    with pytest.raises(ValueError, match="ISA"):
        K.PackedConv(np.ones((16, 8, 1, 1), np.float32), None, 8, isa="sse9")


def test_input_channel_mismatch():
    pc = packed()
    with pytest.raises(ValueError, match="channels"):
        pc.run(np.ones((1, 9, 4, 4), np.float32))
    with pytest.raises(ValueError, match="channel blocks"):
        pc.run(to_packed(np.ones((1, 16, 4, 4), np.float32), 4), pack=4)


@pytest.mark.parametrize("pack", [0, 2, 3, 32])
def test_bad_pack(pack):
    with pytest.raises(ValueError, match="pack"):
        packed().run(np.ones((1, 8, 4, 4), np.float32), pack=pack)


def test_packed_input_rank_and_lane_count():
    pc = packed()
    with pytest.raises(ValueError, match="5-D"):
        pc.run(np.ones((1, 8, 4, 4), np.float32), pack=8)
    with pytest.raises(ValueError, match="pack"):
        pc.run(to_packed(np.ones((1, 8, 4, 4), np.float32), 4), pack=8)


def test_non_contiguous_and_wrong_dtype_input():
    pc = packed()
    x = np.ones((1, 8, 4, 8), np.float32)[:, :, :, ::2]
    with pytest.raises(ValueError, match="contiguous"):
        pc.run(x)
    with pytest.raises(ValueError, match="float32"):
        pc.run(np.ones((1, 8, 4, 4), np.float64))


def test_bad_geometry():
    pc = packed(k=3)
    x = np.ones((1, 8, 2, 2), np.float32)
    with pytest.raises(ValueError, match="larger than the padded input"):
        pc.run(x)
    with pytest.raises(ValueError, match="stride"):
        pc.run(x, stride=(0, 1), padding=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="padding"):
        pc.run(x, padding=[1, 1, -1, 1])
    with pytest.raises(ValueError, match="padding"):
        pc.run(x, padding=[1, 1, 1])
    with pytest.raises(ValueError, match="threads"):
        pc.run(x, padding=[1, 1, 1, 1], threads=0)


def test_none_buffers_are_value_errors():
    with pytest.raises(ValueError, match="weights is None"):
        K.PackedConv(None, None, 8)
    with pytest.raises(ValueError, match="input is None"):
        packed().run(None)


def _misaligned(shape):
    """A float32 view one byte into its buffer: what a careless caller might hand over."""
    n = int(np.prod(shape))
    a = np.frombuffer(bytearray(4 * n + 1), np.float32, count=n, offset=1).reshape(shape)
    assert not a.flags.aligned
    return a


def test_misaligned_buffers_are_refused_not_read():
    w = np.ones((16, 8, 1, 1), np.float32)
    if kernel_backend.BACKEND.startswith("wasm"):
        # the wasm host copies every array into wasm memory, aligned: the result must
        # simply be right (every output = the sum of 8 ones)
        mw = _misaligned(w.shape)
        mw[...] = 1.0
        mx = _misaligned((1, 8, 4, 4))
        mx[...] = 1.0
        assert np.array_equal(K.PackedConv(mw, None, 8).run(mx), np.full((1, 16, 4, 4), 8.0, np.float32))
        return
    with pytest.raises(ValueError, match="aligned"):
        K.PackedConv(_misaligned(w.shape), None, 8)
    with pytest.raises(ValueError, match="aligned"):
        K.PackedConv(w, _misaligned((16,)), 8)
    pc = K.PackedConv(w, None, 8)
    x = np.ones((1, 8, 4, 4), np.float32)
    with pytest.raises(ValueError, match="aligned"):
        pc.run(_misaligned(x.shape))
    out = _misaligned((1, 16, 4, 4))
    with pytest.raises(ValueError, match="aligned"):
        pc.run(x, out=out)
    assert not out.any()  # nothing was written
