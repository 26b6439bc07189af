"""The one door to stock MNN's wheel: what it hides, what it keeps, what its
converter helper reports (checked from outside: the bytes a child process prints), and
MNNSession, the one runner, against a numpy forward and MNN's own failure statuses."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sparsebytenn_converter.errors import ModelError
from sparsebytenn_converter.mnn_wheel import MNNModule, MNNSession
from sbnn_testing import fixed_batch_model


def _child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_quiet_hides_native_writes_and_restores_the_descriptors():
    r = _child("import os\nfrom sparsebytenn_converter.mnn_wheel import quiet\n"
               "with quiet(stderr=True):\n    os.write(1, b'hidden-out'); os.write(2, b'hidden-err'); print('py')\n"
               "os.write(1, b'after-out'); os.write(2, b'after-err')\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "after-out" and r.stderr == "after-err"


def test_import_mnn_prints_no_banner_on_stdout():
    r = _child("from sparsebytenn_converter.mnn_wheel import import_mnn\nm = import_mnn()\n"
               "print('version', m.version())\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"version {r.stdout.split()[1]}"]


def test_captured_keeps_the_native_text():
    r = _child("import os\nfrom sparsebytenn_converter.mnn_wheel import captured\n"
               "with captured() as log:\n    os.write(1, b'one '); os.write(2, b'two')\n"
               "print(repr(log[0]))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == repr("one two")


def test_mnnconvert_keeps_its_log_off_stdout(tmp_path):
    # MNN 3.6.1's converter returns True even for a missing input: the log and the
    # missing file are what tell the caller, so the log must reach the caller, not stdout
    r = _child("from sparsebytenn_converter.mnn_wheel import mnnconvert\n"
               f"ok, log = mnnconvert('-f', 'ONNX', '--modelFile', {str(tmp_path / 'no.onnx')!r}, "
               f"'--MNNModel', {str(tmp_path / 'o.mnn')!r})\n"
               "print('LOG', repr(log))\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("LOG ") and "Does Not Exist" in lines[0], r.stdout
    assert not (tmp_path / "o.mnn").exists()


# ---- MNNSession, the one stock-MNN runner: against numpy, and every failure MNN reports ----

@pytest.fixture(scope="module")
def fixed_batch(tmp_path_factory):
    """conv 1x1 (3->8) + ReLU, a Reshape that bakes in batch 1, FC 128->5, and its weights."""
    return fixed_batch_model(tmp_path_factory.mktemp("fixed"))


def _numpy_forward(w: dict, x: np.ndarray) -> np.ndarray:
    h = np.einsum("oi,nihw->nohw", w["c.weight"][:, :, 0, 0], x.astype(np.float64)) + w["c.bias"][None, :, None, None]
    return np.maximum(h, 0).reshape(1, 128) @ w["fc.weight"].T + w["fc.bias"]


def test_mnn_session_outputs_equal_a_numpy_forward(fixed_batch):
    path, w = fixed_batch
    m = MNNSession(path)
    assert (m.input_names, m.output_names, m.input_shapes) == (["input"], ["out"], {"input": [1, 3, 4, 4]})
    for seed in (1, 2):   # a second run must not hand back the first one's outputs
        x = np.random.default_rng(seed).standard_normal((1, 3, 4, 4)).astype(np.float32)
        out = m.run({"input": x})
        assert list(out) == ["out"] and out["out"].shape == (1, 5)
        np.testing.assert_allclose(out["out"], _numpy_forward(w, x), rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(m.run_single(x), out["out"])


def test_mnn_session_raises_on_a_failed_run_instead_of_returning_stale_outputs(fixed_batch):
    # batch 4 resizes the session, then the Reshape(1, 128) fails: MNN returns status 3
    # (compute size error) and keeps the previous outputs in its tensors
    path, _ = fixed_batch
    m = MNNSession(path)
    m.run(np.ones((1, 3, 4, 4), np.float32))
    with pytest.raises(ModelError, match=r"r\.mnn: MNN could not run the model .*status 3"):
        m.run(np.ones((4, 3, 4, 4), np.float32))
    with pytest.raises(ModelError, match="status 3"):
        m.run_timed(np.ones((4, 3, 4, 4), np.float32), repeats=2)
    with pytest.raises(ModelError, match="status 3"):
        m.run_with_callbacks(np.ones((4, 3, 4, 4), np.float32), lambda t, op: True, lambda t, op: True)


def test_mnn_session_refuses_what_mnn_cannot_load_or_feed(fixed_batch, tmp_path):
    path, _ = fixed_batch
    with pytest.raises(ModelError, match="no such model file"):
        MNNSession(tmp_path / "none.mnn")
    junk = tmp_path / "junk.mnn"
    junk.write_bytes(b"\x10\x00\x00\x00" + bytes(60))
    with pytest.raises(ModelError, match="junk.mnn: MNN"):
        MNNSession(junk)
    m = MNNSession(path)
    with pytest.raises(ModelError, match="no input named"):
        m.run({"image": np.ones((1, 3, 4, 4), np.float32)})


# ---- MNNModule, the same door through MNN's Module API (batches, tensors inside the graph) ----

def test_mnn_module_reads_outputs_and_inner_tensors_as_a_numpy_forward(fixed_batch):
    path, w = fixed_batch
    x = np.random.default_rng(3).standard_normal((1, 3, 4, 4)).astype(np.float32)
    relu, out = MNNModule(path, ["input"], ["/Relu_output_0", "out"]).forward(x)
    h = np.einsum("oi,nihw->nohw", w["c.weight"][:, :, 0, 0], x.astype(np.float64)) + w["c.bias"][None, :, None, None]
    np.testing.assert_allclose(relu, np.maximum(h, 0), rtol=1e-4, atol=1e-5)     # NCHW, batch first
    np.testing.assert_allclose(out, _numpy_forward(w, x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(MNNModule(path, ["input"], ["out"], threads=2).forward(x)[0], out, rtol=1e-6)


def test_mnn_module_raises_on_what_mnn_cannot_load_or_run(fixed_batch):
    path, _ = fixed_batch
    with pytest.raises(ModelError, match=r"r\.mnn: stock MNN could not load the model .*'nope'"):
        MNNModule(path, ["input"], ["nope"])
    m = MNNModule(path, ["input"], ["out"])
    with pytest.raises(ModelError, match=r"r\.mnn: stock MNN could not run a batch of shape \(4, 3, 4, 4\)"):
        m.forward(np.ones((4, 3, 4, 4), np.float32))       # the Reshape fixes batch 1
    assert m.forward(np.ones((1, 3, 4, 4), np.float32))[0].shape == (1, 5)

