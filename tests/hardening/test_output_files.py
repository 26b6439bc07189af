"""What the tools leave on disk and how they behave under inherited limits."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import fbedit

NAN = 0x7FC00000


def _cli(*args, preexec=None):
    return subprocess.run([sys.executable, "-m", "sparsebytenn", *map(str, args)], capture_output=True,
                          text=True, timeout=300, preexec_fn=preexec)


def test_convert_output_gets_the_usual_file_mode_not_mkstemps_0600(tiny, tmp_path):
    dense, _ = tiny
    out = tmp_path / "out.mnn"

    def umask_022():
        os.umask(0o022)

    r = _cli("convert", dense, out, "--sparsity", "0.5", "--skip", "none", "-q", preexec=umask_022)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_mode & 0o777 == 0o644
    # issue 14.18: every command's files, one rule (run and bench kernels wrote mkstemp's 0600)
    saved, rows = tmp_path / "y.npy", tmp_path / "k.json"
    r = _cli("run", out, "--repeats", "1", "--save-output", saved, preexec=umask_022)
    assert r.returncode == 0, r.stderr
    r = _cli("bench", "kernels", "--engines", "sparsebytenn", "--layers", "7x7_1024-1024", "--sparsity", "0.5",
             "--threads", "1", "--rounds", "1", "--repeats", "1", "--json", rows, preexec=umask_022)
    assert r.returncode == 0, r.stderr
    assert {f.name: f.stat().st_mode & 0o777 for f in (saved, rows)} == {"y.npy": 0o644, "k.json": 0o644}


def test_nan_only_model_error_says_why_no_layer_was_left(tiny, tmp_path):
    dense, _ = tiny
    fb = fbedit.FB(dense.read_bytes())
    for op in fb.convs(dense_only=True):  # every conv's weights poisoned, found without our reader
        start, n = fb.vector(fb.param(op), fbedit.CONV_WEIGHT)
        for i in range(0, n, 7):
            fb.put("<I", start + 4 + 4 * i, NAN)
    bad = tmp_path / "nan.mnn"
    bad.write_bytes(fb.bytes())
    out = tmp_path / "out.mnn"
    r = _cli("convert", bad, out, "--sparsity", "0.5", "--skip", "none")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert str(bad) in r.stderr and "NaN" in r.stderr, r.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["nan.mnn"]


def test_run_works_under_a_lower_inherited_address_space_limit(tiny, tmp_path):
    """run's preflight child lowers only the soft limit; a lower hard limit (ulimit -v) stays."""
    _, sparse = tiny
    hard = 6 << 30  # below the preflight's own 8 GB + 16 x file size

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))

    r = _cli("run", sparse, "--json", preexec=limit)
    assert r.returncode == 0, r.stderr
    assert '"outputs"' in r.stdout


def _digests(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _refused(r, *words):
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def test_no_output_option_can_overwrite_an_input(tiny, tmp_path):
    # Every option that writes a file, pointed at the command's own input: refused,
    # before any work, with every file in the folder unchanged and nothing added.
    dense, sparse = tiny
    model = tmp_path / "m.mnn"
    model.write_bytes(sparse.read_bytes())
    x = tmp_path / "x.npy"
    import numpy as np
    np.save(x, np.zeros((1, 3, 8, 8), np.float32))
    before = _digests(tmp_path)
    cases = [
        (["convert", model, tmp_path / "o.mnn", "--sparsity", "0.5", "--report", model], "--report"),
        (["convert", model, tmp_path / "o.mnn", "--sparsity", "0.5", "--report", tmp_path / "o.mnn"], "--report"),
        (["run", model, "--save-output", model], "--save-output"),
        (["run", model, "--input", x, "--save-output", x], "--save-output"),
        (["bench", model, "--quick", "--no-progress", "--json", model], "--json"),
        (["bench", model, "--quick", "--no-progress", "--plot", tmp_path / "p.png", "--markdown",
          tmp_path / "p.png"], "--markdown"),
        (["eval", model, "--json", model, "-q"], "--json"),
        (["bench", "kernels", "--quick", "--json", model], "--json"),
    ]
    for args, option in cases:
        r = _cli(*args)
        _refused(r, option)
        assert _digests(tmp_path) == before, args


def test_existing_outputs_are_replaced_only_with_force(tiny, tmp_path):
    _, sparse = tiny
    model = tmp_path / "m.mnn"
    model.write_bytes(sparse.read_bytes())
    old = b"the user's earlier results"
    report = tmp_path / "r.json"
    saved = tmp_path / "y.npy"
    for f in (report, saved):
        f.write_bytes(old)
    out = tmp_path / "o.mnn"
    r = _cli("convert", model, out, "--sparsity", "0.5", "--report", report, "-q")
    _refused(r, "--report", "--force")
    assert not out.exists() and report.read_bytes() == old  # no OUT without its report
    r = _cli("run", model, "--repeats", "1", "--save-output", saved)
    _refused(r, "--save-output", "--force")
    assert saved.read_bytes() == old

    r = _cli("convert", model, out, "--sparsity", "0.5", "--report", report, "-q", "--force")
    assert r.returncode == 0, r.stderr
    import json
    assert json.loads(report.read_text())["output_bytes"] == out.stat().st_size
    r = _cli("run", model, "--repeats", "1", "--save-output", saved, "--force")
    assert r.returncode == 0, r.stderr
    import numpy as np
    assert np.load(saved).dtype == np.float32
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_unwritable_report_leaves_no_output(tiny, tmp_path, monkeypatch):
    # The report cannot be written (disk full after the checks): OUT must not be left
    # behind without its report, and no temp file may stay.
    import importlib

    import pytest

    _, sparse = tiny
    convert_mod = importlib.import_module("sparsebytenn_converter.convert")
    writer_mod = importlib.import_module("sparsebytenn_converter.output_paths")
    from sparsebytenn_converter.errors import ModelError

    real_stage = writer_mod._stage
    calls = []

    def failing_stage(path, data):
        calls.append(path)
        if path.suffix == ".json":
            raise ModelError(f"{path}: cannot write (No space left on device)")
        return real_stage(path, data)

    monkeypatch.setattr(writer_mod, "_stage", failing_stage)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ModelError, match="No space left"):
        convert_mod.convert(sparse, work / "o.mnn", sparsity=0.5, report_path=work / "r.json", plain=True, progress=False)
    assert [p.name for p in calls] == ["o.mnn", "r.json"]
    assert sorted(p.name for p in work.iterdir()) == []


def test_eval_save_models_refuses_a_folder_with_files_unless_forced(tiny, tmp_path):
    dense, _ = tiny
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "mine.mnn").write_bytes(b"the user's model")
    r = _cli("eval", dense, "--sparsity", "0.5", "--save-models", folder)
    _refused(r, "--save-models", "--force")
    assert [p.name for p in folder.iterdir()] == ["mine.mnn"] and (folder / "mine.mnn").read_bytes() == \
        b"the user's model"
