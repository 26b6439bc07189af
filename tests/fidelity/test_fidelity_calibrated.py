"""Eval with calibrated pruning and rearranged features, against stock MNN and numpy."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sbnn_testing import require

from sparsebytenn.cli import main

MODEL = "mobilenet-v1"


def zoo_path(name=MODEL):
    from sparsebytenn import zoo
    require(zoo.is_cached(name) or not zoo.missing_requirements(name), f"zoo model {name}")
    return zoo.get(name, progress=False)


def fashion_mnist_installed():
    from sparsebytenn.zoo import fashion_mnist_data as fm
    require((fm.FOLDER / "train-images-idx3-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")


def test_rearranged_features_are_put_back_in_dense_order(tmp_path):
    """A rearranged-only model computes the dense function with permuted penultimate
    features; the recovered permutation must map stock MNN's features back exactly."""
    from sparsebytenn import convert
    from sparsebytenn.fidelity.features import MNNRunner, feature_permutation, model_io

    src = zoo_path()
    io = model_io(src)
    out = tmp_path / "rearranged.mnn"
    convert(src, out, sparsity=0.5, format="dense", rearrange=True, rearrange_only=True, progress=False)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    fd = MNNRunner(src, "input", [io["feature"]])(x)[0]
    fv = MNNRunner(out, "input", [io["feature"]])(x)[0]
    perm = feature_permutation(src, out, io["classifier"])
    assert perm is not None and sorted(perm) == list(range(fd.shape[1]))
    assert np.abs(fv - fd).max() > 1e-2 * np.abs(fd).max()           # really permuted
    aligned = np.empty_like(fv)
    aligned[:, perm] = fv
    assert np.abs(aligned - fd).max() <= 1e-4 * np.abs(fd).max()
    assert feature_permutation(src, src, io["classifier"]) is None


def test_calibration_images_are_disjoint_from_the_probe_images():
    fashion_mnist_installed()
    from sparsebytenn.fidelity.data import load_calibration_images, load_fashion_mnist

    tr, _ = load_fashion_mnist("train", 300, 0)
    te, _ = load_fashion_mnist("test", 300, 1)
    cal, lab = load_calibration_images(200, 300, 0)
    seen = {im.tobytes() for im in tr} | {im.tobytes() for im in te}
    assert not any(im.tobytes() in seen for im in cal)
    assert len({im.tobytes() for im in cal}) == 200
    assert np.bincount(lab, minlength=10).tolist() == [20] * 10
    again, _ = load_calibration_images(200, 300, 0)
    assert np.array_equal(cal, again)


@pytest.mark.slow
def test_eval_calibrated_rows(tmp_path, capsys):
    fashion_mnist_installed()
    zoo_path()
    js = tmp_path / "r.json"
    assert main(["eval", MODEL, "--train", "60", "--test", "40", "--size", "64", "--sparsity", "0.5",
                 "--patterns", "group,group-calibrated", "--calibration-images", "64", "--no-photos",
                 "--json", str(js), "-q"]) == 0
    out = capsys.readouterr().out
    assert "+calib" in out
    res = json.loads(js.read_text())
    rows = res["results"]
    assert [(r["pattern"], r["rearranged"], r["calibrated"]) for r in rows] == [
        ("dense", None, False), ("group", True, False), ("group", False, False),
        ("group-calibrated", True, True), ("group-calibrated", False, True)]
    assert res["protocol"]["calibrated_pruning"]["images"] == 64
    for r in rows[3:]:
        assert r["achieved_sparsity"] == pytest.approx(0.5, abs=0.01)
        errs = r["calibration_layers"]
        assert set(errs) == set(r["layer_sparsity"])
        assert all(e["error_calibrated"] <= e["error_plain"] + 1e-9 for e in errs.values())
    # calibration keeps the features far closer to dense than plain pruning (this model
    # has folded batch norm; plain one-shot pruning wrecks it), with or without rearrangement
    plain = max(r["feature_cosine"] for r in rows[1:3])
    for r in rows[3:]:
        assert r["feature_cosine"] > max(0.6, plain + 0.2), (r["feature_cosine"], plain)

    assert main(["eval", MODEL, "--patterns", "group-calibrated", "--calibration-images", "3", "-q"]) == 1
    assert "--calibration-images 3" in capsys.readouterr().err


def test_photo_calibration_views_are_seeded_normalised_crops():
    from PIL import Image

    from sparsebytenn import zoo
    from sparsebytenn.errors import SparseByteNNError
    from sparsebytenn.fidelity.calibration_set import photo_calibration

    photos = zoo.sample_photos()
    require(len(photos) >= 2, "sample photos (pip install scikit-image)")
    x = photo_calibration(MODEL, views=2 * len(photos), seed=1)
    assert x.shape == (2 * len(photos), 3, 224, 224) and x.dtype == np.float32
    assert np.array_equal(x, photo_calibration(MODEL, views=2 * len(photos), seed=1))
    assert not np.array_equal(x, photo_calibration(MODEL, views=2 * len(photos), seed=2))
    assert x.min() >= -1.0 - 1e-6 and x.max() <= 1.0 + 1e-6          # (x - 127.5) / 127.5
    # view 0 is a square crop of photo 0, resized: its mean colour is that of a crop of
    # the photo (independent: numpy on the decoded photo bounds the channel means)
    rgb = np.asarray(Image.open(photos[0][1]).convert("RGB"), np.float32)
    m = (x[0].mean(axis=(1, 2)) * 127.5 + 127.5)
    assert np.all(m >= rgb.min(axis=(0, 1)) - 1) and np.all(m <= rgb.max(axis=(0, 1)) + 1)
    with pytest.raises(SparseByteNNError, match="no sample photo"):
        photo_calibration(MODEL, exclude=[p for _, p, _ in photos])
