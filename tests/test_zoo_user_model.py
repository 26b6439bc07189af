"""The zoo's stand-ins for "a user's own dense model": MobileNet-V1 / EfficientNet-Lite0
fine-tuned on Fashion-MNIST at 96 px (mobilenet-v1-fmnist, efficientnet-lite0-fmnist).

The full builds take minutes and are not run here: every build test uses a reduced
recipe (10 steps of 8 images) into a temporary folder. References are independent of
the code under test: MNN's own Module API for the .mnn, torch's bilinear resize for
the Fashion-MNIST inputs, the ITU-R 601 luma formula for gray photos.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbnn_testing import require
from sparsebytenn import SparseByteNNError, zoo
from sparsebytenn.zoo import cache, catalog, mobilenet_v1
from sparsebytenn_converter import mnn_wheel

MV1, LITE = "mobilenet-v1-fmnist", "efficientnet-lite0-fmnist"
USER_MODELS = [MV1, LITE]
REDUCED = dict(steps=10, batch=8, train_images=256, test_images=100, validation_images=32)
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _require_build_tools(name: str) -> None:
    require((FASHION / "train-images-idx3-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")
    for mod, req in catalog.BUILD_REQUIREMENTS + catalog.spec(name).extra_requirements:
        require(importlib.util.find_spec(mod) is not None, f"Python package {req} (pip install -e '.[zoo]')")


@pytest.fixture(scope="module")
def mv1_builds(tmp_path_factory):
    """Three reduced builds of mobilenet-v1-fmnist: seed 0 twice, seed 1 once."""
    _require_build_tools(MV1)
    root = tmp_path_factory.mktemp("user-model")
    return {label: zoo.build_variant(MV1, root / label, seed=seed, **REDUCED)
            for label, seed in (("a", 0), ("b", 0), ("c", 1))}


# --- (1) a reduced build is deterministic for a seed --------------------------------

def test_same_seed_same_bytes_other_seed_other_bytes(mv1_builds):
    a, b, c = mv1_builds["a"], mv1_builds["b"], mv1_builds["c"]
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".pt").read_bytes() == b.with_suffix(".pt").read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert a.with_suffix(".pt").read_bytes() != c.with_suffix(".pt").read_bytes()


def test_manifest_records_recipe_training_and_accuracy(mv1_builds):
    m = zoo.manifest(MV1, mv1_builds["c"].parent)
    assert m is not None
    recipe = m["recipe"]["train"]
    assert (recipe["seed"], recipe["steps"], recipe["batch"]) == (1, 10, 8)
    assert m["source"]["training"]["steps"] == 10 and m["source"]["training"]["seconds"] > 0
    assert m["source"]["base_model"] == "mobilenet-v1"
    test = m["accuracy"]["test"]
    assert test["images"] == 100 and 0 <= test["torch"] <= 1 and test["mnn"] == test["torch"]
    assert m["accuracy"]["reserved_train"]["images"] == 32
    assert m["info"]["training"]["steps"] == 10      # the recipe as built, not the default


# --- (2) the .mnn agrees with the torch model -----------------------------------------

def _mnn_module_logits(path: Path, x: np.ndarray, name: str) -> np.ndarray:
    """Stock MNN's Module API (not the zoo's Interpreter-based runner), one image at a time."""
    MNN = mnn_wheel.import_mnn()
    info = zoo.info(name)
    module = MNN.nn.load_module_from_file(str(path), [info["input_name"]], [info["output_name"]])
    out = []
    for image in x:
        inp = MNN.expr.const(np.ascontiguousarray(image[None]), list(image[None].shape), MNN.expr.NCHW)
        y = module.forward(inp)
        out.append(np.array(y.read()).reshape(-1))
    return np.stack(out)


def _check_mnn_matches_torch(name: str, mnn: Path) -> None:
    import torch

    model = zoo.torch_model(name, folder=mnn.parent)
    x, labels = zoo.fashion_mnist_inputs(name, "test", 40)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = _mnn_module_logits(mnn, x, name)
    assert got.shape == want.shape == (40, 10)
    scale = max(1.0, float(np.abs(want).max()))
    assert np.abs(got - want).max() <= 1e-4 * scale
    assert (got.argmax(1) == want.argmax(1)).all()
    # The manifest's torch accuracy is what this torch model gives on those images.
    m = zoo.manifest(name, mnn.parent)
    x100, y100 = zoo.fashion_mnist_inputs(name, "test", m["accuracy"]["test"]["images"])
    with torch.no_grad():
        acc = float((model(torch.from_numpy(x100)).numpy().argmax(1) == y100).mean())
    assert acc == pytest.approx(m["accuracy"]["test"]["torch"])


def test_mobilenet_mnn_matches_torch(mv1_builds):
    _check_mnn_matches_torch(MV1, mv1_builds["a"])


def test_efficientnet_mnn_matches_torch(tmp_path):
    _require_build_tools(LITE)
    _check_mnn_matches_torch(LITE, zoo.build_variant(LITE, tmp_path, **REDUCED))


def test_cache_serves_a_build_of_the_same_recipe_only(mv1_builds, tmp_path, monkeypatch):
    sdist = cache.downloads_dir() / mobilenet_v1.SDIST_FILENAME      # the backbone, for torch_model
    monkeypatch.setenv("SPARSEBYTENN_HOME", str(tmp_path))
    shutil.copy(sdist, cache.downloads_dir() / sdist.name)
    models = cache.models_dir()
    for f in mv1_builds["a"].parent.iterdir():
        shutil.copy(f, models / f.name)
    assert not zoo.is_cached(MV1)                    # built with another recipe than the catalog's
    reduced = dataclasses.replace(catalog.spec(MV1).recipe, seed=0, **REDUCED)
    monkeypatch.setitem(catalog.CATALOG, MV1, dataclasses.replace(catalog.spec(MV1), recipe=reduced))
    assert zoo.is_cached(MV1)
    assert zoo.get(MV1, progress=False) == models / f"{MV1}.mnn"
    assert zoo.torch_model(MV1, progress=False) is not None
    state = models / f"{MV1}.pt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(bytes(data))
    assert not zoo.is_cached(MV1)                    # a damaged state_dict is not served


# --- (3) catalog, info, preprocessing, labels -------------------------------------------

def test_catalog_lists_the_user_models():
    for name in USER_MODELS:
        assert name in zoo.names()
        i = zoo.info(name)
        assert i["input_shape"] == [1, 3, 96, 96] and i["layout"] == "NCHW"
        assert (i["num_classes"], i["label_offset"]) == (10, 0)
        assert "Fashion-MNIST" in i["description"] and "Fashion-MNIST" in i["classes"]
        assert "gray" in i["preprocessing"]["color"]
        base = zoo.info(i["fine_tuned_from"])["preprocessing"]
        assert (i["preprocessing"]["mean"], i["preprocessing"]["std"]) == (base["mean"], base["std"])
        assert i["training"]["train_images"] == 60000 - catalog.RESERVED_TRAIN


def test_cli_list_and_info_show_the_user_models():
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "zoo", "list"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines()}
    for name in USER_MODELS:
        assert "Fashion-MNIST" in lines[name]
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "zoo", "info", MV1],
                       capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["input_shape"] == [1, 3, 96, 96]


def test_fashion_mnist_inputs_match_torch_bilinear():
    require((FASHION / "t10k-images-idx3-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")
    import torch
    import torch.nn.functional as F

    images, labels = zoo.fashion_mnist("test", 16)
    for name in USER_MODELS:
        pre = zoo.info(name)["preprocessing"]
        x, y = zoo.fashion_mnist_inputs(name, "test", 16)
        assert x.shape == (16, 3, 96, 96) and x.dtype == np.float32 and (y == labels).all()
        ref = F.interpolate(torch.from_numpy(images[:, None].astype(np.float32)), size=(96, 96),
                            mode="bilinear", align_corners=False).numpy()[:, 0]
        for c in range(3):
            pixels = x[:, c] * pre["std"][c] + pre["mean"][c]
            assert np.abs(pixels - ref).max() <= 1.0       # uint8 rounding only


def test_preprocess_fashion_mnist_image_is_the_training_input():
    require((FASHION / "t10k-images-idx3-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")
    images, _ = zoo.fashion_mnist("test", 3)
    for name in USER_MODELS:
        x, _ = zoo.fashion_mnist_inputs(name, "test", 3)
        for i in range(3):
            np.testing.assert_array_equal(zoo.preprocess(name, images[i]), x[i:i + 1])


def test_preprocess_photo_is_gray_center_crop():
    rgb = np.random.default_rng(5).integers(0, 256, (96, 128, 3), dtype=np.uint8)  # no resampling
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114           # ITU-R 601
    for name in USER_MODELS:
        pre = zoo.info(name)["preprocessing"]
        x = zoo.preprocess(name, rgb)
        assert x.shape == (1, 3, 96, 96) and x.dtype == np.float32
        pixels = x[0] * np.float32(pre["std"][0]) + np.float32(pre["mean"][0])
        assert np.abs(pixels - luma[:, 16:112]).max() <= 1.0
        assert (x[0, 0] == x[0, 1]).all() and (x[0, 0] == x[0, 2]).all()


def test_top_k_names_fashion_classes():
    logits = np.zeros(10, np.float32)
    logits[7] = 5.0
    (label, prob), *_ = zoo.top_k(MV1, logits, k=3)
    assert label == "Sneaker" and prob > 0.9
    with pytest.raises(SparseByteNNError, match="expected 10 logits"):
        zoo.top_k(MV1, np.zeros(1000))


def test_bad_recipe_changes_are_one_line_errors(tmp_path):
    with pytest.raises(SparseByteNNError, match="unknown recipe field 'epochs'"):
        zoo.build_variant(MV1, tmp_path, epochs=1)
    with pytest.raises(SparseByteNNError, match="not fine-tuned"):
        zoo.build_variant("mobilenet-v1", tmp_path, steps=1)
    with pytest.raises(SparseByteNNError, match="train_images 59489"):
        zoo.build_variant(MV1, tmp_path, train_images=59489)
    with pytest.raises(SparseByteNNError, match=r"no complete build"):
        zoo.torch_model(MV1, folder=tmp_path)
