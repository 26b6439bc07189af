"""Files the fuzzer found that the reader accepted and stock MNN 3.6.1 crashed on
(issue 14.2): each is a recorded recipe on a zoo model, checked twice -- stock MNN,
driven directly in a child process, dies by a signal on it (so the rule is needed),
and the reader now refuses it with one line naming the problem (so MNN never sees it).

Recipes on the zoo's models use the recorded byte positions; the zoo's builds give the
same bytes on one machine but their weight values' last bits vary with the CPU (torch's
export folds batch norm in float), so what is checked is the layout the positions refer
to: sha256 of the seed with every conv's weight and bias values zeroed. On the
converter's sparse model, whose bytes change with the converter, the same edit is made
where it means the same thing."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from sbnn_testing import require

# (name, seed, sha256 of the seed, recipe ops, words of the reader's message)
CASES = [
    ("constant-without-values", "efficientnet-lite0", [["u16", 5128876, 4]], "holds 0 values"),
    ("constant-of-unknown-type", "efficientnet-lite0", [["u16", 4076, 13633]], "unknown data type"),
    ("reduction-with-another-parameter", "mobilenet-v1", [["u8", 4106742, 52]], "needs parameter type 50"),
    ("blob-parameter-on-a-slice", "efficientnet-lite0", [["u8", 3638, 7]], "constant's (Blob) parameter"),
    ("pool3d-without-kernels", "efficientnet-lite0", [["u16", 5129016, 4]], "not global needs"),
    ("sparse-conv-without-bias", "mobilenet-v1.sparse", "bias-length-0", "0 bias values"),
    # from the 100,000-input campaign of 2026-12-06 (docs/results/fuzz-100k.json)
    ("pads-pointing-at-weights", "mobilenet-v1", [["flip", 10448160, 7]], "padding (4, 512,"),
    ("relu6-with-a-reduction-parameter", "mobilenet-v1", [["flip", 4106760, 1]], "ReLU6 needs parameter type 52"),
    ("convert-tensor-without-input", "efficientnet-lite0", [["u32", 4364, 0]], "ConvertTensor needs inputs and has no input"),
    ("sparse-key-renamed", "mobilenet-v1.sparse", "rename-sparseBlockKernel", "lacks the sparseBlockKernel"),
    ("flatten-field-outside-its-table", "mobilenet-v1", [["u16", 2328, 65532]], "lies outside its table"),
    # the 8 inputs of that campaign still accepted on 2026-12-07, each reduced to the one edit that crashes
    ("convert-tensor-turned-tensor-array-gather", "mobilenet-v1.sparse", "convert-tensor-to-type-137",
     "TensorArrayGather needs 3 inputs and has 1"),
    ("slice-tf-with-two-inputs", "efficientnet-lite0", [["flip", 3680, 0]], "SliceTf needs 3 inputs and has 2"),
    ("reshape-with-one-input-and-no-dims", "efficientnet-lite0", [["u32", 5128624, 1]],
     "Reshape with one input has no shape"),
    ("input-dims-pointing-at-weights", "mobilenet-v1.sparse", "input-dims-into-weights",
     "MNN tensors have at most 9"),
    ("depthwise-turned-grouped-deconvolution", "efficientnet-lite0", [["i32", 18490848, 17]],
     "Deconvolution with group 144"),
    ("reduction-axis-out-of-range", "mobilenet-v1", [["flip", 4106843, 4]], "Reduction axis 268435459"),
    ("input-of-65532-dimensions", "mobilenet-v1.sparse", "input-dims-length-65532", "65,532 dimensions"),
    ("sparse-keys-unsorted", "mobilenet-v1.sparse", "sbnnPattern-to-0xc3", "keys are not sorted"),
    # from the 20,000-input campaign (recipe 6181, 65 ops reduced to this one bit): the Op.type of the
    # BinaryOp '/_blocks.7/Add_output_0', 7 -> 23 (ELU), which keeps its BinaryOp parameter; and its siblings
    ("binary-op-turned-elu", "efficientnet-lite0", [["flip", 17534716, 4]], "ELU needs parameter type 81, not 6"),
    ("binary-op-turned-selu", "efficientnet-lite0", [["i32", 17534716, 78]], "Selu needs parameter type 59, not 6"),
    ("binary-op-turned-threshold", "efficientnet-lite0", [["i32", 17534716, 97]],
     "Threshold needs parameter type 81, not 6"),
]
# (first recorded as sha256 of the whole files, b896de14... and bea27aa7..., on the machine
# the recipes were found on; a build on another Xeon on 2026-12-07 differed only in weight
# values and every recipe below still held)
SEED_LAYOUT_SHA = {"efficientnet-lite0": "f675443708b723cb38b857b52e3908a1ea6b6d1fe145c505a789eddb7c702a74",
                   "mobilenet-v1": "21f5b41ff5fb2bd90e3c2816217e7f0dd375ff0dca97d566982227af1c91c558"}


def _layout_sha(seed: bytes) -> str:
    """sha256 of the file with every conv's weight and bias values zeroed."""
    from sparsebytenn_converter import read_model

    data = bytearray(seed)
    for c in read_model("seed.mnn", data=seed).convs:
        for span in (c.weight_span, c.bias_span):
            if span:
                data[span[0]:span[0] + 4 * span[1]] = bytes(4 * span[1])
    return hashlib.sha256(bytes(data)).hexdigest()


