"""NEON speed cannot be measured here, so its inner loops are checked
statically: cross-compiled and disassembled (sparsebytenn.bench.kernel_asm), the
microkernels the NEON G=8 / G=4 variants run must keep their accumulators in
registers (no stack traffic in the loop) and spend few instructions per FMA.
Deterministic (compiler output), so the bounds are hard."""
import pytest

from sbnn_testing import require
from sparsebytenn.bench import kernel_asm


@pytest.mark.qemu
def test_neon_inner_loops_are_lean():
    why = kernel_asm.available()
    require(why is None, f"aarch64 cross toolchain: {why}")
    loops = {(r["rows"], r["vectors"]): r for r in kernel_asm.neon_inner_loops()}
    # Every microkernel compiled has a loop with its R x NV FMAs.
    assert loops, "no gspmm_rows<VecNeon, R, NV> found in the disassembly"
    for (rows, nv), r in loops.items():
        assert r["fmas"] == rows * nv, r
        assert r["stack_accesses"] == 0, f"accumulators spilled: {r}"
    # f32_gspmm_8x12__neon (G=8, 8 rows x 3 vectors): 24 fmla + 3 tile loads +
    # 2 weight loads + loop control.
    assert loops[(8, 3)]["instructions_per_fma"] <= 1.5, loops[(8, 3)]
    assert loops[(4, 4)]["instructions_per_fma"] <= 1.75, loops[(4, 4)]
