"""The README's main command (`scripts/demo.sh` runs `sparsebytenn demo`), end to end
on the real MobileNet-V1: convert at 50 %, the photo's top-5 from stock MNN and the
plugin, and the quick benchmark. The plugin's numbers are checked against stock MNN
run here, independently of the demo's own comparison."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbnn_testing import require

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_readme_main_command_runs_end_to_end(tmp_path):
    from sparsebytenn import zoo
    require(zoo.is_cached("mobilenet-v1") or not zoo.missing_requirements("mobilenet-v1"),
            "the mobilenet-v1 zoo model (its packages: pip install -e '.[zoo]')")
    require(zoo.sample_photos(), "a sample photo (scikit-image or darknet)")
    readme = (ROOT / "README.md").read_text()
    assert "scripts/demo.sh" in readme and "scripts/test.sh" in readme

    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "demo", "--out", str(out)],
                       capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "demo: every step ran." in r.stdout
    assert "top-5 identical" in r.stdout

    # the converted model: stock MNN and the bridge agree on the demo's photo
    sparse = out / "mobilenet-v1.sparse50.mnn"
    report = json.loads((out / "convert-report.json").read_text())
    tagged = sum(1 for ly in report["layers"] if ly["tagged"])
    assert tagged >= 12
    import sparsebytenn
    name, photo, _ = next((p for p in zoo.sample_photos() if p[2]), zoo.sample_photos()[0])
    x = zoo.preprocess("mobilenet-v1", photo)
    stock = sparsebytenn.Session(sparse, plugin=False).run(x)
    plug_sess = sparsebytenn.Session(sparse, plugin=True)
    plug = plug_sess.run(x)
    assert plug_sess.stats()["plugin_convs"] == tagged
    (k,) = stock
    assert np.abs(plug[k] - stock[k]).max() <= 1e-4 * np.abs(stock[k]).max()
    # the five class names the demo printed for the plugin are stock MNN's top five
    top5 = [c for c, _ in zoo.top_k("mobilenet-v1", stock[k], 5)]
    block = r.stdout.split("plugin, 50% sparse:")[1]
    printed = re.findall(r"^\s+\d\. (.+?)\s+\d+\.\d%$", block, flags=re.M)[:5]
    assert printed == top5

    # the quick benchmark: every engine measured, the plugin ran every tagged conv
    bench = json.loads((out / "bench.json").read_text())
    engines = {row["engine"] for row in bench["results"]}
    assert {"mnn-dense", "mnn-pruned-dense", "mnn-sparse", "plugin"} <= engines
    for row in bench["results"]:
        assert row["status"] == "ok", row
        if row["engine"] == "plugin":
            assert row["plugin_convs"] > 0 and row["speedup_vs_mnn_dense"] > 0
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| " in (out / "bench.md").read_text()
