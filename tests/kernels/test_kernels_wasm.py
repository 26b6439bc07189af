"""WASM SIMD128 family: build the wasm32-wasi reactor module with
cmake/toolchains/wasm32-wasi.cmake (clang-14 -msimd128 -fno-exceptions) and run
the SAME shared testers against it through wasmtime (tests/kernels/wasm_kernels.py)."""
import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

from sbnn_testing import require, require_tool

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED_TESTS = ["test_kernels_conv.py", "test_kernels_errors.py", "test_kernels_properties.py"]


def build_wasm():
    from sparsebytenn.bench.kernel_peers import build_wasm as build   # the one wasm build recipe

    wasm = build()
    assert wasm.exists()
    return wasm


@pytest.mark.wasm
def test_wasmsimd_family_under_wasmtime():
    require_tool("clang++-14")
    require_tool("wasm-ld-14")  # lld-14; clang-14 --target=wasm32-wasi links with it
    require(importlib.util.find_spec("wasmtime") is not None, "PyPI wasmtime (pip install -e .[test])")
    wasm = build_wasm()
    env = dict(os.environ, SBNN_KERNEL_BACKEND=f"wasm:{wasm}")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rs"] + \
          [str(pathlib.Path(__file__).parent / t) for t in SHARED_TESTS]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    tail = (r.stdout + r.stderr)[-3000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], tail
    from wasm_kernels import WasmKernels
    k = WasmKernels(wasm)
    assert k.default_isa() == "wasmsimd"
    assert {v["isa"] for v in k.variants()} == {"wasmsimd", "ref"}
