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
