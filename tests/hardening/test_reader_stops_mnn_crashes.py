"""Files the fuzzer found that the reader accepted and stock MNN 3.6.1 crashed on
(issue 14.2): each is a recorded recipe on a zoo model, checked twice -- stock MNN,
driven directly in a child process, dies by a signal on it (so the rule is needed),
and the reader now refuses it with one line naming the problem (so MNN never sees it)."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from sbnn_testing import require

# (name, seed, sha256 of the seed, recipe ops, words of the reader's message)
CASES = [
    ("constant-without-values", "efficientnet-lite0", [["u16", 5128876, 4]], "holds 0 values"),
    ("constant-of-unknown-type", "efficientnet-lite0", [["u16", 4076, 13633]], "unknown data type"),
    ("reduction-with-another-parameter", "mobilenet-v1", [["u8", 4106742, 52]], "needs parameter type 50"),
    ("blob-parameter-on-a-slice", "efficientnet-lite0", [["u8", 3638, 7]], "constant's (Blob) parameter"),
    ("pool3d-without-kernels", "efficientnet-lite0", [["u16", 5129016, 4]], "not global needs"),
    ("sparse-conv-without-bias", "mobilenet-v1.sparse", [["u32", 8908552, 0]], "0 bias values"),
    # from the 100,000-input campaign of 2026-12-06 (docs/results/fuzz-100k.json)
    ("pads-pointing-at-weights", "mobilenet-v1", [["flip", 10448160, 7]], "padding (4, 512,"),
    ("relu6-with-a-reduction-parameter", "mobilenet-v1", [["flip", 4106760, 1]], "ReLU6 needs parameter type 52"),
    ("convert-tensor-without-input", "efficientnet-lite0", [["u32", 4364, 0]], "ConvertTensor needs inputs and has no input"),
    ("sparse-key-renamed", "mobilenet-v1.sparse", [["bytes", 16898504, "eda080"]], "lacks the sparseBlockKernel"),
    ("flatten-field-outside-its-table", "mobilenet-v1", [["u16", 2328, 65532]], "lies outside its table"),
]
SEED_SHA = {"efficientnet-lite0": "b896de147807f4ee0aeff711cfedf3c55ec7b8f74300f6d4f180267088265536"}

STOCK = """
import sys, numpy as np, MNN
it = MNN.Interpreter(sys.argv[1])
s = it.createSession({"numThread": 1})
t = it.getSessionInput(s)
x = np.ones([max(1, d) for d in t.getShape()], np.float32)
t.copyFrom(MNN.Tensor(list(x.shape), MNN.Halide_Type_Float, x, MNN.Tensor_DimensionType_Caffe))
it.runSession(s)
"""


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    from sparsebytenn import zoo
    from sparsebytenn.fuzz import seeds as seedmod

    for name in ("mobilenet-v1", "efficientnet-lite0"):
        require(zoo.cached_files(name)["mnn"].is_file(), f"the zoo's {name} (sparsebytenn zoo get {name})")
    work = tmp_path_factory.mktemp("seeds")
    out = {name: seedmod.load(name, work).data for name in ("mobilenet-v1", "efficientnet-lite0", "mobilenet-v1.sparse")}
    for name, sha in SEED_SHA.items():   # the zoo's builds are bit-reproducible: the recipes' positions hold
        assert hashlib.sha256(out[name]).hexdigest() == sha, f"{name}: not the model the recipes were found on"
    return out


@pytest.mark.parametrize("name, seed, ops, words", CASES, ids=[c[0] for c in CASES])
def test_the_reader_refuses_what_crashed_stock_mnn(seeds, tmp_path, name, seed, ops, words):
    from sparsebytenn.errors import SparseByteNNError
    from sparsebytenn.fuzz.mutate import apply
    from sparsebytenn_converter import read_model

    path = tmp_path / f"{name}.mnn"
    path.write_bytes(apply(seeds[seed], ops))
    read_model(tmp_path / "seed.mnn", data=seeds[seed])             # the seed itself is fine
    r = subprocess.run([sys.executable, "-c", STOCK, str(path)], capture_output=True, text=True, timeout=300)
    assert r.returncode < 0, f"stock MNN no longer crashes on {name} (exit {r.returncode})"
    with pytest.raises(SparseByteNNError) as err:
        read_model(path)
    msg = str(err.value)
    assert words in msg and str(path) in msg and "\n" not in msg, msg


# Files the reader accepts and MNN refuses by raising (pymnn's plain Exception) or that ask
# for absurd random inputs: Session turns each into one clean SparseByteNNError line.
REFUSED = [
    ("mnn-verifier-refuses", "mobilenet-v1.sparse", [["i32", 16898004, 7910490], ["i32", 8955160, 1]], "MNN refused"),
    ("mnn-cannot-schedule", "efficientnet-lite0", [["u16", 4244, 0]], "could not create a session"),
    ("input-of-97x97x224x224", "efficientnet-lite0", [["i32", 18539408, 97], ["i32", 18539412, 97]],
     "not made up at random"),
]


@pytest.mark.parametrize("name, seed, ops, words", REFUSED, ids=[c[0] for c in REFUSED])
def test_session_turns_mnns_refusals_into_one_line(seeds, tmp_path, name, seed, ops, words):
    from sparsebytenn.fuzz.mutate import apply

    path = tmp_path / f"{name}.mnn"
    path.write_bytes(apply(seeds[seed], ops))
    code = ("import sys\nfrom sparsebytenn import Session, run_inputs\n"
            "s = Session(sys.argv[1], plugin=False)\ns.run(run_inputs.build(s, []))\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1 and last.startswith("sparsebytenn.errors.SparseByteNNError: ") and words in last, \
        f"exit {r.returncode}: {r.stderr[-1500:]}"
