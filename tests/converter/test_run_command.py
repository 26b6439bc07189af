"""`sparsebytenn run` (issue 14.1, 14.3): every input of a model fed, MNN's status checked,
--json stdout kept clean. References: stock MNN through the one stock-MNN runner (mnn_wheel.MNNSession,
itself tested against numpy in tests/test_mnn_wheel.py)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sbnn_testing import fixed_batch_model
from sparsebytenn_converter.mnn_wheel import MNNSession
from test_converter import _two_input_model


def cli(*args):
    return subprocess.run([sys.executable, "-m", "sparsebytenn", "run", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory):
    return _two_input_model(tmp_path_factory.mktemp("two") / "two.mnn")


@pytest.fixture(scope="module")
def fixed_batch(tmp_path_factory):
    """A model whose Reshape bakes in batch 1: MNN cannot run it with batch 4."""
    return fixed_batch_model(tmp_path_factory.mktemp("fixed"))[0]


@pytest.mark.parametrize("plugin", ["--plugin", "--no-plugin"])
def test_a_two_input_model_runs_with_random_data_for_every_input(two_inputs, plugin):
    r = cli(two_inputs, plugin, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)                     # stdout is exactly one JSON object
    assert summary["outputs"] == {"out1": [1, 16, 8, 8], "out2": [1, 8, 4, 4]}


def test_named_inputs_give_stock_mnns_output(two_inputs, tmp_path):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((1, 3, 8, 8), np.float32), rng.standard_normal((1, 16, 4, 4), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    saved = tmp_path / "first.npy"
    r = cli(two_inputs, "--no-plugin", "--input", f"x={tmp_path / 'x.npy'}", "--input", f"y={tmp_path / 'y.npy'}",
            "--save-output", saved)
    assert r.returncode == 0, r.stderr
    ref = MNNSession(two_inputs).run({"x": x, "y": y})
    got = np.load(saved)
    match = [n for n, v in ref.items() if v.shape == got.shape and np.allclose(v, got, rtol=1e-5, atol=1e-6)]
    assert match, "the saved output is none of stock MNN's outputs for these inputs"


def test_input_errors_are_one_line(two_inputs, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 8, 8), np.float32))
    for args, message in ((["--input", tmp_path / "x.npy"], "name each one"),
                          (["--input", f"nope={tmp_path / 'x.npy'}"], "no input named 'nope'"),
                          (["--input", f"x={tmp_path / 'missing.npy'}"], "no such input file"),
                          (["--input", "=x.npy"], "give NAME=FILE.npy")):
        r = cli(two_inputs, "--no-plugin", *args)
        assert r.returncode == 1, (args, r.stdout)
        assert message in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("plugin", ["--plugin", "--no-plugin"])
def test_a_shape_mnn_cannot_run_is_an_error_not_zeros(fixed_batch, tmp_path, plugin):
    np.save(tmp_path / "x4.npy", np.ones((4, 3, 4, 4), np.float32))
    saved = tmp_path / "y.npy"
    r = cli(fixed_batch, plugin, "--input", tmp_path / "x4.npy", "--save-output", saved, "--json")
    assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout)
    assert "status 3" in r.stderr and "(4, 3, 4, 4)" in r.stderr and str(fixed_batch) in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert not saved.exists() and not list(tmp_path.glob(".y.npy*"))
    # the shape it was exported with still works, and agrees with stock MNN
    x1 = np.full((1, 3, 4, 4), 0.5, np.float32)
    np.save(tmp_path / "x1.npy", x1)
    ok = cli(fixed_batch, plugin, "--input", tmp_path / "x1.npy", "--save-output", saved, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["outputs"] == {"out": [1, 5]}, ok.stderr
    assert np.allclose(np.load(saved), MNNSession(fixed_batch).run({"input": x1})["out"], rtol=1e-5, atol=1e-6)


def test_session_refuses_to_return_stale_outputs(fixed_batch):
    # MNN keeps the last outputs when a run fails; Session.run must raise instead
    import sparsebytenn
    from sparsebytenn.errors import SparseByteNNError

    sess = sparsebytenn.Session(fixed_batch, plugin=False)
    sess.run(np.ones((1, 3, 4, 4), np.float32))
    with pytest.raises(SparseByteNNError, match="status 3"):
        sess.run(np.ones((4, 3, 4, 4), np.float32))
    with pytest.raises(SparseByteNNError, match="status 3"):
        sess.run_timed(np.ones((4, 3, 4, 4), np.float32), repeats=2)


def test_bench_stock_engine_raises_instead_of_returning_stale_outputs(fixed_batch):
    # bench's stock-MNN engine runs through Session, hence through mnn_wheel.MNNSession's checks
    from sparsebytenn.bench.runners import MNNRunner
    from sparsebytenn.errors import SparseByteNNError

    with pytest.raises(SparseByteNNError, match="status 3"):
        MNNRunner(fixed_batch, 1, {}, {"input": np.ones((4, 3, 4, 4), np.float32)})
