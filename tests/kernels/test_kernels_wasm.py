"""WASM SIMD128 family: build the two wasm32-wasi reactor modules with
cmake/toolchains/wasm32-wasi.cmake (clang-19 -msimd128 [-mrelaxed-simd]
-fno-exceptions) and run the SAME shared testers against each through wasmtime
(tests/kernels/wasm_kernels.py):
  sbnn_kernels_wasm.wasm          variants wasmsimd (mul + add) and ref
  sbnn_kernels_wasm_relaxed.wasm  + wasmrelaxedsimd (f32x4.relaxed_madd)
relaxed_madd may fuse or not (the engine decides; wasmtime on x86 with FMA
fuses); the testers' tolerance against the float64 numpy reference covers both,
and the SIMD128 variant, which never fuses, is held to the same tolerance."""
import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

from sbnn_testing import require, require_tool

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED_TESTS = ["test_kernels_conv.py", "test_kernels_errors.py", "test_kernels_properties.py"]
MODULES = {  # relaxed? -> (default ISA, ISAs in the variant table)
    False: ("wasmsimd", {"wasmsimd", "ref"}),
    True: ("wasmrelaxedsimd", {"wasmrelaxedsimd", "wasmsimd", "ref"}),
}


def build_wasm(relaxed=False):
    require_tool("clang++-19")
    require_tool("wasm-ld-19")  # lld-19; clang-19 --target=wasm32-wasi links with it
    require(importlib.util.find_spec("wasmtime") is not None, "PyPI wasmtime (pip install -e .[test])")
    from sparsebytenn.bench.kernel_peers import build_wasm as build   # the one wasm build recipe

    wasm = build(relaxed)
    assert wasm.exists()
    return wasm


@pytest.mark.wasm
@pytest.mark.parametrize("relaxed", [False, True], ids=["simd128", "relaxed"])
def test_wasm_family_under_wasmtime(relaxed):
    wasm = build_wasm(relaxed)
    env = dict(os.environ, SBNN_KERNEL_BACKEND=f"wasm:{wasm}")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rs"] + \
          [str(pathlib.Path(__file__).parent / t) for t in SHARED_TESTS]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    tail = (r.stdout + r.stderr)[-3000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], tail
    from wasm_kernels import WasmKernels
    k = WasmKernels(wasm)
    default, isas = MODULES[relaxed]
    assert k.default_isa() == default
    assert {v["isa"] for v in k.variants()} == isas


@pytest.mark.wasm
def test_only_the_relaxed_module_needs_relaxed_simd():
    """The SIMD128 module must load on an engine without relaxed SIMD (node 20's
    default, older browsers); the relaxed one must really contain relaxed
    opcodes (so its variant is not SIMD128 under another name)."""
    import wasmtime

    cfg = wasmtime.Config()
    cfg.wasm_relaxed_simd = False
    engine = wasmtime.Engine(cfg)
    wasmtime.Module.from_file(engine, str(build_wasm(False)))
    with pytest.raises(wasmtime.WasmtimeError, match="relaxed SIMD support is not enabled"):
        wasmtime.Module.from_file(engine, str(build_wasm(True)))
