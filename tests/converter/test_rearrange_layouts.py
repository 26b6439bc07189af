"""Rearrangement on graphs from TF (issue 14.5): batch norm stays as BinaryOps with [C]
constants on NHWC tensors, between ConvertTensor ops around the convs. Those constants
are per-channel (channels last) and must be permuted with the channels; a constant
that is not per-channel must still block, with a reason. Stock MNN is the reference:
the rearranged model must compute the input model's function."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import _mnnconvert, json_to_mnn, rel_err

from sparsebytenn_converter import convert

from sparsebytenn_converter.mnn_wheel import import_mnn

MNN = import_mnn()

C0, C1, C2, HW = 8, 16, 8, 6


def _run(path, feeds: dict[str, np.ndarray], output: str) -> np.ndarray:
    """Stock MNN, every input fed in TF (NHWC) order, one named output in its own order (raw
    Interpreter calls: mnn_wheel.MNNSession feeds NCHW, and these graphs take NHWC)."""
    it = MNN.Interpreter(str(path))
    s = it.createSession({"numThread": 1})
    for name, x in feeds.items():
        it.resizeTensor(it.getSessionInput(s, name), x.shape)
    it.resizeSession(s)
    for name, x in feeds.items():
        it.getSessionInput(s, name).copyFrom(
            MNN.Tensor(x.shape, MNN.Halide_Type_Float, x, MNN.Tensor_DimensionType_Tensorflow))
    assert it.runSession(s) == 0
    out = it.getSessionOutput(s, output)
    shape = out.getShape()
    host = MNN.Tensor(shape, MNN.Halide_Type_Float, np.zeros(shape, np.float32), MNN.Tensor_DimensionType_Tensorflow)
    out.copyToHostTensor(host)
    return np.array(host.getData(), dtype=np.float32).reshape(shape).copy()


def _clustered(O: int, I: int, rng) -> np.ndarray:
    """1x1 weights whose output channels fall in two interleaved clusters (each strong on half
    the inputs): grouping them pays, so rearrangement has something to do."""
    w = rng.standard_normal((O, I)) * 0.05
    for o in range(O):
        half = slice(0, I // 2) if o % 2 else slice(I // 2, I)
        w[o, half] += rng.standard_normal(I // 2)
    return w.astype(np.float32).reshape(O, I, 1, 1)


def tf_like_json(bn_dims=(C1,), scale_dims=(1, 1, 1, C1), bn_format="NHWC") -> dict:
    """x (NHWC) -> conv a -> NHWC: *s1 +b1 -> relu6 -> conv b -> NHWC: *s2 -> relu -> conv c -> y,
    with the ConvertTensor ops MNN's TF front end puts around each conv. s1 and b1 have
    `bn_dims` (in `bn_format`), s2 `scale_dims` (NHWC)."""
    rng = np.random.default_rng(3)
    names: list[str] = []
    ops: list[dict] = []

    def t(name):
        if name not in names:
            names.append(name)
        return names.index(name)

    def op(typ, name, ins, main_type=None, main=None):
        d = {"type": typ, "name": name, "inputIndexes": [t(i) for i in ins], "outputIndexes": [t(name)],
             "defaultDimentionFormat": "NHWC"}
        if main_type:
            d["main_type"], d["main"] = main_type, main
        if not ins:
            del d["inputIndexes"]
        ops.append(d)
        return name

    def convert_to(src, dest, fmt_from, fmt_to):
        return op("ConvertTensor", dest, [src], "TensorConvertInfo", {"source": fmt_from, "dest": fmt_to})

    def conv(name, src, O, I):
        w = _clustered(O, I, rng)
        common = {"kernelX": 1, "kernelY": 1, "strideX": 1, "strideY": 1, "dilateX": 1, "dilateY": 1,
                  "padMode": "SAME", "group": 1, "outputCount": O, "inputCount": I}
        x4 = convert_to(src, f"{src}_nc4", "NHWC", "NC4HW4")
        op("Convolution", name, [x4], "Convolution2D",
           {"common": common, "weight": w.ravel().tolist(), "bias": rng.standard_normal(O).tolist()})
        return convert_to(name, f"{name}_nhwc", "NC4HW4", "NHWC")

    def const(name, dims, fmt="NHWC"):
        vals = rng.uniform(0.5, 2.0, int(np.prod(dims))) * rng.choice([-1, 1], int(np.prod(dims)))
        return op("Const", name, [], "Blob", {"dims": list(dims), "dataFormat": fmt, "dataType": "DT_FLOAT",
                                             "float32s": vals.tolist()})

    def binary(name, a, b, kind):
        return op("BinaryOp", name, [a, b], "BinaryOp", {"opType": kind, "T": "DT_FLOAT", "activationType": 0})

    x = op("Input", "x", [], "Input", {"dims": [1, HW, HW, C0], "dtype": "DT_FLOAT", "dformat": "NHWC"})
    a = conv("conv_a", x, C1, C0)
    a = binary("bn_a/mul", a, const("bn_a/scale", bn_dims, bn_format), "MUL")
    a = binary("bn_a/add", a, const("bn_a/shift", bn_dims, bn_format), "ADD")
    a = op("ReLU6", "relu6_a", [a], "Relu6", {"minValue": 0.0, "maxValue": 6.0})
    b = conv("conv_b", a, C1, C1)
    b = binary("bn_b/mul", const("bn_b/scale", scale_dims), b, "MUL")   # constant first
    b = op("ReLU", "relu_b", [b], "Relu", {"slope": 0.0})
    y = conv("conv_c", b, C2, C1)
    return {"oplists": ops, "tensorName": names, "outputName": [y], "sourceType": "TENSORFLOW",
            "preferForwardType": "CPU", "usage": "INFERENCE", "bizCode": "test"}


def tf_like_model(tmp_path, **kw) -> tuple:
    """(the stand-in as an .mnn made by MNN's own converter, its output's name)"""
    j = tf_like_json(**kw)
    return json_to_mnn(j, tmp_path / "tf_like.mnn"), j["outputName"][0]


def zoo_tf_model(tmp_path):
    """The zoo's MobileNet-V1 .pb through MNN's TF front end, when the zoo's download is cached."""
    from sparsebytenn.zoo import cache, mobilenet_v1
    sdist = cache.downloads_dir() / mobilenet_v1.SDIST_FILENAME
    if not sdist.is_file():
        return None
    pb = tmp_path / "mobilenet_v1.pb"
    pb.write_bytes(mobilenet_v1.read_graph_from_sdist(sdist))
    out = tmp_path / "mobilenet_v1_tf.mnn"
    _mnnconvert(["-f", "TF", "--modelFile", pb, "--MNNModel", out, "--bizCode", "test"], out)
    return out


