"""`sparsebytenn eval` on a user model (a reduced build of mobilenet-v1-fmnist), every
number recomputed independently: labels from the IDX files with gzip + numpy, logits
from stock MNN's Interpreter API on the saved models, sparsity with the tests' own
FlatBuffers reader (fbedit), accuracy/agreement with numpy."""
from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbnn_testing import require, stock_mnn_logits

MODEL = "mobilenet-v1-fmnist"
FASHION = Path("/usr/share/datasets/fashion-mnist")
TEST = 200


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    from sparsebytenn import zoo
    from sparsebytenn.zoo import catalog

    require((FASHION / "t10k-labels-idx1-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")
    for mod, req in catalog.BUILD_REQUIREMENTS:
        require(importlib.util.find_spec(mod) is not None, f"Python package {req}")
    # a short fine-tune: far from the full model's 92 %, but a real trained classifier
    return zoo.build_variant(MODEL, tmp_path_factory.mktemp("um"), steps=60, batch=32, train_images=4096,
                             test_images=200, validation_images=32)


def labels(n):
    with gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        return np.frombuffer(f.read()[8:8 + n], np.uint8).astype(np.int64)


def test_eval_rows_recomputed_from_stock_mnn(user_model, tmp_path):
    import fbedit

    from sparsebytenn import zoo

    saved, js, png = tmp_path / "models", tmp_path / "r.json", tmp_path / "r.png"
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "eval", str(user_model), "--like", MODEL,
                        "--test", str(TEST), "--sparsity", "0.5", "--group", "4", "--calibration-images", "64",
                        "--save-models", str(saved), "--json", str(js), "--plot", str(png), "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    result = json.loads(js.read_text())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {row["label"]: row for row in result["results"]}
    assert set(rows) == {"dense", "default G=4 50%", "calibrated G=4 50%"}
    assert result["protocol"]["machine"]["cpu_model"]

    y = labels(TEST)
    x, _ = zoo.fashion_mnist_inputs(MODEL, "test", TEST)
    dense = stock_mnn_logits(user_model, x)
    assert rows["dense"]["accuracy"] == pytest.approx(np.mean(dense.argmax(1) == y))
    assert rows["dense"]["accuracy"] > 0.5                       # a trained model, not chance
    for label in ("default G=4 50%", "calibrated G=4 50%"):
        row = rows[label]
        path = Path(row["model_file"])
        assert path.parent == saved
        logits = stock_mnn_logits(path, x)
        acc = np.mean(logits.argmax(1) == y)
        assert row["accuracy"] == pytest.approx(acc)
        assert row["drop_pt"] == pytest.approx((np.mean(dense.argmax(1) == y) - acc) * 100)
        assert row["top1_agreement"] == pytest.approx(np.mean(logits.argmax(1) == dense.argmax(1)))
        w = fbedit.FB(path.read_bytes()).conv_weights()
        pruned = [v for k, v in w.items() if k in row["layer_sparsity"]]
        zeros = sum(int((v == 0).sum()) for v in pruned) / sum(v.size for v in pruned)
        assert zeros == pytest.approx(0.5, abs=0.01) == pytest.approx(row["achieved_sparsity"], abs=1e-6)
    # calibration must be worth something even on this weak model
    assert rows["calibrated G=4 50%"]["top1_agreement"] > rows["default G=4 50%"]["top1_agreement"]

    # a calibrated row is the model `sparsebytenn convert --calibration` writes from the same inputs
    from sparsebytenn.zoo import catalog
    from sparsebytenn.zoo.fashion_mnist_inputs import model_inputs

    with gzip.open(FASHION / "train-images-idx3-ubyte.gz", "rb") as f:
        raw = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)
    first_reserved = catalog.FASHION_MNIST_TRAIN - catalog.RESERVED_TRAIN
    np.save(tmp_path / "calib.npy", model_inputs(MODEL, raw[first_reserved:first_reserved + 64]))
    cli = tmp_path / "cli.mnn"
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "convert", str(user_model), str(cli),
                        "--sparsity", "0.5", "--group", "4", "--calibration", str(tmp_path / "calib.npy"), "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert cli.read_bytes() == Path(rows["calibrated G=4 50%"]["model_file"]).read_bytes()


def test_calibration_images_are_the_reserved_training_images(user_model, monkeypatch):
    import sparsebytenn
    from sparsebytenn.fidelity import EvalConfig, evaluate
    from sparsebytenn.zoo import catalog
    from sparsebytenn.zoo.fashion_mnist_inputs import model_inputs

    seen = []
    real = sparsebytenn.convert

    def spy(*a, **kw):
        seen.append(kw.get("calibration"))
        return real(*a, **kw)

    monkeypatch.setattr(sparsebytenn, "convert", spy)
    evaluate(EvalConfig(str(user_model), like=MODEL, sparsities=[0.3], methods=["calibrated"], test=20,
                        calibration_images=16, progress=False))
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz", "rb") as f:
        raw = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)
    first_reserved = catalog.FASHION_MNIST_TRAIN - catalog.RESERVED_TRAIN
    assert len(seen) == 1 and seen[0].shape[0] == 16
    np.testing.assert_array_equal(seen[0], model_inputs(MODEL, raw[first_reserved:first_reserved + 16]))


def test_speed_rows_time_the_plugin_on_every_tagged_conv(user_model, tmp_path):
    from sparsebytenn.fidelity import EvalConfig, evaluate

    res = evaluate(EvalConfig(str(user_model), like=MODEL, sparsities=[0.5], methods=["default"], test=20,
                              speed=True, speed_rounds=2, speed_runs=2, progress=False))
    dense, pruned = res["results"]
    assert dense["speedup_vs_mnn_dense"] == 1.0 and dense["timed_engine"] == "stock MNN"
    assert dense["plugin_speedup_vs_mnn_dense"] > 0      # the dense model through the plugin, timed alongside
    assert pruned["timed_engine"] == "plugin" and pruned["speedup_vs_mnn_dense"] > 0
    assert 0 < pruned["tagged_layers"] <= len(pruned["layer_sparsity"])
    assert pruned["plugin_convs"] == pruned["tagged_layers"]
