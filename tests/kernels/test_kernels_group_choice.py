"""sbnn_gsparse_fastest_group: the group size the bridge packs a pruned layer with, against
the same cost model recomputed with numpy (stored weights per G' x the ISA's cost per stored
weight + output channels x its cost per channel), whose costs are the converter's fits of the
shipped speed tables."""
import numpy as np
import pytest

import kernel_backend

pytestmark = pytest.mark.skipif(kernel_backend.BACKEND != "native", reason="the choice is x86's (native build)")

GROUPS = (1, 2, 4, 8, 16)


def stored(w: np.ndarray, g: int) -> int:
    """Weights a pack in groups of g stores: kept (group, input channel, tap) entries x g."""
    O, I, kh, kw = w.shape
    pad = (-O) % g
    nz = np.concatenate([w != 0, np.zeros((pad, I, kh, kw), bool)]).reshape(-1, g, I, kh * kw).any(axis=1)
    return int(nz.sum()) * g


def pruned(rng, shape, G, s):
    """Random weights with units of G output channels x 1 input channel (all taps) zeroed at rate s."""
    O, I, kh, kw = shape
    w = rng.standard_normal(shape).astype(np.float32)
    units = rng.random((-(-O // G), I)) < s
    w[np.repeat(units, G, axis=0)[:O]] = 0
    return w


@pytest.mark.parametrize("isa", ["avx512", "avx2"])
def test_choice_is_the_least_modelled_cost(isa):
    import sparsebytenn._kernels as K
    if not K.isa_available(isa):
        pytest.skip(f"this CPU/build cannot run {isa}")
    cost = {g: K.group_cost(isa, g) for g in GROUPS}
    assert all(a > 0 and b >= 0 for a, b in cost.values()) and cost[8][0] == 1.0
    rng = np.random.default_rng(0)
    seen = set()
    for shape in ((64, 48, 1, 1), (70, 33, 1, 1), (40, 24, 3, 3), (256, 128, 1, 1)):
        for G in GROUPS:
            for s in (0.0, 0.3, 0.6, 0.75, 0.9, 0.97):
                w = pruned(rng, shape, G, s)
                want = min((g for g in GROUPS if g >= G),
                           key=lambda g: (stored(w, g) * cost[g][0] + shape[0] * cost[g][1], g))
                got = K.fastest_group(w, G, isa)
                assert got == want, (shape, G, s, got, want)
                seen.add((G, got))
    # it does change the packing: small groups at low sparsity go to wider ones, not at high
    assert any(got > G for G, got in seen) and any(got == G for G, got in seen if G < 8)


@pytest.mark.parametrize("isa,vendor", [("avx512", "intel"), ("avx512", "amd"), ("avx2", "intel")])
def test_compiled_costs_are_the_converters_fits_of_the_shipped_tables(isa, vendor):
    # the bridge packs as the converter's time model prices: the same two terms, the same table
    import sparsebytenn._kernels as K
    from sparsebytenn_converter.speed_model import TABLES, SpeedTable

    fit = SpeedTable.load(TABLES / f"x86-{isa}-{vendor}.json").costs
    assert sorted(fit) == list(GROUPS)
    for g in GROUPS:
        assert K.group_cost(isa, g, vendor) == pytest.approx(fit[g], rel=2e-3, abs=0.05), g


def test_costs_follow_this_cpus_vendor_as_the_converters_table_does():
    import sparsebytenn._kernels as K
    from sparsebytenn_converter.speed_model import default_table, host_isa

    _, cpu = host_isa()
    vendor = "amd" if "amd" in cpu.lower() else "intel"
    for isa in ("avx512", "avx2"):
        fit = default_table(isa, cpu).costs     # the table the converter prices with here
        for g in GROUPS:
            assert K.group_cost(isa, g) == K.group_cost(isa, g, vendor), (isa, g)
            assert K.group_cost(isa, g) == pytest.approx(fit[g], rel=2e-3, abs=0.05), (isa, g)
    # no AVX2 table measured on AMD: Intel's, in both
    assert K.group_cost("avx2", 1, "amd") == K.group_cost("avx2", 1, "intel")


def test_a_112px_layer_pruned_as_g2_at_90_percent_runs_as_g8_on_intel():
    # MobileNet-V1's 32->64 layer from --group auto at 90 %: 0.806 ms packed as G=2 against
    # 0.319 as G=8 (Intel Xeon, AVX-512, kernels alone; docs/results/experiments/repack_at_90.py)
    import sparsebytenn._kernels as K
    from sparsebytenn_converter.speed_model import host_isa

    w = pruned(np.random.default_rng(3), (64, 32, 1, 1), 2, 0.9)
    cost = {g: K.group_cost("avx512", g, "intel") for g in GROUPS}
    assert min((g for g in GROUPS if g >= 2), key=lambda g: stored(w, g) * cost[g][0] + 64 * cost[g][1]) == 8
    if "amd" not in host_isa()[1].lower() and K.isa_available("avx512"):    # the plugin's own pick here
        assert K.fastest_group(w, 2, "avx512") == 8


def test_a_sparse_g1_layer_keeps_g1_and_a_dense_one_runs_as_a_wide_group():
    import sparsebytenn._kernels as K
    isa = K.default_isa()
    if isa not in ("avx512", "avx2"):
        pytest.skip("group costs are x86's")
    rng = np.random.default_rng(1)
    assert K.fastest_group(pruned(rng, (512, 512, 1, 1), 1, 0.3), 1) >= 4     # 2.2x faster as G=8 (AVX-512)
    assert K.fastest_group(pruned(rng, (512, 512, 1, 1), 1, 0.95), 1) == 1


def test_isas_without_costs_keep_the_group():
    import sparsebytenn._kernels as K
    rng = np.random.default_rng(2)
    w = pruned(rng, (64, 32, 1, 1), 1, 0.3)
    assert K.group_cost("ref", 1) == (0.0, 0.0) == K.group_cost("ref", 1, "amd")
    assert K.fastest_group(w, 1, "ref") == 1
    with pytest.raises(Exception, match="group"):
        K.fastest_group(w, 3, "avx2")