def _feeds(path, rng) -> dict[str, np.ndarray]:
    """Random values for every input at the shape the file gives it."""
    it = MNN.Interpreter(str(path))
    s = it.createSession({"numThread": 1})
    return {name: rng.uniform(-1, 1, t.getShape()).astype(np.float32)
            for name, t in it.getSessionInputAll(s).items()}


def _permuted(report) -> int:
    return sum(c["decision"] == "permuted" for c in report.components)


def test_tf_like_graph_is_rearranged_and_keeps_its_function(tmp_path):
    src, output = tf_like_model(tmp_path)
    out = tmp_path / "perm.mnn"
    r = convert(src, out, sparsity=0.5, group=4, rearrange_only=True, format="dense", progress=False,
                skip=["none"])
    decisions = {c["seed"]: c["decision"] for c in r.components}
    # conv_a's channels meet [C] constants, conv_b's a [1,1,1,C] one (as the first operand)
    assert decisions["conv_a"] == "permuted" and decisions["conv_b"] == "permuted", decisions
    assert decisions["conv_c"].startswith("identity: reaches a graph output")
    rng = np.random.default_rng(11)
    for _ in range(3):
        feeds = _feeds(src, rng)
        assert rel_err(_run(out, feeds, output), _run(src, feeds, output)) < 1e-4


@pytest.mark.parametrize("mode", ["plain", "calibrated", "rearrange_only"])
def test_rearranged_function_is_checked_in_stock_mnn_in_every_mode(tmp_path, mode):
    """self_check.py runs the input and the rearranged dense model on random inputs in stock
    MNN right after rearranging, with or without calibration data."""
    src, _ = tf_like_model(tmp_path)
    x = np.random.default_rng(5).uniform(-1, 1, (8, C0, HW, HW)).astype(np.float32)  # NCHW, as MNN takes it
    kw = {"plain": dict(plain=True), "calibrated": dict(calibration=x),
          "rearrange_only": dict(rearrange_only=True, format="dense")}[mode]
    r = convert(src, tmp_path / "o.mnn", sparsity=0.5, group=4, progress=False, skip=["none"], fidelity=False, **kw)
    assert _permuted(r) >= 2
    assert r.rearrangement_check["samples"] >= 1 and r.rearrangement_check["max_rel_error"] < 1e-4
    assert any(line.startswith("rearranged model checked in stock MNN") for line in r.table().splitlines())


