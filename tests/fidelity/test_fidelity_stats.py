"""Statistics of `sparsebytenn eval` against independent computations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sparsebytenn.fidelity import stats


def _wilson_by_bisection(k, n, z=1.959963984540054):
    """The Wilson interval's ends are the p where |k/n - p| = z*sqrt(p(1-p)/n)."""
    phat = k / n

    def f(p):
        return (phat - p) ** 2 - z * z * p * (1 - p) / n

    def root(lo, hi):
        for _ in range(200):
            mid = (lo + hi) / 2
            if (f(lo) > 0) == (f(mid) > 0):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    lo = 0.0 if k == 0 else root(0.0, phat)
    hi = 1.0 if k == n else root(phat, 1.0)
    return lo, hi


@pytest.mark.parametrize("k,n", [(0, 20), (1, 20), (10, 20), (19, 20), (20, 20), (1692, 2000), (5, 2000)])
def test_wilson_matches_the_defining_equation(k, n):
    got = stats.wilson_interval(k, n)
    exp = _wilson_by_bisection(k, n)
    assert got == pytest.approx(exp, abs=1e-9)
    assert got[0] <= k / n <= got[1]


def test_wilson_known_value():
    # 84/100 by hand: centre (0.84 + 1.96^2/200) / (1 + 1.96^2/100) = 0.82743,
    # half-width 1.96 * sqrt(0.84*0.16/100 + 1.96^2/40000) / 1.038415 = 0.07163
    lo, hi = stats.wilson_interval(84, 100)
    assert round(lo, 4) == 0.7558 and round(hi, 4) == 0.8990


def test_paired_bootstrap_matches_normal_theory_and_is_seeded():
    rng = np.random.default_rng(3)
    n = 2000
    a = rng.random(n) < 0.85
    b = a.copy()
    flip = rng.random(n) < 0.06                   # the pruned model differs on ~6 % of images
    b[flip] = rng.random(flip.sum()) < 0.5
    lo, hi = stats.paired_bootstrap_drop(a, b, rounds=4000, seed=1)
    d = a.astype(float) - b.astype(float)
    se = d.std(ddof=1) / math.sqrt(n)
    mean = d.mean() * 100
    assert lo <= mean <= hi
    assert (hi - lo) / 2 == pytest.approx(1.96 * se * 100, rel=0.1)
    assert stats.paired_bootstrap_drop(a, b, rounds=4000, seed=1) == (lo, hi)


def test_paired_bootstrap_identical_models_has_zero_width():
    a = np.array([1, 0, 1, 1, 0], bool)
    assert stats.paired_bootstrap_drop(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError):
        stats.paired_bootstrap_drop(a, a[:3])


def test_cosine_and_relative_error_against_row_loops():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 13)), rng.standard_normal((7, 13))
    b[3] = 0.0
    cos = stats.cosine_rows(a, b)
    rel = stats.relative_error_rows(a, b)
    for i in range(7):
        if i == 3:
            assert cos[i] == 0.0 and rel[i] == np.inf
            continue
        assert cos[i] == pytest.approx(sum(x * y for x, y in zip(a[i], b[i]))
                                       / math.sqrt(sum(x * x for x in a[i]) * sum(y * y for y in b[i])))
        assert rel[i] == pytest.approx(math.sqrt(sum((x - y) ** 2 for x, y in zip(a[i], b[i])))
                                       / math.sqrt(sum(y * y for y in b[i])))
    assert stats.cosine_rows(a, 2 * a) == pytest.approx(np.ones(7))


def test_topk_agreement_by_hand():
    ref = np.array([[0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0]], float)
    new = np.array([[0, 1, 2, 9, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0]], float)
    # row 0: top-1 ref 6, new 3 -> disagree; top-5 ref {6,5,4,3,2}, new {3,6,5,4,2} -> 5/5
    top1, top5 = stats.topk_agreement(new, ref, 5)
    assert top1 == 0.5 and top5 == 1.0
    new2 = np.array([[9, 8, 7, 6, 5, 0, 0], [0, 1, 2, 3, 4, 5, 6]], float)
    # row 0: {0,1,2,3,4} vs {6,5,4,3,2} -> 3/5; row 1: {6,5,4,3,2} vs {0,1,2,3,4} -> 3/5
    assert stats.topk_agreement(new2, ref, 5) == (0.0, pytest.approx(0.6))
