"""The fp16 NEON family (ARMv8.2-A FP16) under qemu-aarch64: the aarch64 `_kernels`
module (built as for the NEON family) runs tests/kernels/neonfp16_checks.py with
QEMU_CPU=neoverse-n1 (ARMv8.2 + FP16, the core llvm-mca models); with
QEMU_CPU=cortex-a72 (ARMv8.0, no FP16) the family must report itself unavailable."""
import os
import pathlib
import subprocess

import pytest

from test_kernels_neon_qemu import ROOT, aarch64_module


def _run(qemu, root, venv, args, cpu, module_dir):
    env = dict(os.environ, SBNN_KERNEL_BACKEND=f"module:{module_dir}", QEMU_CPU=cpu)
    env.pop("PYTHONPATH", None)
    env.pop("SPARSEBYTENN_ISA", None)
    return subprocess.run([qemu, "-L", str(root), str(venv / "bin" / "python"), *args], env=env,
                          capture_output=True, text=True, cwd=ROOT, timeout=900)


@pytest.mark.qemu
@pytest.mark.slow
def test_f16_family_under_qemu():
    qemu, root, venv, module_dir = aarch64_module()
    checks = pathlib.Path(__file__).parent / "neonfp16_checks.py"
    r = _run(qemu, root, venv, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rs",
                                str(checks)], "neoverse-n1", module_dir)
    tail = (r.stdout + r.stderr)[-3000:]
    assert r.returncode == 0, tail
    last = r.stdout.strip().splitlines()[-1]
    assert " passed" in last and "skipped" not in last and "deselected" not in last, tail
    probe = ["-c", "import sys; sys.path.insert(0, sys.argv[1]); import _kernels as K; "
             "print(K.isa_available('neonfp16'), K.default_isa())", str(module_dir)]
    r = _run(qemu, root, venv, probe, "cortex-a72", module_dir)
    assert r.stdout.split() == ["False", "neon"], r.stdout + r.stderr
