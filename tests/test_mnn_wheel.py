"""The one door to stock MNN's wheel: what it hides, what it keeps, what its
converter helper reports (checked from outside: the bytes a child process prints)."""
from __future__ import annotations

import subprocess
import sys


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