def test_a_rearrangement_that_changes_the_function_is_refused(tmp_path, monkeypatch):
    """A permutation that misses the batch-norm constants (what a misread layout does) must
    stop the conversion with the reason, and write nothing."""
    from sparsebytenn_converter import rearrange
    from sparsebytenn_converter.errors import ModelError

    real = rearrange._apply

    def forgets_constants(work, comp, perm, calib):
        comp.constants = []
        real(work, comp, perm, calib)

    monkeypatch.setattr(rearrange, "_apply", forgets_constants)
    src, _ = tf_like_model(tmp_path)
    out = tmp_path / "o.mnn"
    with pytest.raises(ModelError, match="no longer computes the input model's function"):
        convert(src, out, sparsity=0.5, group=4, progress=False, skip=["none"], plain=True, fidelity=False)
    assert not out.exists()


@pytest.mark.parametrize("dims,fmt,why", [
    ((HW, HW, C1), "NHWC", "does not broadcast along the channel axis of its NHWC tensor"),
    ((HW, 1, 1), "NHWC", "does not broadcast along the channel axis of its NHWC tensor"),
    ((C1,), "NCHW", "meets a NHWC tensor (another layout)")])      # not proven: blocks too
def test_a_constant_not_per_channel_blocks_with_a_reason(tmp_path, dims, fmt, why):
    src, _ = tf_like_model(tmp_path, bn_dims=dims, bn_format=fmt)
    r = convert(src, tmp_path / "o.mnn", sparsity=0.5, group=4, rearrange_only=True, format="dense",
                progress=False, skip=["none"])
    decisions = {c["seed"]: c["decision"] for c in r.components}
    assert decisions["conv_a"].startswith("identity: constant 'bn_a/"), decisions
    assert why in decisions["conv_a"]
    assert decisions["conv_b"] == "permuted"       # its own constant is per-channel


def test_zoo_mobilenet_v1_through_tf_is_rearranged(tmp_path):
    src = zoo_tf_model(tmp_path)
    if src is None:
        pytest.skip("the zoo's MobileNet-V1 download is not cached (the TF-free stand-in above covers this)")
    out = tmp_path / "perm.mnn"
    r = convert(src, out, sparsity=0.5, group=8, rearrange_only=True, format="dense", progress=False)
    assert _permuted(r) >= 12, [c["decision"] for c in r.components]
    feeds = _feeds(src, np.random.default_rng(2))
    name = "MobilenetV1/Predictions/Reshape"
    assert rel_err(_run(out, feeds, name), _run(src, feeds, name)) < 1e-4
    # two inputs (the image and the retraining placeholder): the converter's own check covers them
    assert len(feeds) == 2 and r.rearrangement_check["max_rel_error"] < 1e-4


def test_layouts_are_traced_through_a_deep_graph(tmp_path):
    """1,500 BinaryOps between a conv and the constant that needs its operand's layout: the
    trace must not run out of Python's recursion limit (1,000 frames)."""
    j = tf_like_json()
    ops, names = j["oplists"], j["tensorName"]
    at = next(i for i, o in enumerate(ops) if o["name"] == "bn_a/mul")
    src = ops[at]["inputIndexes"][0]
    chain = []
    for k in range(1500):
        names.append(f"deep{k}")
        chain.append({"type": "BinaryOp", "name": f"deep{k}", "inputIndexes": [src, src],
                      "outputIndexes": [len(names) - 1], "main_type": "BinaryOp",
                      "main": {"opType": "MAXIMUM", "T": "DT_FLOAT", "activationType": 0}})
        src = len(names) - 1
    ops[at]["inputIndexes"][0] = src
    j["oplists"] = ops[:at] + chain + ops[at:]
    model = json_to_mnn(j, tmp_path / "deep.mnn")
    r = convert(model, tmp_path / "o.mnn", sparsity=0.5, group=4, rearrange_only=True, format="dense",
                progress=False, skip=["none"])
    assert {c["seed"]: c["decision"] for c in r.components}["conv_a"] == "permuted"
