"""The modelled arm64 rows (sparsebytenn.bench.arm_model: llvm-mca 19, -mcpu=neoverse-n1).

References independent of the code under test: the Neoverse N1 issues FP/ASIMD
multiply-adds on two pipes (Arm's N1 software optimisation guide: FMLA
throughput 2 per cycle), so a loop of n fmla can never be modelled below n / 2
cycles, and a loop that does nothing but feed them should reach it; MNN 3.6.1's
loops are known from its aarch64 wheel (nm + objdump by hand: Epx4's hot loop is
2 ldp + ldr q + ldrsw + add + subs + 16 fmla .4s + b.ne). A stand-in .so with the
same symbols but another loop must make the model refuse, naming the file."""
import json
import subprocess
import sys

import pytest

from sbnn_testing import require, require_tool
from sparsebytenn.bench import arm_model

LOOP_FAKE = """
    .text
    .type MNNPackedSparseMatMulEpx4, %function
MNNPackedSparseMatMulEpx4:
loop_e16h4:
    movi v16.4s, #0
loop_e16h4l1:
    ldp q0, q1, [x1]
    subs w20, w20, #1
{fmla}
    b.ne loop_e16h4l1
loop_e16h4l1_end:
    stp q16, q17, [x19]
    subs x5, x5, #1
    b.ne loop_e16h4
    ret
MNNPackedMatMul:
    ret
MNNPackedMatMulFP16:
    ret
MNNPackedSparseMatMulEpx1:
    ret
"""


