"""The sanitizer CI step: scripts/sanitize.sh builds the kernels and the MNN bridge
with ASan+UBSan (build/sanitize, incremental) and runs the kernel tester and the
bridge smoke test under them. Green means exit 0 and not one sanitizer report."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sbnn_testing import require, require_tool

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:")


def _runtime_present(cxx: str, lib: str) -> bool:
    # g++ prints the bare name back when it cannot find the library
    out = subprocess.run([cxx, f"-print-file-name={lib}"], capture_output=True, text=True).stdout.strip()
    return os.path.isabs(out) and Path(out).is_file()


@pytest.mark.slow
def test_sanitizer_build_runs_clean():
    cxx = require_tool(os.environ.get("CXX", "g++"))
    require_tool("cmake")
    for lib in ("libasan.so", "libubsan.so"):
        require(_runtime_present(cxx, lib), f"{lib} for {cxx} (Debian: libasan8 / libubsan1, with g++)")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "sanitize.sh")], capture_output=True, text=True,
                          timeout=1800, cwd=ROOT, env={**os.environ, "SBNN_JOBS": os.environ.get("SBNN_JOBS", "2")})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    found = [r for r in REPORTS if r in log]
    assert not found, f"sanitizer report(s) {found}:\n{log[-6000:]}"
    assert "gsparse_tester: " in log and ", 0 failures" in log, log[-3000:]
    assert "convs ran in the sanitized bridge" in log or "bridge: not built" in log, log[-3000:]
    assert proc.stdout.rstrip().endswith("sanitize: OK"), proc.stdout[-2000:]
