"""Property-based tests (hypothesis): random geometry, G, layout, sparsity and
clamp; the kernel must match the numpy reference on all of them."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernel_backend
from kernel_reference import conv2d_reference, from_packed, sparse_weights, to_packed, tolerance

K = kernel_backend.load()
ISAS = sorted(v["isa"] for v in K.variants() if v["available"] and v["group_size"] == 1 and v["name"].startswith("f32_"))


@st.composite
def conv_cases(draw):
    k = draw(st.sampled_from([1, 1, 2, 3, 5]))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = tuple(draw(st.integers(0, k)) for _ in range(4))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    min_h = max(1, d[0] * (k - 1) + 1 - pad[0] - pad[2])
    min_w = max(1, d[1] * (k - 1) + 1 - pad[1] - pad[3])
    h = draw(st.integers(min_h, min_h + 9))
    w = draw(st.integers(min_w, min_w + 9))
    return dict(
        o=draw(st.integers(1, 40)), i=draw(st.integers(1, 24)), k=k, h=h, w=w, s=s, d=d, pad=pad,
        group_size=draw(st.sampled_from([1, 2, 4, 8, 16])), pack=draw(st.sampled_from([1, 4, 8, 16])),
        sparsity=draw(st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0])),
        clamp=draw(st.sampled_from([(-np.inf, np.inf), (0.0, np.inf), (0.0, 6.0), (-0.5, 0.5)])),
        threads=draw(st.integers(1, 3)), batch=draw(st.integers(1, 2)), isa=draw(st.sampled_from(ISAS)),
        seed=draw(st.integers(0, 2**31 - 1)))


@settings(max_examples=25 if kernel_backend.QUICK else 200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases())
def test_random_convs_match_numpy(c):
    rng = np.random.default_rng(c["seed"])
    w = sparse_weights(rng, c["o"], c["i"], c["k"], c["k"], c["group_size"], c["sparsity"])
    b = rng.standard_normal(c["o"]).astype(np.float32)
    x = rng.standard_normal((c["batch"], c["i"], c["h"], c["w"])).astype(np.float32)
    lo, hi = c["clamp"]
    pc = K.PackedConv(w, b, c["group_size"], lo, hi, c["isa"])
    ref = conv2d_reference(x, w, b, c["s"], c["d"], c["pad"], lo, hi)
    kw = dict(stride=c["s"], dilation=c["d"], padding=list(c["pad"]), threads=c["threads"])
    if c["pack"] == 1:
        got = pc.run(x, **kw)
    else:
        got, lanes = from_packed(pc.run(to_packed(x, c["pack"]), pack=c["pack"], **kw), c["o"])
        assert not lanes.any()
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= tolerance(w, x)