def _need_tools():
    why = arm_model.available()
    require(why is None, f"modelled arm64 rows: {why}")


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """The model computed afresh (not from its cache), then one `sparsebytenn bench
    kernels --modelled-only --json` run, which reads it back: (stdout, records)."""
    _need_tools()
    fresh = arm_model.records(use_cache=False)
    out = tmp_path_factory.mktemp("model") / "k.json"
    r = subprocess.run([sys.executable, "-m", "sparsebytenn", "bench", "kernels", "--modelled-only", "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    recs = [x for x in json.loads(out.read_text()) if x.get("engine") == "llvm-mca"]
    assert [{k: v for k, v in x.items() if k != "isa"} for x in recs] == fresh
    return r.stdout, recs


@pytest.fixture(scope="module")
def recs(cli):
    return cli[1]


@pytest.mark.qemu
def test_loops_are_found_and_bounded_by_two_fma_pipes(recs):
    loops = {r["kernel"]: r for r in recs if r["kind"] == "loop"}
    assert set(loops) == {"f32_gspmm_4x16__neon", "f32_gspmm_8x12__neon", "f16_gspmm_4x40__neonfp16",
                          "f16_gspmm_8x24__neonfp16", "mnn_sparse_epx4", "mnn_dense_f32", "mnn_dense_f16"}
    # What the wheel's loops hold (by hand from objdump): fmla count x lanes.
    assert (loops["mnn_sparse_epx4"]["fmla"], loops["mnn_sparse_epx4"]["lane_ops"]) == (16, 64)
    assert (loops["mnn_dense_f32"]["fmla"], loops["mnn_dense_f32"]["lane_ops"]) == (48, 192)
    assert (loops["mnn_dense_f16"]["fmla"], loops["mnn_dense_f16"]["lane_ops"]) == (48, 384)
    for name, r in loops.items():
        assert r["loop_cycles"] >= r["fmla"] / 2 - 1e-9, r          # two FMA pipes
        assert r["label"] == "arm64 (modelled, llvm-mca neoverse-n1)" and r["mcpu"] == "neoverse-n1"
        assert r["llvm_mca"].startswith("19."), r
    assert (loops["f16_gspmm_8x24__neonfp16"]["fmla"], loops["f16_gspmm_8x24__neonfp16"]["lane_ops"]) == (24, 192)
    assert (loops["f16_gspmm_4x40__neonfp16"]["fmla"], loops["f16_gspmm_4x40__neonfp16"]["lane_ops"]) == (20, 160)
    # Our loops are FMA-bound (loads and loop control hide behind the fmla; G=4 fp16
    # takes its 4 weights in half a register, FMA by lane, no broadcasts).
    for name in ("f32_gspmm_4x16__neon", "f32_gspmm_8x12__neon", "f16_gspmm_8x24__neonfp16",
                 "f16_gspmm_4x40__neonfp16"):
        assert loops[name]["loop_cycles"] == pytest.approx(loops[name]["fmla"] / 2, abs=0.02), loops[name]
    # Issue 16's goal: our fp32 G=4 loop costs no more per FMA lane-op than MNN's Epx4.
    assert loops["f32_gspmm_4x16__neon"]["cycles_per_lane_op"] <= loops["mnn_sparse_epx4"]["cycles_per_lane_op"] + 1e-9
    # ... and the fp16 loop at most 0.55x the fp32 one per output value.
    assert loops["f16_gspmm_8x24__neonfp16"]["cycles_per_lane_op"] <= \
        0.55 * loops["f32_gspmm_8x12__neon"]["cycles_per_lane_op"]


@pytest.mark.qemu
def test_layer_cycles_follow_the_kept_work(recs):
    loops = {r["kernel"]: r for r in recs if r["kind"] == "loop"}
    layer = {(r["layer"], r["sparsity"]): r["cycles"] for r in recs if r["kind"] == "layer"}
    c30, c90 = layer[("14x14_512-512", 0.3)], layer[("14x14_512-512", 0.9)]
    # Dense GEMM does not depend on sparsity; fp16 dense models at half fp32's cycles
    # (8 lanes per fmla instead of 4, same loop) up to its per-tile code.
    assert c30["mnn_dense_f32"] == c90["mnn_dense_f32"]
    assert 0.45 < c30["mnn_dense_f16"] / c30["mnn_dense_f32"] < 0.55
    # Lower bound from the MACs alone: kept MACs / (2 pipes x 4 lanes) cycles.
    macs = 196 * 512 * 512
    for sp, c in ((0.3, c30), (0.9, c90)):
        for k in ("f32_gspmm_4x16__neon", "f32_gspmm_8x12__neon", "mnn_sparse_epx4"):
            assert c[k] >= (1 - sp) * macs / 8, (sp, k, c[k])
            assert c[k] < (1 - sp) * macs / 8 * 1.6, (sp, k, c[k])   # overheads are not the bulk
        assert c["mnn_dense_f32"] >= macs / 8
        # fp16: 8 lanes per fmla, so half the bound
        assert (1 - sp) * macs / 16 <= c["f16_gspmm_8x24__neonfp16"] < (1 - sp) * macs / 16 * 1.6
        assert (1 - sp) * macs / 16 <= c["f16_gspmm_4x40__neonfp16"] < (1 - sp) * macs / 16 * 1.6, (sp, c)


def _fake_so(tmp_path, fmla_lines):
    gcc = require_tool("aarch64-linux-gnu-gcc")
    s = tmp_path / "fake.S"
    s.write_text(LOOP_FAKE.format(fmla="\n".join(fmla_lines)))
    so = tmp_path / "_mnncengine.cpython-311-aarch64-linux-gnu.so"
    subprocess.run([gcc, "-shared", "-nostdlib", str(s), "-o", str(so)], check=True)
    return so


@pytest.mark.qemu
def test_a_changed_wheel_fails_naming_the_file(tmp_path):
    _need_tools()
    # Epx4's loop with 8 fmla instead of 16: refused.
    so = _fake_so(tmp_path, [f"    fmla v{16 + i}.4s, v4.4s, v0.s[{i % 4}]" for i in range(8)])
    with pytest.raises(arm_model.ModelError, match=r"_mnncengine.*MNNPackedSparseMatMulEpx4.*16 x fmla"):
        arm_model.mnn_kernels(so)
    # The right Epx4 loop but dense GEMMs without loops: refused too, naming the symbol.
    so = _fake_so(tmp_path, [f"    fmla v{16 + i}.4s, v4.4s, v0.s[{i % 4}]" for i in range(16)])
    with pytest.raises(arm_model.ModelError, match=r"_mnncengine.*MNNPackedMatMul\b"):
        arm_model.mnn_kernels(so)


@pytest.mark.qemu
def test_bench_kernels_prints_the_modelled_rows(cli):
    stdout, recs = cli
    assert "arm64 (modelled, llvm-mca neoverse-n1)" in stdout
    assert "measured" not in stdout.replace("modelled, not measured", "")
    assert {x["kind"] for x in recs} == {"loop", "layer"}
    layer = [x for x in recs if x.get("kind") == "layer"]
    assert len(layer) == 13 * 4
    # Issue 16's goal: MobileNet-V1's pointwise convs at 30 % modelled >= 1.3x faster with
    # the fp16 sparse kernel than with MNN's fp16 dense GEMM.
    at30 = [x["cycles"] for x in layer if x["sparsity"] == 0.3]
    for kernel in ("f16_gspmm_8x24__neonfp16", "f16_gspmm_4x40__neonfp16"):
        speedup = sum(c["mnn_dense_f16"] for c in at30) / sum(c[kernel] for c in at30)
        assert speedup >= 1.3, (kernel, speedup)
