"""--group auto / --target-speedup and the data-free default, against independent references:
numpy's FFT for the noise spectrum, brute-force Optimal-Brain-Surgeon costs for the error
curves, exhaustive search for the allocator, hand arithmetic for the time model, and stock
MNN for what the converted models compute."""
from __future__ import annotations

import json
import itertools

import numpy as np
import pytest

from sbnn_testing import require
from helpers import mnn_run

from sparsebytenn_converter import convert
from sparsebytenn_converter.allocate import allocate_by_damage, counts_of
from sparsebytenn_converter.errors import ModelError
from sparsebytenn_converter.noise import pink_noise
from sparsebytenn_converter.sensitivity import LayerCurves, error_curve
from sparsebytenn_converter.speed_model import SpeedTable, TimeModel


# ---------------------------------------------------------------- 1/f noise

def test_pink_noise_has_a_one_over_f_spectrum_and_stays_in_range():
    x = pink_noise(6, (3, 128, 128), seed=2, low=-2.0, high=3.0)
    assert x.shape == (6, 3, 128, 128) and x.dtype == np.float32
    assert x.min() >= -2.0 and x.max() <= 3.0 and x.std() > 0.1
    np.testing.assert_array_equal(x, pink_noise(6, (3, 128, 128), seed=2, low=-2.0, high=3.0))
    # radially averaged amplitude spectrum of the luminance: slope between -1.6 and -0.8 in log-log
    lum = x.mean(axis=1) - x.mean(axis=(1, 2, 3))[:, None, None]
    amp = np.abs(np.fft.fft2(lum)).mean(axis=0)
    f = np.sqrt(np.add.outer(np.fft.fftfreq(128) ** 2, np.fft.fftfreq(128) ** 2))
    band = (f > 0.02) & (f < 0.3)          # away from DC and from the clipping-flattened top
    slope = np.polyfit(np.log(f[band]), np.log(amp[band]), 1)[0]
    assert -1.6 < slope < -0.8, slope
    # colour channels are correlated like a photo's, not independent like white noise
    c = np.corrcoef(x[:, 0].ravel(), x[:, 2].ravel())[0, 1]
    assert c > 0.5


# ---------------------------------------------------------------- error curves

