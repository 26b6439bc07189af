"""The AVX2 microkernels keep their accumulators in registers: the 4 x 3 tile
takes all 16 ymm (12 accumulators, 3 tile vectors, 1 broadcast), so any other
value live across the entry loop (the clamp bounds were) makes GCC spill an
accumulator every entry, ~35 % slower. Checked statically on the disassembly
(sparsebytenn.bench.kernel_asm), since timing it would be flaky here."""
from sbnn_testing import require
from sparsebytenn.bench import kernel_asm


def test_avx2_inner_loops_do_not_spill():
    why = kernel_asm.available(kernel_asm.AVX2)
    require(why is None, f"x86 toolchain: {why}")
    loops = {(r["rows"], r["vectors"]): r for r in kernel_asm.avx2_inner_loops()}
    assert (4, 3) in loops, f"no gspmm_rows<VecAvx2, 4, 3> in the disassembly: {sorted(loops)}"
    for (rows, nv), r in loops.items():
        assert r["fmas"] == rows * nv, r
        assert r["stack_accesses"] == 0, f"accumulators spilled: {r}"
    # 12 FMAs + 3 tile loads + 4 broadcasts + index load and loop control.
    assert loops[(4, 3)]["instructions_per_fma"] <= 2.2, loops[(4, 3)]