def _ops(seed: bytes, recipe) -> list:
    """The recorded ops, or for a named edit the ops that make it on this seed."""
    if not isinstance(recipe, str):
        return recipe
    if recipe == "rename-sparseBlockKernel":      # the shared key string, as the fuzzer garbled it
        return [["bytes", seed.index(b"sparseBlockKernel"), "eda080"]]
    if recipe == "bias-length-0":                 # the first tagged conv's bias vector, emptied
        from sparsebytenn_converter import read_model

        conv = next(c for c in read_model("seed.mnn", data=seed).convs if c.sparse is not None)
        return [["u32", conv.bias_span[0] - 4, 0]]
    if recipe == "convert-tensor-to-type-137":    # the output ConvertTensor's Op.type, 129 -> 137 (a bit flip)
        from sparsebytenn_converter import read_model

        op = next(o for o in read_model("seed.mnn", data=seed).ops if o.name == "logits__before_tr")
        return [["i32", op.table.field_pos(5), 137]]
    if recipe in ("input-dims-into-weights", "input-dims-length-65532"):   # the Input op's dims vector
        from sparsebytenn_converter import read_model

        m = read_model("seed.mnn", data=seed)
        inp = next(o for o in m.ops if o.type == 34).main
        if recipe == "input-dims-length-65532":    # its length field
            return [["u16", inp.vector(0, 4)[0] - 4, 65532]]
        field = inp.field_pos(0)     # its reference, moved to a sparse index read as a length (> 100,000)
        quan = max(m.convs, key=lambda c: c.weight_count).conv2d.table(3, "quan")
        start, _ = quan.vector(13, 4)
        target = start + 4 * int(np.argmax(quan.array(13, "u32") > 100_000))
        return [["u32", field, target - field]]
    if recipe == "sbnnPattern-to-0xc3":           # a shared key's first byte, out of sort order
        return [["bytes", seed.index(b"sbnnPattern"), "c3"]]
    if recipe == "unsqueeze-dims-into-weights":   # SqueezeParam.squeezeDims pointed into weight floats
        from sparsebytenn_converter import read_model

        m = read_model("seed.mnn", data=seed)      # (the reader does not read them; MNN's verifier does)
        field = next(op for op in m.ops if op.type == 107 and op.main is not None).main.field_pos(0)
        target = max(m.convs, key=lambda c: c.weights.size).weight_span[0] + 4000
        return [["u32", field, target - (target - field) % 4 - field]]
    raise ValueError(recipe)

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
    for name, sha in SEED_LAYOUT_SHA.items():   # the recipes' positions hold on this layout
        assert _layout_sha(out[name]) == sha, f"{name}: not the layout the recipes were found on"
    return out