def test_error_curve_starts_with_the_exact_single_unit_costs():
    rng = np.random.default_rng(0)
    O, I, G = 8, 6, 4
    w = rng.standard_normal((O, I, 1, 1))
    x = rng.standard_normal((I, 300)) * rng.uniform(0.2, 3, (I, 1))
    damp = 0.1
    removed, err = error_curve(w, None, x, G, damp)
    # brute force: remove one unit (G rows x 1 input), re-fit the rest of those rows exactly
    h = x @ x.T
    lam = damp * np.mean(np.diag(h))
    a = h + lam * np.eye(I)
    t = w[:, :, 0, 0] @ x
    energy = np.sum((t - t.mean(axis=1, keepdims=True)) ** 2)

    def cost(g, i):
        total = 0.0
        keep = [j for j in range(I) if j != i]
        for o in range(g * G, (g + 1) * G):
            rhs = x @ t[o] + lam * w[o, :, 0, 0]
            sol = np.linalg.solve(a[np.ix_(keep, keep)], rhs[keep])
            full = np.zeros(I)
            full[keep] = sol
            total += np.sum((t[o] - full @ x) ** 2) + lam * np.sum((full - w[o, :, 0, 0]) ** 2)
        return total / energy       # the unpruned optimum (the dense weights) costs 0

    costs = sorted(cost(g, i) for g in range(O // G) for i in range(I))
    assert removed[1] == pytest.approx(G / (O * I))
    assert err[1] == pytest.approx(costs[0], rel=1e-6)
    assert np.all(np.diff(err) >= 0)                  # cheapest first: the curve only rises
    # smaller groups can only do better: every G=4 unit is two G=2 units
    assert np.interp(0.5, *error_curve(w, None, x, 2, damp)) <= np.interp(0.5, removed, err) + 1e-12


# ---------------------------------------------------------------- time model

def _table(costs=None):
    """G=8 and G=2 rows; the packing rule's costs pinned (default: per stored weight 1.5x at G=2,
    no per-channel term) so that which group a layer packs as is hand arithmetic."""
    rows = [{"engine": "sparsebytenn", "hw": hw, "cin": c, "cout": c, "G": G, "sparsity": s, "gflops": g}
            for hw, c, scale in ((56, 128, 1.0), (14, 512, 0.8))
            for G, base in ((8, 100.0), (2, 60.0))
            for s, g in ((0.0, base * scale), (0.5, base * scale * 0.9), (0.9, base * scale * 0.5))]
    stock = [{"engine": "mnn-conv-op", "hw": 56, "gflops": 80.0}, {"engine": "mnn-conv-op", "hw": 56, "gflops": 70.0},
             {"engine": "mnn-conv-op", "hw": 56, "gflops": 90.0}, {"engine": "mnn-conv-op", "hw": 14, "gflops": 50.0}]
    t = SpeedTable("test", "cpu", "avx512", rows, stock)
    t.costs = costs or {2: (1.5, 0.0), 8: (1.0, 0.0)}
    return t


def test_speed_table_interpolates_and_time_model_adds_up():
    t = _table()
    assert t.gflops(8, 56, 0.25) == pytest.approx(95.0)          # halfway between 100 and 90
    assert t.gflops(8, 7, 0.5) == pytest.approx(72.0)            # nearest size: 14
    assert t.gflops(4, 56, 0.0) in (100.0, 60.0)                 # nearest G in the table
    assert t.stock_gflops(56) == pytest.approx(80.0)             # median of the size's stock rows
    assert t.stock_gflops(7) == pytest.approx(50.0)              # nearest size: 14
    # a pruned layer's time is a ratio to stock MNN's: kept MACs at the plugin's rate over all MACs at stock's
    assert t.ratio(8, 56, 0.5) == pytest.approx(0.5 * 80.0 / 90.0)
    tm = TimeModel(t, {"a": 3.0, "b": 1.0, "rest": 6.0}, {"a": 10**6, "b": 2 * 10**6, "c": 4 * 10**6},
                   {"a": 56, "b": 14, "c": 14}, {"a": 128, "b": 512, "c": 512})
    choice = {"a": (8, 0.5), "b": (2, 0.0)}
    # b pruned by less than 5 % is not tagged (prune.py): it stays in stock MNN at its stock time
    expected = 6.0 + 3.0 * 0.5 * 80.0 / 90.0 + 1.0                  # rest + a + b, ms
    assert tm.total(choice) == pytest.approx(expected)
    assert tm.speedup(choice) == pytest.approx(10.0 / expected)
    # G=2 at 50 % packs as G=2 (0.5 x 1.5 < 1 - 0.5 ** 4: _table's packing costs)
    assert tm.layer_ms("b", 2, 0.5) == pytest.approx(1.0 * 0.5 * 50.0 / (60.0 * 0.8 * 0.9))
    # a layer the profile does not name is priced at the table's stock speed
    assert tm.layer_ms("c", 8, 0.0) == pytest.approx(2 * 4e6 / 50e9 * 1e3)


def test_time_model_prices_the_dense_ops_the_plugin_runs(tmp_path, monkeypatch):

    from sparsebytenn_converter.speed_model import plugin_takes

    # a table with dense rows: the plugin's depthwise convs at stock time / 2, its
    # direct convs (the first conv) at stock time / 4
    f = tmp_path / "t.json"
    t = _table()
    dense_rows = [{"engine": "depthwise", "mnn_over_plugin": 2.0}, {"engine": "direct_conv", "mnn_over_plugin": 4.0}]
    f.write_text(json.dumps({"rows": t.rows + t.stock_rows + dense_rows}))
    t2 = SpeedTable.load(f)
    assert t2.speedup_of("depthwise") == 2.0 and t2.speedup_of("direct_conv") == 4.0
    assert t.speedup_of("depthwise") == t.speedup_of("direct_conv") == 1.0
    stock = {"a": 3.0, "dw1": 1.5, "dw2": 0.5, "first": 0.8, "rest": 4.2}
    macs, hw, fan_in, choice = {"a": 10**6}, {"a": 56}, {"a": 128}, {"a": (8, 0.5)}
    a_ms = 3.0 * 0.5 * 80.0 / 90.0
    dense = {"depthwise": ("dw1", "dw2"), "direct_conv": ("first",)}
    tm = TimeModel(t2, stock, macs, hw, fan_in, "given", dense)
    assert tm.total(choice) == pytest.approx(4.2 + (1.5 + 0.5) / 2.0 + 0.8 / 4.0 + a_ms)
    assert tm.speedup(choice) == pytest.approx(10.0 / (5.4 + a_ms))
    # without dense ops, or with a table that did not measure them: stock time
    assert TimeModel(t2, stock, macs, hw, fan_in).total(choice) == pytest.approx(7.0 + a_ms)
    assert TimeModel(t, stock, macs, hw, fan_in, "given", dense).total(choice) == pytest.approx(7.0 + a_ms)
    # a pruned layer is priced as one, never also as a dense op
    assert TimeModel(t2, stock, macs, hw, fan_in, "given", {"direct_conv": ("a",)}).total(choice) == pytest.approx(7.0 + a_ms)
    for kind in ("depthwise", "direct_conv"):
        f.write_text(json.dumps({"rows": t.rows + t.stock_rows + [{"engine": kind, "mnn_over_plugin": 0.0}]}))
        with pytest.raises(ModelError, match=kind):
            SpeedTable.load(f)
    # the bridge's own switches (SPARSEBYTENN_DWCONV / _DCONV, auto: avx512 / avx2)
    for kind, var in (("depthwise", "SPARSEBYTENN_DWCONV"), ("direct_conv", "SPARSEBYTENN_DCONV")):
        for mode, isa, runs in (("auto", "avx512", True), ("auto", "avx2", True), ("auto", "neon", False),
                                ("off", "avx512", False), ("on", "ref", True)):
            monkeypatch.setenv(var, mode)
            assert plugin_takes(kind, isa) is runs, (kind, mode, isa)


def test_time_model_prices_a_layer_left_dense_as_the_plugins_dense_1x1_conv(monkeypatch):
    """A candidate 1x1 layer below MIN_TAG_SPARSITY is not tagged; where the bridge takes the
    dense 1x1 convs it runs in the plugin at the table's 0 % ratio (G = 8), never slower
    than stock (the bridge keeps MNN's where ours measures slower); tagged layers unchanged."""
    from sparsebytenn_converter.speed_model import plugin_takes

    t = _table()
    stock = {"a": 3.0, "b": 1.0, "rest": 6.0}
    macs, hw, fan_in = {"a": 10**6, "b": 2 * 10**6}, {"a": 56, "b": 14}, {"a": 128, "b": 512}
    choice = {"a": (8, 0.5), "b": (2, 0.0)}
    a_ms = 3.0 * 0.5 * 80.0 / 90.0
    plain = TimeModel(t, stock, macs, hw, fan_in)
    taken = TimeModel(t, stock, macs, hw, fan_in, "given", {"pointwise": ("a", "b")})
    assert plain.layer_ms("b", 2, 0.0) == pytest.approx(1.0)
    # b at 14 px: stock 50 GFLOP/s, the plugin's G = 8 at 0 %: 100 * 0.8 = 80 GFLOP/s
    assert taken.layer_ms("b", 2, 0.0) == pytest.approx(1.0 * 50.0 / 80.0)
    assert taken.layer_ms("b", 2, 0.049) == pytest.approx(1.0 * 50.0 / 80.0)
    assert taken.layer_ms("a", 8, 0.5) == pytest.approx(a_ms)          # tagged: its own ratio
    assert taken.total(choice) == pytest.approx(6.0 + a_ms + 50.0 / 80.0)
    # a table where stock MNN's dense conv is the faster: stock time, not more
    slow = SpeedTable("slow", "cpu", "avx2", [dict(r, gflops=r["gflops"] / 4) for r in t.rows], t.stock_rows)
    assert TimeModel(slow, stock, macs, hw, fan_in, "given", {"pointwise": ("b",)}).layer_ms("b", 2, 0.0) == 1.0
    for mode, isa, runs in (("auto", "avx512", True), ("auto", "avx2", True), ("auto", "wasmsimd", False),
                            ("off", "avx512", False), ("on", "ref", True)):
        monkeypatch.setenv("SPARSEBYTENN_PWCONV", mode)
        assert plugin_takes("pointwise", isa) is runs, (mode, isa)


def test_dense_ops_are_the_ones_the_bridge_takes():
    """MobileNet-V1: 13 depthwise convs; one conv with few input channels, the first (3 x 3
    x 3 -> 32), and not the 1x1 convs or the classifier, which are the 14 dense 1x1 convs."""
    from sparsebytenn import zoo
    from sparsebytenn_converter import read_model
    from sparsebytenn_converter.speed_model import dense_ops

    require(zoo.is_cached("mobilenet-v1") or not zoo.missing_requirements("mobilenet-v1"), "mobilenet-v1")
    model = read_model(zoo.get("mobilenet-v1", progress=False))
    stock = {c.name: 1.0 for c in model.convs}
    assert len(dense_ops(model, "depthwise", stock)) == 13
    (first,) = dense_ops(model, "direct_conv", stock)
    c = model.conv(first)
    assert c.in_channels == 3 and c.kernel == (3, 3) and c.stride == (2, 2)
    assert dense_ops(model, "direct_conv", {}) == ()          # not in the profile: not priced
    pointwise = dense_ops(model, "pointwise", stock)          # the 13 1x1 convs and the classifier
    assert len(pointwise) == 14 and first not in pointwise
    assert all(model.conv(n).kernel == (1, 1) and model.conv(n).in_channels >= 32 for n in pointwise)


def test_time_model_is_unmoved_when_the_machine_runs_uniformly_faster():
    # the stock profile is measured live; a machine 10 % faster today (turbo, a quieter
    # neighbour) must not change the modelled speed-up, or --group auto buys the
    # difference with sparsity (issue 13: 34 % instead of the asked 30 %)
    t = _table()
    stock = {"a": 3.0, "b": 1.0, "rest": 6.0}
    macs, hw, fan_in = {"a": 10**6, "b": 2 * 10**6}, {"a": 56, "b": 14}, {"a": 128, "b": 512}
    choice = {"a": (8, 0.5), "b": (2, 0.5)}
    slow = TimeModel(t, stock, macs, hw, fan_in).speedup(choice)
    fast = TimeModel(t, {k: v * 0.9 for k, v in stock.items()}, macs, hw, fan_in).speedup(choice)
    assert fast == pytest.approx(slow, rel=1e-9)


def test_speed_table_without_stock_rows_is_refused(tmp_path):
    f = tmp_path / "old.json"
    f.write_text(json.dumps({"rows": [{"engine": "sparsebytenn", "hw": 56, "G": 8, "sparsity": 0.0,
                                        "gflops": 100.0}]}))
    with pytest.raises(ModelError, match=r"old\.json: not a speed table \(no mnn-conv-op rows\).*speed-table"):
        SpeedTable.load(f)


# ---------------------------------------------------------------- the allocator

def _curves():
    """Three layers with made-up damage curves (convex in s, larger for larger G)."""
    out = {}
    for name, size, k in (("a", 1000, 1.0), ("b", 4000, 0.2), ("c", 2000, 3.0)):
        xs = np.linspace(0, 1, 41)
        lc = LayerCurves(name, size, {8: (xs, k * xs ** 2), 2: (xs, 0.4 * k * xs ** 2)}, probe=(8, 0.5))
        lc.probe_damage = k * 0.25
        out[name] = lc
    return out


def test_damage_passes_through_every_measured_probe_and_keeps_the_curves_shape_between():
    xs = np.linspace(0, 1, 41)
    lc = LayerCurves("a", 100, {8: (xs, xs ** 2), 2: (xs, 0.5 * xs ** 2)}, probe=(8, 0.3))
    lc.probe_damage = 0.9                       # measured 10x what the curve says at 0.3 ...
    lc.more_probes.append((0.6, 0.36 * 20))    # ... and 20x at 0.6 (a held-out re-fit over-fits more)
    assert lc.damage(8, 0.3) == pytest.approx(0.9)
    assert lc.damage(8, 0.6) == pytest.approx(0.36 * 20)
    assert lc.damage(8, 0.45) == pytest.approx(15 * 0.45 ** 2)            # scale halfway: 15x
    assert lc.damage(2, 0.45) == pytest.approx(0.5 * 15 * 0.45 ** 2)      # the G curve's own shape
    assert lc.damage(8, 0.1) == pytest.approx(10 * 0.01)                  # below: the first scale
    assert lc.damage(8, 0.9) == pytest.approx(20 * 0.81)                  # above: the last
    assert lc.damage(8, 0.0) == 0.0


def test_a_small_group_is_priced_as_the_plugin_packs_it():
    # the bridge packs a layer pruned in groups of G in larger groups G' when its cost model says
    # that runs faster (sbnn_gsparse_fastest_group); a G' group is empty when all its G'/G units
    # are, s ** (G'/G), and the layer is priced at the table's ratio for the group it packs as
    def ratio(G, s):                               # kept MACs at the plugin's rate over all at stock's (80)
        return (1 - s) * 80.0 / np.interp(s, [0.0, 0.5, 0.9], [100.0, 90.0, 50.0] if G == 8 else [60.0, 54.0, 30.0])

    # per stored weight only (G=2 1.5x G=8's): 30 % as G=8 (0.7 x 1.5 > 1 - 0.3 ** 4), 90 % as G=2
    tm = TimeModel(_table(), {"a": 3.0, "rest": 6.0}, {"a": 10**6}, {"a": 56}, {"a": 128})
    assert 0.7 * 1.5 > 1 - 0.3 ** 4 and 0.1 * 1.5 < 1 - 0.9 ** 4
    assert tm.layer_ms("a", 2, 0.3) == pytest.approx(3.0 * ratio(8, 0.3 ** 4))
    assert tm.layer_ms("a", 2, 0.9) == pytest.approx(3.0 * ratio(2, 0.9))
    assert tm.layer_ms("a", 8, 0.3) == pytest.approx(3.0 * ratio(8, 0.3))   # nothing wider in the table
    # with a per-channel term (G=2: 40 stored weights' worth, G=8: 10) a narrow layer at 90 %
    # packs as G=8 (32 inputs: 0.1 x 32 x 1 + 40 > 0.344 x 32 + 10), a wide one stays G=2
    costs = {2: (1.0, 40.0), 8: (1.0, 10.0)}
    for fan_in, G in ((32, 8), (1024, 2)):
        t = _table(costs)
        assert t.packing_group(2, fan_in, lambda g: 1 - 0.9 ** (g // 2)) == G
        tm = TimeModel(t, {"a": 3.0, "rest": 6.0}, {"a": 10**6}, {"a": 56}, {"a": fan_in})
        assert tm.layer_ms("a", 2, 0.9) == pytest.approx(3.0 * ratio(G, 0.9 ** (G // 2))), fan_in


def test_group_costs_are_the_two_terms_a_table_was_measured_with(tmp_path):
    # a table whose times are exactly a x stored weights + b x output channels per pixel:
    # the fit gives back a and b, in units of G=8's a
    truth = {1: (2.4e-11, 8e-10), 2: (1.7e-11, 8.5e-10), 8: (1e-11, 2e-10)}
    rows = [{"engine": "sparsebytenn", "hw": hw, "cin": I, "cout": O, "G": G, "sparsity": s,
             "gflops": 2 * I * O * (1 - s) / (a * I * O * (1 - s) + b * O) / 1e9}
            for hw, I, O in ((112, 32, 64), (56, 128, 128), (14, 512, 512), (7, 1024, 1024))
            for G, (a, b) in truth.items() for s in (0.0, 0.3, 0.5, 0.7, 0.9)]
    t = SpeedTable("exact", "cpu", "avx512", rows, [{"engine": "mnn-conv-op", "hw": 56, "gflops": 80.0}])
    for G, (a, b) in truth.items():
        assert t.costs[G] == pytest.approx((a / 1e-11, b / 1e-11), rel=1e-6)
    assert t.group_cost(4) == t.costs[8]           # not in the table: the nearest, the larger on a tie
    # a table row without its layer's channels cannot be fitted
    f = tmp_path / "nocin.json"
    f.write_text(json.dumps({"rows": [{k: v for k, v in r.items() if k != "cin"} for r in rows] + t.stock_rows}))
    with pytest.raises(ModelError, match=r"nocin\.json: not a speed table \('cin'\)"):
        SpeedTable.load(f)
    # nor one that timed a kernel at 0 GFLOP/s (a failed measurement)
    f.write_text(json.dumps({"rows": [dict(rows[0], gflops=0.0)] + rows[1:] + t.stock_rows}))
    with pytest.raises(ModelError, match=r"not a speed table \(G=1 has a row of 0 GFLOP/s\)"):
        SpeedTable.load(f)

def test_allocator_meets_both_constraints_and_is_close_to_exhaustive():
    curves = _curves()
    t = _table()
    tm = TimeModel(t, {"a": 2.0, "b": 2.0, "c": 2.0, "rest": 4.0}, {"a": 30000, "b": 120000, "c": 60000},
                   {"a": 56, "b": 14, "c": 56}, {"a": 128, "b": 512, "c": 128})
    for floor in (1.0, 1.2, 1.4):
        choice, facts = allocate_by_damage(curves, (8, 2), 0.3, tm, floor, max_sparsity=0.9, step=0.1)
        assert facts["feasible"], floor
        assert tm.speedup(choice) >= floor - 1e-9
        # at least the target; beyond it only where a floor is met more cheaply so (checked below)
        assert facts["sparsity"] >= 0.3 - 1e-9
        if floor < 1.4:
            assert facts["sparsity"] == pytest.approx(0.3, abs=0.05)
        # exhaustive search over the same grid
        grid = [(G, s) for G in (8, 2) for s in np.round(np.arange(0, 0.91, 0.1), 6)]
        best = None
        for combo in itertools.product(grid, repeat=3):
            ch = dict(zip("abc", combo))
            sp = sum(ch[n][1] * curves[n].size for n in ch) / 7000
            if sp < 0.3 - 1e-9 or tm.speedup(ch) < floor:
                continue
            d = sum(curves[n].damage(*ch[n]) for n in ch)
            best = d if best is None else min(best, d)
        assert facts["damage"] <= best * 1.25 + 1e-9, (floor, facts["damage"], best)
    # an impossible floor is reported, not hidden
    _, facts = allocate_by_damage(curves, (8, 2), 0.3, tm, 50.0, step=0.1)
    assert not facts["feasible"]


def test_group_auto_keeps_more_of_the_targets_speed_the_more_it_prunes():
    # with a floor of 1.3x alone auto ran all of MobileNet-V1 at G=1 at 90 % (3.2x modelled where
    # G=8 gives 5.3x): at sparsity S the default floor is S times G=8 at S in every layer
    from sparsebytenn_converter.options import ConvertOptions
    from sparsebytenn_converter.prune import speed_floor

    tm = TimeModel(_table(), {"a": 6.0, "b": 3.0, "rest": 1.0}, {"a": 10**6, "b": 2 * 10**6}, {"a": 56, "b": 14},
                   {"a": 128, "b": 512})
    # G=8 at 90 %: a keeps 10 % of its MACs at 50 GFLOP/s (stock 80), b at 40 (stock 50)
    g8_90 = 10.0 / (1.0 + 6.0 * 0.1 * 80.0 / 50.0 + 3.0 * 0.1 * 50.0 / 40.0)
    floor, why = speed_floor(ConvertOptions.of(sparsity=0.9, group="auto"), tm, ["a", "b"])
    assert floor == pytest.approx(0.9 * g8_90) and "G=8" in why
    # at 50 % (90 and 72 GFLOP/s): 0.5 x 2.5x is below 1.3x, so 1.3x
    g8_50 = 10.0 / (1.0 + 6.0 * 0.5 * 80.0 / 90.0 + 3.0 * 0.5 * 50.0 / 72.0)
    assert 0.5 * g8_50 < 1.3 < 0.9 * g8_90
    assert speed_floor(ConvertOptions.of(sparsity=0.5, group="auto"), tm, ["a", "b"])[0] == pytest.approx(1.3)
    # the user's floor wins, below or above the rule's
    for x in (1.1, 5.0):
        got = speed_floor(ConvertOptions.of(sparsity=0.9, group="auto", target_speedup=x), tm, ["a", "b"])
        assert got == (x, "--target-speedup")


def test_counts_of_turns_sparsity_into_units():
    got = counts_of({"a": (8, 0.5), "b": (2, 0.25)}, {"a": (20, 10, 1, 1), "b": (7, 4, 3, 3)})
    assert got == {"a": (10, 20), "b": (3, 1)}   # 2 groups of 8 x 10 inputs, 4 tail rows x 10; 3 pairs x 4, 1 x 4


def test_counts_of_never_lands_below_the_priced_sparsity():
    # the allocator prices a layer at s >= MIN_TAG_SPARSITY as running in the plugin; one unit
    # short and the tagger leaves it in stock MNN (MobileNet-V1: 4 of 13 layers at "5 %" were
    # 4.98 %, untagged, and the modelled 1.30x measured 1.14x)
    from sparsebytenn_converter.groups import MIN_TAG_SPARSITY, prune_mask

    rng = np.random.default_rng(0)
    for (O, I), G in (((128, 64), 4), ((128, 128), 8), ((512, 512), 4), ((1024, 1024), 2), ((20, 10), 8)):
        for s in (MIN_TAG_SPARSITY, 0.1, 0.3):
            n_main, n_tail = counts_of({"a": (G, s)}, {"a": (O, I, 1, 1)})["a"]
            w = rng.standard_normal((O, I, 1, 1)).astype(np.float32)
            zeros = np.count_nonzero(prune_mask(w, G, n_main, n_tail)) / w.size
            assert s <= zeros < s + (G + 1) / w.size * 2, (O, I, G, s, zeros)


# ---------------------------------------------------------------- whole models


def test_data_free_default_beats_plain_pruning(small_model, tmp_path):
    rng = np.random.default_rng(5)
    held = [rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32) for _ in range(6)]
    plain = convert(small_model, tmp_path / "p.mnn", sparsity=0.5, group=4, plain=True, progress=False)
    free = convert(small_model, tmp_path / "f.mnn", sparsity=0.5, group=4, progress=False)
    assert "noise" in free.calibration["source"] and free.calibration["samples"] > 0
    assert plain.calibration == {}

    def err(path):
        return np.mean([np.linalg.norm(mnn_run(path, x) - d) / np.linalg.norm(d)
                        for x, d in ((x, mnn_run(small_model, x)) for x in held)])

    assert err(tmp_path / "f.mnn") < err(tmp_path / "p.mnn")


def test_probe_damage_is_fitted_on_inputs_it_is_not_scored_on(small_model, tmp_path, monkeypatch):
    # a re-fit scored on its own data looks cheapest where it overfits most (late layers: few
    # pixels, many unknowns), so the probe's fit must hold out every input the probe scores
    from sparsebytenn_converter import reconstruct, sensitivity

    seen = {"scored": set(), "fits": []}
    capture, score, probe = (reconstruct.Calibrator.capture_dense, reconstruct.Calibrator.output_damage,
                             sensitivity.probe_damage)

    def captured(self, model_bytes):
        seen["calib"] = self
        return capture(self, model_bytes)

    def scored(self, model_bytes, samples):
        seen["scored"].add(samples)
        return score(self, model_bytes, samples)

    def fitted(curves, w, b, x, damp, run_with, s=None):
        lay = seen["calib"].layers[curves.name]          # every sampled column, and where from
        seen["fits"].append((x, lay.x_dense.copy(), lay.pos[:, 0].copy()))
        return probe(curves, w, b, x, damp, run_with, s)

    monkeypatch.setattr(reconstruct.Calibrator, "capture_dense", captured)
    monkeypatch.setattr(reconstruct.Calibrator, "output_damage", scored)
    monkeypatch.setattr(sensitivity, "probe_damage", fitted)
    convert(small_model, tmp_path / "a.mnn", sparsity=0.5, group="auto", target_speedup=1.0, progress=False)
    (samples,) = seen["scored"]
    assert 0 < samples < seen["calib"].inputs.shape[0] and seen["fits"]
    for x, every, image in seen["fits"]:
        assert 0 < x.shape[1] < every.shape[1]
        np.testing.assert_array_equal(x, every[:, image >= samples])


def test_options_are_checked(small_model, tmp_path):
    with pytest.raises(ModelError, match="--plain"):
        convert(small_model, tmp_path / "o.mnn", sparsity=0.5, group="auto", plain=True)
    with pytest.raises(ModelError, match="--target-speedup 0.5"):
        convert(small_model, tmp_path / "o.mnn", sparsity=0.5, target_speedup=0.5)
    with pytest.raises(ModelError, match="G must be one of"):
        convert(small_model, tmp_path / "o.mnn", sparsity=0.5, group="fast")
    with pytest.raises(ModelError, match="--input-range"):
        convert(small_model, tmp_path / "o.mnn", sparsity=0.5, input_range=(1, -1))
    with pytest.raises(ModelError, match="speed-table"):
        convert(small_model, tmp_path / "o.mnn", sparsity=0.5, group="auto", speed_table=tmp_path / "none.json")
    assert list(tmp_path.iterdir()) == []


def test_group_auto_lowers_the_output_error_of_a_zoo_model(tmp_path):
    # issue 13: at the same sparsity, --group auto must beat fixed G=8 in measured output error
    from sparsebytenn import zoo
    from sparsebytenn.fidelity import photo_protocol as pp

    require(zoo.is_cached("mobilenet-v1") or not zoo.missing_requirements("mobilenet-v1"), "mobilenet-v1")
    src = zoo.get("mobilenet-v1", progress=False)
    a, b = pp.folds(pp.installed_photos())
    calib = pp.augmented_crops("mobilenet-v1", a, 24, 0)
    held = np.concatenate([pp.ten_crop("mobilenet-v1", p)[4:5] for p in b])      # other fold, centres
    convert(src, tmp_path / "g8.mnn", sparsity=0.3, group=8, calibration=calib, holdout=held, progress=False)
    auto = convert(src, tmp_path / "auto.mnn", sparsity=0.3, group="auto", calibration=calib, holdout=held,
                   progress=False)
    assert auto.totals()["sparsity_after"] == pytest.approx(0.3, abs=0.02)
    assert {r.G for r in auto.layers} <= {16, 8, 4, 2, 1}
    assert auto.allocation["modelled_speedup"] >= auto.allocation["min_speedup"] - 1e-3
    assert auto.allocation["min_speedup"] == pytest.approx(1.3) and "G=8" in auto.allocation["min_speedup_rule"]
    dense = np.stack([mnn_run(src, x[None]).ravel() for x in held])
    errs = {}
    for name in ("g8", "auto"):
        got = np.stack([mnn_run(tmp_path / f"{name}.mnn", x[None]).ravel() for x in held])
        errs[name] = np.mean(np.linalg.norm(got - dense, axis=1) / np.linalg.norm(dense, axis=1))
    assert errs["auto"] < errs["g8"], errs
    # the same command writes the same file: the allocation's stock profile is measured once
    # per model and machine (3 of 3 conversions chose differently when each measured its own)
    again = convert(src, tmp_path / "auto2.mnn", sparsity=0.3, group="auto", calibration=calib, holdout=held,
                    progress=False)
    assert again.allocation["layers"] == auto.allocation["layers"]
    assert (tmp_path / "auto2.mnn").read_bytes() == (tmp_path / "auto.mnn").read_bytes()
    assert again.allocation["stock_profile"].startswith("measured ") and "cached in" in again.allocation["stock_profile"]
