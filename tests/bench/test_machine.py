"""The benchmark records the ISA the kernels really dispatch to."""
from __future__ import annotations

import subprocess
import sys

import pytest


def _cpu_flags() -> set[str]:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.parametrize("override", [None, "avx2", "ref"])
def test_kernels_isa_follows_cpuid_and_the_override(override):
    flags = _cpu_flags()
    best = "avx512" if {"avx512f", "avx512bw", "avx512vl"} <= flags else "avx2" if {"avx2", "fma"} <= flags else "ref"
    if override == "avx2" and best == "ref":
        pytest.skip("this CPU has no AVX2: the avx2 override cannot apply")
    env = None
    if override:
        import os
        env = dict(os.environ, SPARSEBYTENN_ISA=override)
    out = subprocess.run([sys.executable, "-c", "from sparsebytenn.bench.machine import describe; "
                          "print(describe()['kernels_isa'])"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == (override or best)
