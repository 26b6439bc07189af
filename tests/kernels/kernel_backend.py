"""Which build of the kernels the shared tester exercises.

SBNN_KERNEL_BACKEND selects it:
  native (default)  sparsebytenn._kernels from the installed package
  module:DIR        a `_kernels` extension built elsewhere (the aarch64 build run under qemu)
  wasm:FILE.wasm    the wasm32 reactor module via wasmtime (tests/kernels/wasm_kernels.py)
SBNN_KERNEL_QUICK=1 keeps the case count small (qemu is ~150x slower).
"""
import importlib
import os
import sys

BACKEND = os.environ.get("SBNN_KERNEL_BACKEND", "native")
QUICK = os.environ.get("SBNN_KERNEL_QUICK", "") == "1"


def load():
    if BACKEND == "native":
        return importlib.import_module("sparsebytenn._kernels")
    kind, _, where = BACKEND.partition(":")
    if kind == "module":
        sys.path.insert(0, where)
        return importlib.import_module("_kernels")
    if kind == "wasm":
        from wasm_kernels import WasmKernels
        return WasmKernels(where)
    raise RuntimeError(f"SBNN_KERNEL_BACKEND={BACKEND!r}: expected native, module:DIR or wasm:FILE")
