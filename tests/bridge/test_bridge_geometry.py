"""The bridge's geometry inside real MNN sessions: asymmetric pads, SAME padding,
anisotropic kernels, strides and dilations on tagged convs, against a float64
numpy convolution (issue 14.8: swapping the pads or zeroing SAME's left pad in the
bridge left every other bridge test green).

The models are ONNX graphs (onnx.helper), block-pruned with numpy and tagged by
MNN's own converter, as in bridge_models.py; nothing here uses the project's
converter."""
from __future__ import annotations


import numpy as np
import pytest

from bridge_helpers import TOL, has_module, models, rel_err, require

INPUT = (1, 8, 14, 12)
# (name, cin, cout, (kh, kw), (sh, sw), (dh, dw), pads (top, left, bottom, right) or "SAME_UPPER")
CONVS = [
    ("pads_1021", 8, 16, (3, 3), (1, 2), (1, 1), (1, 0, 2, 1)),
    ("dilated_21", 16, 12, (3, 3), (2, 1), (2, 1), (2, 1, 2, 0)),
    ("same_s2", 12, 16, (3, 3), (2, 2), (1, 1), "SAME_UPPER"),
    ("kernel_1x3", 16, 8, (1, 3), (1, 1), (1, 2), (0, 2, 0, 1)),
]


def _same_pads(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2          # SAME_UPPER: the extra pad goes at the end


def numpy_conv(x, w, b, stride, dilation, pads):
    """float64 NCHW convolution with explicit (top, left, bottom, right) pads."""
    top, left, bottom, right = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    (sh, sw), (dh, dw) = stride, dilation
    o, c, kh, kw = w.shape
    oh = (xp.shape[2] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[3] - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((x.shape[0], o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j].astype(np.float64))
    return y + b[None, :, None, None]


def build(folder, seed=0):
    """(tagged .mnn, numpy forward) of the CONVS chain, 50 % pruned in blocks of 4."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, layers = [], [], []
    cur, h, wd = "input", INPUT[2], INPUT[3]
    for name, cin, cout, (kh, kw), (sh, sw), (dh, dw), pads in CONVS:
        w = rng.standard_normal((cout, cin, kh, kw)).astype(np.float32) * np.sqrt(2.0 / (cin * kh * kw))
        w = models.block_prune(w, 0.5, 4, rng)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        attrs = dict(kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw])
        if pads == "SAME_UPPER":
            attrs["auto_pad"] = "SAME_UPPER"
            (pt, pb), (pl, pr) = _same_pads(h, kh, sh, dh), _same_pads(wd, kw, sw, dw)
            explicit = (pt, pl, pb, pr)
        else:
            attrs["pads"] = [pads[0], pads[1], pads[2], pads[3]]   # ONNX: begins (H, W), then ends
            explicit = pads
        inits += [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]
        nodes.append(helper.make_node("Conv", [cur, f"{name}_w", f"{name}_b"], [f"{name}_out"], name=name, **attrs))
        cur = f"{name}_out"
        layers.append((w, b, (sh, sw), (dh, dw), explicit))
        h = (h + explicit[0] + explicit[2] - (kh - 1) * dh - 1) // sh + 1
        wd = (wd + explicit[1] + explicit[3] - (kw - 1) * dw - 1) // sw + 1
    onnx_path, dense, sparse = (folder / n for n in ("g.onnx", "g.dense.mnn", "g.sparse.mnn"))
    models.save_onnx(nodes, inits, cur, INPUT, onnx_path)
    models.mnnconvert("-f", "ONNX", "--modelFile", onnx_path, "--MNNModel", dense)
    models.mnn_sparse_tag(dense, sparse, oc_block=4)

    def forward(x):
        y = x
        for w, b, stride, dilation, pads in layers:
            y = numpy_conv(y, w, b, stride, dilation, pads)
        return y

    return sparse, forward


@pytest.fixture(scope="module")
def geometry_model(tmp_path_factory, mnn):
    require(has_module("onnx"), "the onnx package (pip install onnx)")
    folder = tmp_path_factory.mktemp("geometry")
    sparse, forward = build(folder)
    net = models.to_json(sparse, folder / "g.sparse.json")
    assert len(models.tagged_convs(net)) == len(CONVS)      # MNN's converter tagged every conv
    modes = {op["name"]: op["main"]["common"].get("padMode", "CAFFE") for op in net["oplists"]
             if op.get("type") == "Convolution"}
    assert "SAME" in modes.values(), modes          # MNN kept SAME as a pad mode: its branch is tested
    return sparse, forward


@pytest.mark.parametrize("threads", [1, 2])
def test_tagged_convs_with_every_padding_and_stride_match_numpy(bridge, geometry_model, threads):
    from sparsebytenn import Session

    sparse, forward = geometry_model
    x = np.random.default_rng(3).standard_normal(INPUT).astype(np.float32)
    sess = Session(sparse, plugin=True, threads=threads)
    out = sess.run(x)["output"]
    st = sess.stats()
    assert st["plugin_convs"] == len(CONVS) and st["fallbacks"] == [], st
    assert rel_err(out, forward(x)) <= TOL
    # and stock MNN agrees on the same file (the reference is right about MNN's geometry)
    assert rel_err(Session(sparse, plugin=False, threads=threads).run(x)["output"], forward(x)) <= 1e-3
