"""The linear probe against scikit-learn's logistic regression and its own optimality."""
from __future__ import annotations

import numpy as np
import pytest

from sbnn_testing import require
from sparsebytenn.fidelity.probe import fit_probe, objective


def _data(n=300, d=64, K=10, seed=1):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((K, d)) * 0.4
    y = rng.integers(0, K, n)
    X = centers[y] + rng.standard_normal((n, d)) * np.linspace(0.3, 4.0, d) + 5.0
    return X, y


def _independent_gradient(Xs, y, W, b, lam):
    """Gradient of mean cross-entropy + lam/2 |W|^2, written out per sample."""
    K = W.shape[1]
    gW, gb = np.zeros_like(W), np.zeros_like(b)
    for x, t in zip(Xs, y):
        z = x @ W + b
        p = np.exp(z - z.max())
        p /= p.sum()
        p[t] -= 1.0
        gW += np.outer(x, p)
        gb += p
    return gW / len(Xs) + lam * W, gb / len(Xs)


@pytest.mark.parametrize("lam", [1e-3, 1e-1])
def test_probe_reaches_the_optimum(lam):
    X, y = _data()
    p = fit_probe(X, y, classes=10, lam=lam)
    Xs = (X - X.mean(0)) / X.std(0)                  # the documented standardisation
    assert np.allclose(p.standardise(X), Xs)
    gW, gb = _independent_gradient(Xs, y, p.W, p.b, lam)
    assert np.abs(gW).max() < 1e-4 and np.abs(gb).max() < 1e-4


@pytest.mark.parametrize("lam", [1e-3, 1e-2])
def test_probe_matches_scikit_learn(lam):
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        LogisticRegression = None
    require(LogisticRegression is not None, "scikit-learn (pip install -e '.[bench]')")
    X, y = _data(seed=2)
    p = fit_probe(X, y, classes=10, lam=lam)
    Xs = p.standardise(X)
    sk = LogisticRegression(C=1.0 / (lam * len(X)), tol=1e-10, max_iter=20000).fit(Xs, y)
    assert objective(Xs, y, p.W, p.b, lam) <= objective(Xs, y, sk.coef_.T, sk.intercept_, lam) + 1e-6
    Xt, yt = _data(seed=5)
    ours = p.predict(Xt)
    theirs = sk.predict(p.standardise(Xt))
    assert np.mean(ours == theirs) >= 0.99
    assert np.mean(ours == yt) == pytest.approx(np.mean(theirs == yt), abs=0.01)


def test_lambda_is_chosen_on_training_data_only_and_deterministically():
    X, y = _data(n=200)
    p1, p2 = fit_probe(X, y, classes=10), fit_probe(X, y, classes=10)
    assert p1.lam == p2.lam and np.array_equal(p1.W, p2.W)
    assert p1.lam in (1e-4, 1e-3, 1e-2, 1e-1)


def test_constant_feature_does_not_break_standardisation():
    X, y = _data(n=100, d=8)
    X[:, 3] = 7.0
    p = fit_probe(X, y, classes=10, lam=1e-2)
    assert np.all(np.isfinite(p.W)) and np.all(np.isfinite(p.logits(X)))
