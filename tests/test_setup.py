"""scripts/setup.sh and scripts/arm64root.sh: idempotent set-up and the arm64 Python."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sbnn_testing import require

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"
ARM64 = ROOT / "scripts" / "arm64root.sh"
STEP_WORDS = ("installing", "creating", "building", "extracting")


def _run(cmd, timeout, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)


def _stamps() -> dict[str, int]:
    env = Path(os.environ.get("VIRTUAL_ENV") or ROOT / ".venv")
    home = Path(os.environ.get("SPARSEBYTENN_HOME") or Path.home() / ".cache" / "sparsebytenn")
    files = [env / ".sparsebytenn-deps.stamp", env / ".sparsebytenn-build.stamp", home / "arm64root.ok"]
    return {str(f): f.stat().st_mtime_ns for f in files if f.exists()}


@pytest.mark.slow
def test_warm_setup_is_a_noop():
    require(shutil.which("dpkg-query") is not None, "a Debian system (dpkg-query)")
    first = _run(["bash", str(SETUP)], timeout=1800)  # brings everything up to date
    assert first.returncode == 0, first.stderr[-2000:]
    before = _stamps()
    # The warm run must do nothing: no step runs, no stamp is rewritten. The timeout
    # only guards against a hang or a hidden reinstall (a real one takes minutes).
    warm = _run(["bash", str(SETUP)], timeout=60)
    assert warm.returncode == 0, warm.stderr[-2000:]
    steps = [line for line in warm.stderr.splitlines() if any(w in line for w in STEP_WORDS)]
    assert steps == [], steps
    assert "ready:" in warm.stderr
    assert _stamps() == before


def _arm64_folders() -> tuple[Path, Path]:
    r = _run(["bash", str(ARM64), "path"], timeout=30).stdout.strip()
    v = _run(["bash", str(ARM64), "venv"], timeout=30).stdout.strip()
    return Path(r), Path(v)


@pytest.mark.qemu
def test_arm64_python_imports_mnn():
    qemu = shutil.which("qemu-aarch64")
    require(qemu is not None, "qemu-aarch64 (apt-get install qemu-user)")
    root, venv = _arm64_folders()
    require((venv / "bin" / "python").exists() and (root / "usr" / "bin" / "python3.11").exists(),
            f"the arm64 root folder {root} (scripts/arm64root.sh ensure)")
    code = ("import platform, MNN, numpy as np\n"
            "a = np.arange(12, dtype=np.float32).reshape(3, 4)\n"
            "print('RESULT', platform.machine(), MNN.version(), float((a @ a.T).trace()))\n")
    r = _run([qemu, "-L", str(root), str(venv / "bin" / "python"), "-c", code], timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(l for l in r.stdout.splitlines() if l.startswith("RESULT"))
    machine, version, trace = line.split()[1:]
    assert machine == "aarch64" and version == "3.6.1"
    assert float(trace) == float(sum(i * i for i in range(12)))  # trace(A A^T) = sum of squares
    # The wheel is the aarch64 build, not a host one.
    assert list((venv / "lib" / "python3.11" / "site-packages").glob("_mnncengine*aarch64*.so"))


def test_arm64root_usage_error():
    r = _run(["bash", str(ARM64), "bogus"], timeout=30)
    assert r.returncode == 2 and "usage" in r.stderr


def _setup_package_list(name: str) -> list[str]:
    text = SETUP.read_text()
    start = text.index(f"{name}=(") + len(name) + 2
    return text[start:text.index(")", start)].split()


def test_every_debian_package_setup_lists_is_installed():
    # Asked of dpkg directly: a setup that silently skipped its apt step (as one did,
    # when dpkg-query's exit status ended its check early) must not go unnoticed.
    require(shutil.which("dpkg-query") is not None, "a Debian system (dpkg-query)")
    wanted = _setup_package_list("ESSENTIAL") + _setup_package_list("TOOLCHAINS")
    assert len(wanted) >= 10, wanted
    r = _run(["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Package}\n", *wanted], timeout=60)
    installed = {line.split()[1] for line in r.stdout.splitlines() if line.startswith("ii")}
    missing = sorted(set(wanted) - installed)
    require(not missing, f"Debian packages {missing} (scripts/setup.sh installs them as root)")


@pytest.mark.parametrize("command", ["scripts/test.sh", ".ci/run"])
def test_readme_and_ci_test_commands_fail_when_a_toolchain_is_missing(command, tmp_path):
    # issue 14.13: without CI=true `require` skips, so the README's own test command
    # turned a missing install step into a quiet skip
    probe = tmp_path / "test_probe.py"
    probe.write_text("from sbnn_testing import require\n\n\n"
                     "def test_probe():\n    require(False, 'a probe toolchain')\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    args = [str(probe), "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT)]
    r = _run(["bash", command, *args], timeout=300, env=env)
    assert r.returncode != 0 and "required for CI but missing: a probe toolchain" in r.stdout, r.stdout[-2000:]
