"""Files tagged by MNN's own converter (--detectSparseSpeedUp) pass the reader's
sparse-metadata checks, and inspect reports the values MNN reads (MNN writes an
Attribute's i, b and f together; the integer is the one its runtime uses)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np


def test_mnn_tagged_file_reads_with_mnns_values(tiny, tmp_path):
    import bridge_models  # tests/bridge, on the path via conftest
    from sparsebytenn_converter import convert

    dense, _ = tiny
    pruned = tmp_path / "pruned.mnn"
    convert(dense, pruned, sparsity=0.7, group=4, skip=["none"], format="dense", plain=True, progress=False)
    tagged, dump = tmp_path / "mnn-tagged.mnn", tmp_path / "mnn-tagged.json"
    bridge_models.mnn_sparse_tag(pruned, tagged, oc_block=4)
    bridge_models.mnnconvert("-f", "MNN", "--modelFile", tagged, "--JsonFile", dump)
    theirs = {op["name"]: {a["key"]: a["i"] for a in op["main"]["sparseParameter"]["args"]}
              for op in json.loads(dump.read_text())["oplists"]
              if isinstance(op.get("main"), dict) and op["main"].get("sparseParameter")}
    assert theirs, "MNN tagged nothing"
    proc = subprocess.run([sys.executable, "-m", "sparsebytenn", "inspect", str(tagged), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ours = {op["name"]: op["sparse"]["args"] for op in json.loads(proc.stdout)["ops"] if op["sparse"]}
    assert ours == theirs
    assert all(isinstance(v, int) and not isinstance(v, bool) for a in ours.values() for v in a.values())
    assert np.all([a["sparseBlockOC"] == 4 for a in ours.values()])
