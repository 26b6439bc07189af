"""`sparsebytenn bench speed-table`: the converter's kernel table, measured here, covering
the layer shapes of 224 px and 96 px inputs (small tiles are slower per G)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from sparsebytenn.bench.kernel_bench import LAYERS, SMALL_LAYERS
from sparsebytenn_converter.speed_model import SpeedTable


def test_speed_table_covers_both_input_sizes_and_its_numbers_add_up(tmp_path):
    out = tmp_path / "t.json"
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "bench", "speed-table", "--groups", "8,2",
                        "--rounds", "1", "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    table = json.loads(out.read_text())
    dense_rows = {x["engine"]: x for x in table["rows"] if x["engine"] in ("depthwise", "direct_conv")}
    rows = [x for x in table["rows"] if x["engine"] not in dense_rows]
    names = {name for name, *_ in LAYERS + SMALL_LAYERS}
    # the plugin and stock MNN, measured side by side in every group size's run
    for engine in ("sparsebytenn", "mnn-conv-op"):
        assert {(x["layer"], x["G"]) for x in rows if x["engine"] == engine} == {(n, G) for n in names for G in (8, 2)}
    assert table["cpu_model"]
    for x in rows:  # GFLOP/s from the row's own shape: the plugin's effective (kept MACs), stock's dense
        macs = x["hw"] ** 2 * x["cin"] * x["cout"] * ((1 - x["sparsity"]) if x["engine"] == "sparsebytenn" else 1)
        assert x["gflops"] == pytest.approx(2 * macs / (x["median_ms"] * 1e6), rel=0.02)
    loaded = SpeedTable.load(out)
    small = [x for x in rows if x["hw"] == 3 and x["G"] == 2 and x["sparsity"] == 0.5]
    small = [x for x in small if x["engine"] == "sparsebytenn"]
    assert loaded.gflops(2, 3, 0.5) == pytest.approx(small[0]["gflops"])     # 3x3 tiles: their own rows
    stock3 = [x["gflops"] for x in rows if x["hw"] == 3 and x["engine"] == "mnn-conv-op"]
    assert loaded.stock_gflops(3) == pytest.approx(float(np.median(stock3)))
    # x86: the dense ops the bridge also runs, stock MNN's session time over the plugin's
    # for MobileNet-V1's 13 depthwise convs and its first conv; a median of per-round
    # ratios, so near the ratio of the medians, and what the converter reads
    if table["isa"] in ("avx512", "avx2"):
        assert set(dense_rows) == {"depthwise", "direct_conv"}
        for kind, layers in (("depthwise", 13), ("direct_conv", 1)):
            row = dense_rows[kind]
            assert row["layers"] == layers and row["isa"] == table["isa"] and row["mnn_ms"] > 0 and row["plugin_ms"] > 0
            assert row["mnn_over_plugin"] == pytest.approx(row["mnn_ms"] / row["plugin_ms"], rel=0.25)
            assert loaded.speedup_of(kind) == row["mnn_over_plugin"]
