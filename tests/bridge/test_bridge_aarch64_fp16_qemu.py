"""precision=low sessions on ARMv8.2 (FP16): the bridge, cross-built for aarch64,
inside the aarch64 MNN==3.6.1 wheel under qemu-aarch64 -cpu neoverse-n1 (ARMv8.2-A
with FP16, where MNN answers precision=low with its fp16 backend). Tagged convs must
run on the fp16 kernels (no fallback) and match stock MNN's own fp16 run of the same
file, Interpreter and Module APIs, 1 and 2 threads, the zoo's 96 px MobileNet-V1 and
EfficientNet-Lite0 (Fashion-MNIST heads) at 30 / 50 / 90 % and a 6-conv test net at 60 %
(the full matrix, every zoo model: docs/results/arm_fp16_bridge.py).

Tolerance: both runs round to fp16 after every multiply-add, in different orders, over
layers of up to 1024-term sums, and feed their rounded outputs onward; stock fp16 itself
lands 2e-3 .. 1.2e-2 of max |output| away from stock fp32 on these models (measured in
the same run, reported with each case). 3e-2 of max |output| (~60 fp16 ulps at that
scale) bounds ours against stock fp16 and against fp32; a layout or rounding bug (a wrong
pack, fp16 read as fp32) gives O(1)."""
from __future__ import annotations

import pytest

from fp16_matrix import ALL_CASES, run_matrix, zoo_model

pytestmark = [pytest.mark.qemu, pytest.mark.slow]
F16_TOL = 3e-2


def test_fp16_sessions_match_stock_fp16_under_qemu(bridge, small_models, tmp_path):
    _, sparse, tagged, _ = small_models
    models = [(str(sparse), [1, 16, 15, 15], ["input", "output"], ALL_CASES[:3])]
    expect = {str(sparse): len(tagged)}
    # The zoo's 96 px models at 30 / 50 / 90 %, every (API, threads) pair at least once
    # (stock fp16 MobileNet-V1 at 224 px takes 24 s a run under qemu: the full matrix,
    # every zoo model, is docs/results/arm_fp16_bridge.py).
    # The converter's default G per layer, and every layer at G=4 (half NC8HW8 blocks,
    # the fp16 kernel's own store path) once.
    i1, i2, m1, m2 = ALL_CASES
    for name, sp, cases, g in (("mobilenet-v1-fmnist", 0.3, [i2, m1], None), ("mobilenet-v1-fmnist", 0.5, [m2], None),
                               ("mobilenet-v1-fmnist", 0.9, [i1], None), ("mobilenet-v1-fmnist", 0.5, [i1], 4),
                               ("efficientnet-lite0-fmnist", 0.3, [m1], None),
                               ("efficientnet-lite0-fmnist", 0.5, [i2, m2], None),
                               ("efficientnet-lite0-fmnist", 0.9, [i1], None)):
        row, n = zoo_model(name, sp, tmp_path, cases, group=g)
        models.append(row)
        expect[row[0]] = n
    res = run_matrix(models, tmp_path / "home")
    assert res["backend"] == bridge.BRIDGE_TYPE, res
    # The probe found that precision=low computes in fp16 here and that ours match it.
    assert res["probe"]["fp16"] and res["low_precision"], res["probe"]
    assert len(res["runs"]) == sum(len(m[3]) for m in models), res["runs"]
    for run in res["runs"]:
        assert run["err"] <= F16_TOL and run["ours_vs_fp32"] <= F16_TOL, run
        # Every tagged conv ran on the fp16 kernels: no fallback.
        assert run["convs"] == expect[run["model"]], run
