"""`sparsebytenn bench speed-table`: the converter's kernel table, measured here, covering
the layer shapes of 224 px and 96 px inputs (small tiles are slower per G)."""
import json
import subprocess
import sys

import pytest

from sparsebytenn.bench.kernel_bench import LAYERS, SMALL_LAYERS
from sparsebytenn_converter.speed_model import SpeedTable


def test_speed_table_covers_both_input_sizes_and_its_numbers_add_up(tmp_path):
    out = tmp_path / "t.json"
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "bench", "speed-table", "--groups", "8,2",
                        "--rounds", "1", "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    table = json.loads(out.read_text())
    rows = table["rows"]
    assert {x["layer"] for x in rows} == {name for name, *_ in LAYERS + SMALL_LAYERS}
    assert {x["G"] for x in rows} == {8, 2} and table["cpu_model"]
    for x in rows:  # effective GFLOP/s = 2 * dense MACs * (1 - s) / time, from the row's own shape
        macs = x["hw"] ** 2 * x["cin"] * x["cout"]
        assert x["gflops"] == pytest.approx(2 * macs * (1 - x["sparsity"]) / (x["median_ms"] * 1e6), rel=0.02)
    loaded = SpeedTable.load(out)
    small = [x for x in rows if x["hw"] == 3 and x["G"] == 2 and x["sparsity"] == 0.5]
    assert loaded.gflops(2, 3, 0.5) == pytest.approx(small[0]["gflops"])     # 3x3 tiles: their own rows
