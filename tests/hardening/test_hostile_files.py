"""Every subcommand that reads a model, run as the real CLI on hostile files: a clean
one-line error naming the file (exit 1, no traceback, no signal), no output or temp
file left behind, and the input byte-identical afterwards. Plus convert's refusal
to overwrite an existing OUT or its own input."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hostile

# subcommand -> argv after the model (OUT is the output folder; every file it may write goes there)
COMMANDS = {
    "inspect": lambda m, out: ["inspect", m, "--json"],
    "convert": lambda m, out: ["convert", m, f"{out}/out.mnn", "--sparsity", "0.5", "--report", f"{out}/r.json"],
    "run": lambda m, out: ["run", m, "--repeats", "1", "--save-output", f"{out}/y.npy"],
    "bench": lambda m, out: ["bench", m, "--quick", "--sparsity", "0.5", "--engines", "mnn-dense",
                             "--no-progress", "--json", f"{out}/b.json"],
    "eval": lambda m, out: ["eval", m, "--like", "mobilenet-v1-fmnist", "--sparsity", "0.5", "--methods",
                            "default", "--test", "10", "-q", "--json", f"{out}/e.json"],
}
MODEL_CASES = ["truncated-at-4", "truncated-at-12", "truncated-at-q1", "truncated-at-q2", "truncated-at-q3",
               "truncated-at-end-8", "root-offset-past-end", "oplists-offset-bit-flip", "op-vtable-outside",
               "field-outside-table", "weight-length-past-end", "sparse-index-length-past-end",
               "conv-with-pool-union-type", "pooling-with-conv-parameter"]


def cli(*argv, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "sparsebytenn", *map(str, argv)], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def hostile_files(tiny, tmp_path_factory) -> dict[str, Path]:
    dense, sparse = tiny
    d = dense.read_bytes()
    cases = hostile.model_cases(d, sparse.read_bytes())
    n = len(d)  # stable names for the cut points that depend on the model's size
    rename = {f"truncated-at-{n // 4}": "truncated-at-q1", f"truncated-at-{n // 2}": "truncated-at-q2",
              f"truncated-at-{3 * n // 4}": "truncated-at-q3", f"truncated-at-{n - 8}": "truncated-at-end-8"}
    folder = tmp_path_factory.mktemp("hostile")
    files = {}
    for name, data in cases.items():
        name = rename.get(name, name)
        files[name] = folder / f"{name}.mnn"
        files[name].write_bytes(data)
    assert sorted(files) == sorted(MODEL_CASES)
    files["empty"] = folder / "empty.mnn"
    files["empty"].write_bytes(b"")
    files["text"] = folder / "notes.mnn"
    files["text"].write_text("these are my notes, not a model\n" * 20)
    files["directory"] = folder / "folder.mnn"
    files["directory"].mkdir()
    files["missing"] = folder / "does-not-exist.mnn"
    files["fifo"] = folder / "pipe.mnn"   # reading it would block forever
    os.mkfifo(files["fifo"])
    files["device"] = Path("/dev/zero")   # reading it would never end
    return files


def check_clean_failure(proc, model: Path, out_dir: Path) -> str:
    assert proc.returncode == 1, f"exit {proc.returncode}\nstdout: {proc.stdout[-800:]}\nstderr: {proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("sparsebytenn: error: "), line
    assert str(model) in line or model.name in line, f"the error does not name the file: {line}"
    problem = line.split(model.name, 1)[-1]
    assert len(problem.strip(" :")) >= 8, f"the error does not say what is wrong: {line}"
    left = sorted(p.name for p in out_dir.iterdir())
    assert left == [], f"files left in the output folder: {left}"
    return line


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", MODEL_CASES + list(hostile.SPECIAL))
def test_hostile_file_gives_one_clean_error(hostile_files, tmp_path, command, case):
    model = hostile_files[case]
    before = sha(model) if model.is_file() else None
    siblings = sorted(p.name for p in model.parent.iterdir()) if case != "device" else None
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = cli(*COMMANDS[command](model, out_dir))
    line = check_clean_failure(proc, model, out_dir)
    if before is not None:
        assert sha(model) == before, "the input file was modified"
    if siblings is not None:
        assert sorted(p.name for p in model.parent.iterdir()) == siblings, "files appeared next to the input"
    if case == "missing":
        assert "no such file" in line or "not a file" in line, line
    elif case == "directory":
        assert "directory" in line or "not a model file" in line, line
    elif case in ("empty", "text") or case.startswith("truncated-at-4") or case.startswith("truncated-at-12"):
        assert "not an MNN model" in line, line
    elif case in ("fifo", "device"):
        assert "not a regular file" in line or "not a file" in line or "not a model file" in line, line
    else:
        assert "corrupted" in line or "not an MNN model" in line, line


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_truncated_zoo_model(tmp_path, cut):
    """A real 17 MB model cut short, through the commands that read it fully."""
    from sbnn_testing import require
    from sparsebytenn import zoo

    require(zoo.cached_files("mobilenet-v1")["mnn"].is_file(),
            "the zoo's mobilenet-v1 (sparsebytenn zoo get mobilenet-v1)")
    src = zoo.get("mobilenet-v1", progress=False)
    data = Path(src).read_bytes()
    model = tmp_path / "mnv1-cut.mnn"
    model.write_bytes(data[:int(len(data) * cut)])
    for command in ("inspect", "convert", "run"):
        out_dir = tmp_path / f"out-{command}"
        out_dir.mkdir()
        check_clean_failure(cli(*COMMANDS[command](model, out_dir)), model, out_dir)
    assert Path(src).read_bytes() == data


# --------------------------------------------------------------------------- #
# convert never overwrites what the user had

def test_convert_refuses_existing_out_without_force(tiny, tmp_path):
    dense, _ = tiny
    out = tmp_path / "out.mnn"
    out.write_bytes(b"the user's precious file")
    proc = cli("convert", dense, out, "--sparsity", "0.5", "--report", tmp_path / "r.json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert str(out) in proc.stderr and "already exists" in proc.stderr and "--force" in proc.stderr
    assert out.read_bytes() == b"the user's precious file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mnn"]


def test_failing_convert_with_force_keeps_existing_out(hostile_files, tmp_path):
    out = tmp_path / "out.mnn"
    out.write_bytes(b"the user's precious file")
    model = hostile_files["weight-length-past-end"]
    proc = cli("convert", model, out, "--sparsity", "0.5", "--force")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert out.read_bytes() == b"the user's precious file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mnn"]


def test_convert_with_force_replaces_out_atomically(tiny, tmp_path):
    from sparsebytenn_converter import read_model

    dense, _ = tiny
    out = tmp_path / "out.mnn"
    out.write_bytes(b"old")
    proc = cli("convert", dense, out, "--sparsity", "0.5", "--force", "-q")
    assert proc.returncode == 0, proc.stderr
    assert read_model(out).convs and sorted(p.name for p in tmp_path.iterdir()) == ["out.mnn"]


@pytest.mark.parametrize("spelling", ["same", "dot-slash", "symlink", "hardlink"])
@pytest.mark.parametrize("force", [False, True])
def test_convert_refuses_out_equal_to_in(tiny, tmp_path, spelling, force):
    dense, _ = tiny
    model = tmp_path / "model.mnn"
    model.write_bytes(dense.read_bytes())
    before = sha(model)
    out = {"same": "model.mnn", "dot-slash": "./sub/../model.mnn", "symlink": "link.mnn",
           "hardlink": "hard.mnn"}[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        (tmp_path / "link.mnn").symlink_to(model)
    elif spelling == "hardlink":
        os.link(model, tmp_path / "hard.mnn")
    listing = sorted(p.name for p in tmp_path.iterdir())
    proc = cli("convert", "model.mnn", out, "--sparsity", "0.5", *(["--force"] if force else []), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert sha(model) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing
