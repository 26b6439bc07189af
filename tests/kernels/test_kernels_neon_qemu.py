"""NEON family: cross-build the aarch64 `_kernels` module with
cmake/toolchains/aarch64-linux-gnu.cmake and run the SAME shared testers
(test_kernels_conv/errors/properties, quick case set) under qemu-aarch64 with
the arm64 Python from scripts/arm64root.sh."""
import os
import pathlib
import subprocess

import pytest

from sbnn_testing import require, require_tool

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "kernels-aarch64"
SHARED_TESTS = ["test_kernels_conv.py", "test_kernels_errors.py", "test_kernels_properties.py"]


def arm64root():
    script = ROOT / "scripts" / "arm64root.sh"
    r = subprocess.run([str(script), "ensure"], capture_output=True, text=True)
    require(r.returncode == 0, f"arm64 userland (scripts/arm64root.sh ensure failed: {r.stderr.strip()[-300:]})")
    v = subprocess.run([str(script), "venv"], capture_output=True, text=True, check=True).stdout.strip()
    return pathlib.Path(r.stdout.strip().splitlines()[-1]), pathlib.Path(v)


def build_module(root):
    import pybind11
    import sys
    module_dir = BUILD / "python" / "bindings"
    if not (BUILD / "CMakeCache.txt").exists():
        subprocess.run([
            "cmake", "-S", str(ROOT), "-B", str(BUILD), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'cmake/toolchains/aarch64-linux-gnu.cmake'}",
            "-DSBNN_BUILD_PYTHON=ON", "-DSBNN_BUILD_MNN_BRIDGE=OFF",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}", f"-DPython_EXECUTABLE={sys.executable}",
            f"-DPython_INCLUDE_DIR={root}/usr/include/python3.11",
            "-DPython_SOABI=cpython-311-aarch64-linux-gnu",
            "-DPYTHON_MODULE_EXTENSION=.cpython-311-aarch64-linux-gnu.so",
            f"-DCMAKE_CXX_FLAGS=-idirafter {root}/usr/include",
        ], check=True, capture_output=True, text=True)
    subprocess.run(["cmake", "--build", str(BUILD), "--target", "_kernels", "-j2"], check=True,
                   capture_output=True, text=True)
    assert list(module_dir.glob("_kernels.cpython-311-aarch64-linux-gnu.so")), "aarch64 module not built"
    return module_dir


def aarch64_module():
    """(qemu, arm64 root, arm64 venv, folder of the aarch64 `_kernels` module)."""
    require_tool("aarch64-linux-gnu-g++")
    qemu = require_tool("qemu-aarch64")
    require_tool("cmake")
    require_tool("ninja")
    root, venv = arm64root()
    return qemu, root, venv, build_module(root)


@pytest.mark.qemu
@pytest.mark.slow
def test_neon_family_under_qemu():
    qemu, root, venv, module_dir = aarch64_module()
    env = dict(os.environ, SBNN_KERNEL_BACKEND=f"module:{module_dir}", SBNN_KERNEL_QUICK="1")
    env.pop("PYTHONPATH", None)
    cmd = [qemu, "-L", str(root), str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-o", "addopts=", "-rs"] + [str(pathlib.Path(__file__).parent / t) for t in SHARED_TESTS]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    tail = (r.stdout + r.stderr)[-3000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], tail
    # The NEON family itself must have been exercised, not only the scalar one.
    check = subprocess.run(
        [qemu, "-L", str(root), str(venv / "bin" / "python"), "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); import _kernels as K; print(K.default_isa())", str(module_dir)],
        capture_output=True, text=True, env=env)
    assert check.stdout.strip() == "neon", check.stdout + check.stderr
