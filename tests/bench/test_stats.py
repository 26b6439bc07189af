"""The benchmark's arithmetic, checked against numpy and the textbook formulas."""
import itertools

import numpy as np
import pytest

from sparsebytenn.bench.schedule import round_orders
from sparsebytenn.bench.stats import amdahl_ideal, median_interval, median_iqr, pruned_share, round_ratios


def test_median_iqr_matches_numpy():
    rng = np.random.default_rng(1)
    for n in (1, 2, 5, 10, 101):
        x = rng.gamma(2.0, 3.0, n)
        med, iqr = median_iqr(x.tolist())
        assert med == pytest.approx(np.median(x))
        assert iqr == pytest.approx(np.subtract(*np.percentile(x, [75, 25])))
    with pytest.raises(ValueError):
        median_iqr([])


def test_speedup_is_median_of_per_round_ratios_not_ratio_of_medians():
    # The reference gets 3x slower in the last rounds (machine got busy); the
    # engine was timed right next to it, so its per-round ratio stays 2.
    ref = [[10, 10.2], [10.1, 9.9], [30, 30.4], [31, 29], [30, 30]]
    eng = [[5, 5.1], [5.05, 4.95], [15, 15.2], [15.5, 14.5], [15, 15]]
    expected = [np.median(r) / np.median(e) for r, e in zip(ref, eng)]
    assert round_ratios(ref, eng) == pytest.approx(expected)
    assert np.median(round_ratios(ref, eng)) == pytest.approx(2.0)
    assert round_ratios([], []) == []


def test_median_interval_is_a_bootstrap_of_the_median_over_rounds():
    rng = np.random.default_rng(3)
    ratios = rng.normal(5.0, 0.5, 15)
    lo, hi = median_interval(ratios.tolist())
    # the same percentile bootstrap written out with numpy, on other resamples
    boots = [np.median(rng.choice(ratios, ratios.size)) for _ in range(4000)]
    ref_lo, ref_hi = np.percentile(boots, [2.5, 97.5])
    # a bootstrap median is one of the 15 values: the bounds may differ by one of them
    rank = lambda v: np.searchsorted(np.sort(ratios), v)  # noqa: E731
    assert abs(rank(lo) - rank(ref_lo)) <= 1 and abs(rank(hi) - rank(ref_hi)) <= 1
    assert lo < np.median(ratios) < hi
    # wider when the rounds disagree more; none from too few rounds
    lo2, hi2 = median_interval((5.0 + 3 * (ratios - 5.0)).tolist())
    assert hi2 - lo2 > 2 * (hi - lo)
    assert median_interval([5.0, 5.1]) is None


def test_amdahl_ideal_matches_formula():
    ops = {"conv1": 1.0, "pw1": 6.0, "dw": 1.0, "pw2": 2.0}  # 8 of 10 ms in pw1 + pw2
    for s in (0.3, 0.5, 0.7, 0.9):
        f = 0.8
        assert amdahl_ideal(ops, {"pw1": s, "pw2": s}) == pytest.approx(1 / ((1 - f) + f * (1 - s)))
    assert pruned_share(ops, ["pw1", "pw2"]) == pytest.approx(0.8)
    # per-layer sparsities: each layer keeps (1 - s_l) of its time
    assert amdahl_ideal(ops, {"pw1": 0.5, "pw2": 0.9}) == pytest.approx(10 / (10 - 3 - 1.8))
    assert amdahl_ideal(ops, {"not-in-profile": 0.5}) is None


@pytest.mark.parametrize("n,rounds", [(1, 3), (2, 10), (5, 20), (14, 15)])
def test_round_orders_visit_every_engine_once_per_round(n, rounds):
    orders = round_orders(n, rounds, seed=7)
    assert len(orders) == rounds
    for order in orders:
        assert sorted(order) == list(range(n))
    if n > 1:  # never the same engine twice in a row across a round boundary
        for a, b in itertools.pairwise(orders):
            assert a[-1] != b[0]
    if n > 2:  # (two engines can only alternate: A B A B ...)
        assert len({tuple(o) for o in orders}) > 1  # not one fixed order
    assert round_orders(n, rounds, seed=7) == orders  # repeatable
