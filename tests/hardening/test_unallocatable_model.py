"""A well-formed model whose layer shapes do not fit together: the reader accepts
it, MNN cannot allocate it, and copying an input into the unallocated session
crashed the process (SIGSEGV inside MNN's copyFrom; found by the fuzzer with a
conv's strideX set to 16 in EfficientNet-Lite0). Session and `run` must refuse it
with one clean line instead. The file is made with MNN's own converter."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sbnn_testing import require


@pytest.fixture(scope="module")
def unallocatable(tmp_path_factory):
    import importlib.util

    require(importlib.util.find_spec("onnx") is not None, "the onnx package (scripts/setup.sh installs it)")
    import numpy as np
    from onnx import helper, numpy_helper

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "bridge"))
    import bridge_models as models

    folder = tmp_path_factory.mktemp("unallocatable")
    w = np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Concat", ["c", "input"], ["p"], axis=1)]
    models.save_onnx(nodes, [numpy_helper.from_array(w, "w")], "p", (1, 3, 8, 8), folder / "m.onnx")
    good = folder / "good.mnn"
    models.mnnconvert("-f", "ONNX", "--modelFile", folder / "m.onnx", "--MNNModel", good)
    net = models.to_json(good, folder / "good.json")
    (conv,) = [op for op in net["oplists"] if op["type"] == "Convolution"]
    conv["main"]["common"]["strideX"] = 16        # 8 -> 1 column: the concat's inputs no longer agree
    bad = folder / "bad.mnn"
    models.from_json(net, folder / "bad.json", bad)
    return good, bad


CODE = """
import sys, numpy as np
from sparsebytenn import Session
s = Session(sys.argv[1], plugin=sys.argv[2] == "1")
print(s.run(np.ones((1, 3, 8, 8), np.float32))[s.output_names[0]].shape)
"""


@pytest.mark.parametrize("plugin", ["0", "1"])
def test_session_refuses_a_model_mnn_cannot_allocate(unallocatable, plugin):
    good, bad = unallocatable
    from sparsebytenn_converter import read_model

    read_model(bad)   # well-formed: the reader has nothing to object to
    ok = subprocess.run([sys.executable, "-c", CODE, str(good), plugin], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "(1, 11, 8, 8)" in ok.stdout, ok.stderr[-2000:]
    r = subprocess.run([sys.executable, "-c", CODE, str(bad), plugin], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr[-2000:]}"      # -11 was the segfault
    last = r.stderr.strip().splitlines()[-1]
    assert "SparseByteNNError" in last and str(bad) in last and "could not allocate" in last, last


def test_run_command_says_so_in_one_line(unallocatable):
    _, bad = unallocatable
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "run", str(bad), "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("sparsebytenn: error: ") and str(bad) in line and "could not allocate" in line
    json.dumps(line)


def test_the_fuzzers_crash_on_efficientnet_lite0_is_a_clean_error(tmp_path):
    # the input the fuzzer found: block 8's depthwise conv with strideX 16 (MNN's JSON
    # round trip makes the file); the old Session died in MNN's copyFrom (SIGSEGV)
    from sparsebytenn import zoo

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "bridge"))
    import bridge_models as models

    net = models.to_json(zoo.get("efficientnet-lite0", progress=False), tmp_path / "lite0.json")
    (conv,) = [op for op in net["oplists"] if op["name"] == "/_blocks.8/_depthwise_conv/Conv_output_0"]
    conv["main"]["common"]["strideX"] = 16
    bad = tmp_path / "bad.mnn"
    models.from_json(net, tmp_path / "bad.json", bad)
    code = ("import sys, numpy as np\nfrom sparsebytenn import Session\n"
            "s = Session(sys.argv[1], plugin=False)\ns.run(np.ones((1, 3, 224, 224), np.float32))\n")
    r = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "could not allocate" in r.stderr.strip().splitlines()[-1], \
        f"exit {r.returncode}: {r.stderr[-1500:]}"


def test_convert_refuses_it_before_running_mnn_in_process(unallocatable, tmp_path):
    """Rearrangement's self-check runs stock MNN on the input in convert's own process even
    with --plain --no-fidelity, so the CLI's crash-isolating preflight must run first."""
    _, bad = unallocatable
    out = tmp_path / "out.mnn"
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "convert", str(bad), str(out), "--sparsity", "0.5",
                        "--plain", "--no-fidelity", "--skip", "none"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr[-2000:])
    (line,) = r.stderr.strip().splitlines()
    assert str(bad) in line and "could not allocate" in line, line
    assert not out.exists()
