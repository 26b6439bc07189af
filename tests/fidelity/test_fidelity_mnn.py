"""`sparsebytenn eval` on the real (cached) MobileNet-V1 with stock MNN, against
independent computations: the classifier in numpy, the probe in scikit-learn."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from sbnn_testing import require
from sparsebytenn.cli import main
from sparsebytenn.errors import SparseByteNNError

MODEL = "mobilenet-v1"


def zoo_path(name=MODEL):
    from sparsebytenn import zoo
    require(zoo.is_cached(name) or not zoo.missing_requirements(name), f"zoo model {name}")
    return zoo.get(name, progress=False)


def _stock_mnn_logits(path, x):
    """The model's declared output through MNN's Interpreter/Session API (not the Module API)."""
    from sparsebytenn.plugin import import_mnn
    MNN = import_mnn()
    interp = MNN.Interpreter(str(path))
    sess = interp.createSession({"numThread": 1})
    inp = interp.getSessionInput(sess)
    interp.resizeTensor(inp, x.shape)
    interp.resizeSession(sess)
    inp.copyFrom(MNN.Tensor(list(x.shape), MNN.Halide_Type_Float, x, MNN.Tensor_DimensionType_Caffe))
    interp.runSession(sess)
    out = interp.getSessionOutput(sess)
    shape = out.getShape()
    host = MNN.Tensor(shape, MNN.Halide_Type_Float, np.zeros(shape, np.float32), MNN.Tensor_DimensionType_Caffe)
    out.copyToHostTensor(host)
    return np.array(host.getNumpyData()).reshape(x.shape[0], -1)


def test_feature_tensor_is_what_the_classifier_reads():
    from sparsebytenn_converter import read_model
    from sparsebytenn.fidelity.features import MNNRunner, model_io

    path = zoo_path()
    io = model_io(path)
    assert io["inputs"] == ["input"]
    x = np.random.default_rng(0).standard_normal((3, 3, 96, 96)).astype(np.float32)
    feats = MNNRunner(path, "input", [io["feature"]])(x)[0]
    cls = read_model(path).conv(io["classifier"])
    logits = feats @ cls.weights[:, :, 0, 0].T.astype(np.float64) + cls.bias
    ref = _stock_mnn_logits(path, x)
    assert np.abs(logits - ref).max() < 1e-3 * np.abs(ref).max()
    one = MNNRunner(path, "input", [io["feature"]])(x[1:2])[0]      # batching changes nothing
    assert np.allclose(one, feats[1:2], rtol=1e-4, atol=1e-4)


def test_pruned_weights_are_written_exactly(tmp_path):
    from sparsebytenn_converter import read_model
    from sparsebytenn.fidelity.prune import prune_model

    src = zoo_path()
    m0 = read_model(src)
    layers = [c.name for c in m0.convs if c.type == "Convolution"][1:-1]
    per = prune_model(src, tmp_path / "u.mnn", layers, "unstructured", 0.5, per_layer=True)
    m1 = read_model(tmp_path / "u.mnn")
    for c0, c1 in zip(m0.convs, m1.convs):
        assert np.array_equal(c0.bias, c1.bias)
        if c0.name not in layers:
            assert np.array_equal(c0.weights, c1.weights)
            continue
        w = np.array(c0.weights)
        k = int(round(0.5 * w.size))
        exp = w.ravel().copy()
        exp[np.argsort(np.abs(w).ravel(), kind="stable")[:k]] = 0
        assert np.array_equal(c1.weights.ravel(), exp)
        assert per[c0.name] == pytest.approx(0.5, abs=1e-3)
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    a, b = _stock_mnn_logits(src, x), _stock_mnn_logits(tmp_path / "u.mnn", x)
    assert np.all(np.isfinite(b)) and not np.allclose(a, b)


def _idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


@pytest.mark.slow
def test_eval_end_to_end_matches_an_independent_probe(tmp_path, capsys):
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        LogisticRegression = None
    require(LogisticRegression is not None, "scikit-learn (pip install -e '.[bench]')")
    from sparsebytenn.zoo import fashion_mnist_data as fm
    require((fm.FOLDER / "t10k-images-idx3-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")
    from PIL import Image
    from sparsebytenn.fidelity.data import stratified_subset
    from sparsebytenn.fidelity.features import MNNRunner

    path = zoo_path()
    js, png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main([
        "eval", MODEL, "--train", "60", "--test", "30", "--size", "64", "--sparsity", "0.3",
        "--patterns", "unstructured,group", "--json", str(js), "--plot", str(png), "-q",
        "--save-models", str(tmp_path / "models")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "probe acc" in out and "unstructured" in out
    res = json.loads(js.read_text())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = res["results"]
    assert [(r["pattern"], r["rearranged"]) for r in rows] == [
        ("dense", None), ("unstructured", None), ("group", True), ("group", False)]
    for r in rows:
        for key in ("model", "pattern", "rearranged", "sparsity", "probe_accuracy", "probe_drop_pt",
                    "top1_agreement", "logit_cosine", "probe_accuracy_ci95", "probe_drop_ci95_pt"):
            assert key in r
        lo, hi = r["probe_accuracy_ci95"]
        assert lo <= r["probe_accuracy"] <= hi
        assert r["probe_drop_pt"] == pytest.approx((rows[0]["probe_accuracy"] - r["probe_accuracy"]) * 100)
        if r["pattern"] != "dense":
            assert r["achieved_sparsity"] == pytest.approx(0.3, abs=0.01)

    # independent: IDX files read here, PIL resize, (x-127.5)/127.5, stock MNN features, sklearn
    def load(kind, n, seed):
        img = _idx(fm.FOLDER / f"{kind}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
        lab = _idx(fm.FOLDER / f"{kind}-labels-idx1-ubyte.gz", 8).astype(np.int64)
        i = stratified_subset(lab, n, seed)
        x = np.stack([np.asarray(Image.fromarray(im).resize((64, 64), Image.BILINEAR)) for im in img[i]])
        x = (x.astype(np.float32) - 127.5) / 127.5
        return np.ascontiguousarray(np.repeat(x[:, None], 3, axis=1)), lab[i]

    xtr, ytr = load("train", 60, 0)
    xte, yte = load("t10k", 30, 1)
    feat = res["protocol"]["feature_tensor"]
    run = MNNRunner(path, "input", [feat])
    ftr, fte = run(xtr)[0], run(xte)[0]
    mu, sd = ftr.mean(0), ftr.std(0)
    sd = np.where(sd > 1e-8 * sd.max(), sd, 1.0)
    lam = res["protocol"]["probe"]["lambda"]
    sk = LogisticRegression(C=1.0 / (lam * len(ftr)), tol=1e-10, max_iter=20000).fit((ftr - mu) / sd, ytr)
    acc = np.mean(sk.predict((fte - mu) / sd) == yte)
    assert rows[0]["probe_accuracy"] == pytest.approx(acc, abs=1 / 30 + 1e-9)
    assert rows[0]["probe_accuracy"] > 0.3        # the pretrained backbone carries the result

    # a pruned row, recomputed: the saved model's weights read bit-exactly without the
    # project's reader, checked to be magnitude-pruned per layer at the row's sparsity,
    # its features from stock MNN through the same sklearn probe
    import fbedit
    (unstr,) = [r for r in rows if r["pattern"] == "unstructured"]
    w0 = fbedit.FB(path.read_bytes()).conv_weights()
    w1 = fbedit.FB(open(unstr["model_file"], "rb").read()).conv_weights()
    pruned = [n for n in w0 if not np.array_equal(w0[n], w1[n])]
    assert set(pruned) == set(unstr["layer_sparsity"])
    zeros = 0
    for n in pruned:
        a, b = np.abs(w0[n]).ravel(), w1[n].ravel()
        gone = (b == 0) & (a != 0)
        assert np.array_equal(b[~gone], w0[n].ravel()[~gone])           # kept weights untouched
        assert a[gone].max() <= a[~gone & (a != 0)].min(), n              # the smallest magnitudes went
        assert gone.mean() == pytest.approx(unstr["layer_sparsity"][n], abs=1e-3)
        zeros += int((b == 0).sum())
    assert zeros / sum(w0[n].size for n in pruned) == pytest.approx(0.3, abs=0.01)
    fp = MNNRunner(unstr["model_file"], "input", [feat])(xte)[0]
    acc_pruned = np.mean(sk.predict((fp - mu) / sd) == yte)
    assert unstr["probe_accuracy"] == pytest.approx(acc_pruned, abs=1 / 30 + 1e-9)


def test_stratified_subset_is_balanced_and_seeded():
    from sparsebytenn.fidelity.data import stratified_subset

    labels = np.repeat(np.arange(10), 50)[np.random.default_rng(0).permutation(500)]
    a = stratified_subset(labels, 95, seed=3)
    assert len(set(a.tolist())) == 95
    counts = np.bincount(labels[a], minlength=10)
    assert counts.max() - counts.min() <= 1
    assert np.array_equal(a, stratified_subset(labels, 95, seed=3))
    assert not np.array_equal(a, stratified_subset(labels, 95, seed=4))


def test_bad_inputs_are_clear_errors(capsys, monkeypatch, tmp_path):
    assert main(["eval", MODEL, "--patterns", "group,diagonal", "-q"]) == 1
    assert "unknown pattern 'diagonal'" in capsys.readouterr().err
    assert main(["eval", "no-such-model", "-q"]) == 1
    err = capsys.readouterr().err
    assert "no-such-model: unknown model" in err and "mobilenet-v1" in err
    assert main(["eval", MODEL, "--sparsity", "0.5,1.2", "-q"]) == 1
    assert "--sparsity 1.2" in capsys.readouterr().err
    assert main(["eval", MODEL, "--plot", str(tmp_path / "x.jpg"), "-q"]) == 1
    assert ".png" in capsys.readouterr().err

    from sparsebytenn.fidelity.data import load_fashion_mnist
    from sparsebytenn.zoo import fashion_mnist_data as fm
    monkeypatch.setattr(fm, "FOLDER", tmp_path / "missing")
    with pytest.raises(SparseByteNNError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", 10, 0)