@pytest.mark.parametrize("name, seed, ops, words", CASES, ids=[c[0] for c in CASES])
def test_the_reader_refuses_what_crashed_stock_mnn(seeds, tmp_path, name, seed, ops, words):
    from sparsebytenn.errors import SparseByteNNError
    from sparsebytenn.fuzz.mutate import apply
    from sparsebytenn_converter import read_model

    path = tmp_path / f"{name}.mnn"
    path.write_bytes(apply(seeds[seed], _ops(seeds[seed], ops)))
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
    ("mnn-verifier-refuses", "efficientnet-lite0", "unsqueeze-dims-into-weights", "MNN refused"),
    ("mnn-cannot-schedule", "efficientnet-lite0", [["u16", 4244, 0]], "could not create a session"),
    ("input-of-97x97x224x224", "efficientnet-lite0", [["i32", 18539408, 97], ["i32", 18539412, 97]],
     "not made up at random"),
]


@pytest.mark.parametrize("name, seed, ops, words", REFUSED, ids=[c[0] for c in REFUSED])
def test_session_turns_mnns_refusals_into_one_line(seeds, tmp_path, name, seed, ops, words):
    from sparsebytenn.fuzz.mutate import apply

    path = tmp_path / f"{name}.mnn"
    path.write_bytes(apply(seeds[seed], _ops(seeds[seed], ops)))
    code = ("import sys\nfrom sparsebytenn import Session, run_inputs\n"
            "s = Session(sys.argv[1], plugin=False)\ns.run(run_inputs.build(s, []))\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1 and last.startswith("sparsebytenn.errors.SparseByteNNError: ") and words in last, \
        f"exit {r.returncode}: {r.stderr[-1500:]}"


# A file stock MNN crashes on, of a class the reader now refuses (a depthwise conv turned
# into a grouped Deconvolution, recipe 65408 of the 100,000-input campaign). No file the
# campaign found is both accepted by the reader and fatal to MNN any more, so the test
# plays a reader that misses a class: read_model lets everything through, here and in
# the isolating child (a sitecustomize on PYTHONPATH). Session(isolate=True) must still
# turn MNN's crash into an error in this process.
CRASHES_MNN = ("efficientnet-lite0", [["i32", 18490848, 17]])
LENIENT_READER = """
import sparsebytenn_converter
sparsebytenn_converter.read_model = lambda *args, **kwargs: None
"""


def test_session_isolate_turns_an_mnn_crash_into_an_error(seeds, tmp_path, monkeypatch):
    import os

    import sparsebytenn_converter
    from sparsebytenn.errors import SparseByteNNError
    from sparsebytenn.fuzz.mutate import apply

    seed, ops = CRASHES_MNN
    path = tmp_path / "crashes-mnn.mnn"
    path.write_bytes(apply(seeds[seed], ops))
    r = subprocess.run([sys.executable, "-c", STOCK, str(path)], capture_output=True, text=True, timeout=300)
    assert r.returncode < 0, f"stock MNN no longer crashes on it (exit {r.returncode}): pick another recipe"
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "sitecustomize.py").write_text(LENIENT_READER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(boot), *filter(None, [os.environ.get("PYTHONPATH")])]))
    code = ("import sys\nfrom sparsebytenn import Session, SparseByteNNError\n"
            "try:\n    Session(sys.argv[1], plugin=False, isolate=True)\n"
            "except SparseByteNNError as exc:\n    print('REFUSED', exc)\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("REFUSED ") and "MNN crashed" in r.stdout, (r.returncode, r.stdout,
                                                                                                r.stderr[-500:])
    monkeypatch.setattr(sparsebytenn_converter, "read_model", lambda *args, **kwargs: None)
    with pytest.raises(SparseByteNNError, match="MNN crashed"):
        from sparsebytenn import Session

        Session(path, plugin=False, isolate=True)                       # and in this very process
