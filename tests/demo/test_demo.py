"""The README's main command (`scripts/demo.sh` runs `sparsebytenn demo`), end to end:
a user's Fashion-MNIST model (a reduced build here, `--user-model`) converted with
calibration, its test accuracy and speed-up, and the ImageNet photo through --group auto.
The demo's numbers are recomputed here with stock MNN's Interpreter API, the IDX labels
read with gzip + numpy, and the photo's top-5 with stock MNN."""
from __future__ import annotations

import gzip
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbnn_testing import require, stock_mnn_logits

ROOT = Path(__file__).resolve().parents[2]
FASHION = Path("/usr/share/datasets/fashion-mnist")
TEST = 300


@pytest.mark.slow
def test_readme_main_command_runs_end_to_end(tmp_path):
    from sparsebytenn import zoo
    from sparsebytenn.zoo import catalog

    require(zoo.is_cached("mobilenet-v1") or not zoo.missing_requirements("mobilenet-v1"),
            "the mobilenet-v1 zoo model (its packages: pip install -e '.[zoo]')")
    require((FASHION / "t10k-labels-idx1-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")
    for mod, req in catalog.BUILD_REQUIREMENTS:
        require(importlib.util.find_spec(mod) is not None, f"Python package {req}")
    require(any(n == "coffee" for n, _, _ in zoo.sample_photos()), "skimage's coffee photo")
    readme = (ROOT / "README.md").read_text()
    assert "scripts/demo.sh" in readme and "scripts/test.sh" in readme

    user = zoo.build_variant("mobilenet-v1-fmnist", tmp_path / "user", steps=60, batch=32, train_images=4096,
                             test_images=100, validation_images=32)
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "demo", "--out", str(out), "--user-model", str(user),
                        "--test", str(TEST), "--rounds", "2"], capture_output=True, text=True, timeout=3000,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "demo: every step ran." in r.stdout

    # step 2-3: the converted user model and the numbers the demo printed
    report = json.loads((out / "convert-report.json").read_text())
    assert sum(ly["tagged"] for ly in report["layers"]) >= 12
    assert "inputs you gave" in report["calibration"]["source"] and report["fidelity"]["samples"] > 0
    pruned = out / "mobilenet-v1-fmnist.sparse50.mnn"
    result = json.loads((out / "eval.json").read_text())
    dense_row, row = result["results"]
    with gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        y = np.frombuffer(f.read()[8:8 + TEST], np.uint8)
    x, _ = zoo.fashion_mnist_inputs("mobilenet-v1-fmnist", "test", TEST)
    acc_d = np.mean(stock_mnn_logits(user, x).argmax(1) == y)
    acc_p = np.mean(stock_mnn_logits(pruned, x).argmax(1) == y)
    assert dense_row["accuracy"] == pytest.approx(acc_d) and row["accuracy"] == pytest.approx(acc_p)
    assert f"test accuracy {acc_d:.2%} -> {acc_p:.2%}" in r.stdout
    assert row["speedup_vs_mnn_dense"] > 0 and row["plugin_convs"] == sum(ly["tagged"] for ly in report["layers"])
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # step 4: the plugin's printed top-5 is stock MNN's top-5 on the saved model
    auto = out / "mobilenet-v1.auto30.mnn"
    coffee = next(p for n, p, _ in zoo.sample_photos() if n == "coffee")
    logits = stock_mnn_logits(auto, zoo.preprocess("mobilenet-v1", coffee))[0]
    top5 = [c for c, _ in zoo.top_k("mobilenet-v1", logits, 5)]
    block = r.stdout.split("30% sparse, plugin:")[1]
    printed = re.findall(r"^\s+\d\. (.+?)\s+\d+\.\d%$", block, flags=re.M)[:5]
    assert printed == top5
    assert ("the answer held" in r.stdout) == (top5[0] == "espresso")
