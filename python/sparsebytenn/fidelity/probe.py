"""A linear probe: multinomial logistic regression on frozen features, in numpy.

Features are standardised with the training set's mean and standard deviation;
the objective is the mean cross-entropy plus (lam/2)*||W||^2 (the bias is not
penalised). It is smooth and strongly convex, so Nesterov's accelerated gradient
with step 1/L (L bounds the Hessian) and a fixed iteration count converges to the
unique optimum deterministically -- no random initialisation, no data order.
lam is chosen from a small grid on a fixed 80/20 split of the *training* set, then
the probe is refitted on all of it; test data never influences the probe.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class LinearProbe:
    mean: np.ndarray       # (D,) feature standardisation
    scale: np.ndarray      # (D,)
    W: np.ndarray          # (D, K)
    b: np.ndarray          # (K,)
    lam: float
    classes: int

    def standardise(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, np.float64).reshape(len(X), -1) - self.mean) / self.scale

    def logits(self, X: np.ndarray) -> np.ndarray:
        return self.standardise(X) @ self.W + self.b

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.logits(X).argmax(axis=1)


def objective(Xs: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray, lam: float) -> float:
    z = Xs @ W + b
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean() + 0.5 * lam * np.sum(W * W))


def _fit_standardised(Xs: np.ndarray, y: np.ndarray, classes: int, lam: float,
                      iterations: int) -> tuple[np.ndarray, np.ndarray]:
    n, d = Xs.shape
    Y = np.zeros((n, classes))
    Y[np.arange(n), y] = 1.0
    Xb = np.hstack([Xs, np.ones((n, 1))])
    # Hessian of the mean softmax cross-entropy <= 0.5 * X^T X / n (per class block).
    top = np.linalg.eigvalsh(Xb.T @ Xb / n)[-1] if d < 4096 else np.linalg.norm(Xb, 2) ** 2 / n
    step = 1.0 / (0.5 * top + lam)
    reg = np.ones((d + 1, 1))
    reg[-1] = 0.0  # no penalty on the bias
    theta = np.zeros((d + 1, classes))
    prev = theta.copy()
    for t in range(1, iterations + 1):
        v = theta + (t - 1) / (t + 2) * (theta - prev)  # Nesterov momentum
        grad = Xb.T @ (softmax(Xb @ v) - Y) / n + lam * reg * v
        prev, theta = theta, v - step * grad
    return theta[:-1], theta[-1]


def fit_probe(X: np.ndarray, y: np.ndarray, *, classes: int | None = None, lam: float | None = None,
              lambdas=LAMBDAS, iterations: int = 600, seed: int = 0) -> LinearProbe:
    """Fit on features X (n, ...) with labels y (n,). lam=None: choose it on a split of X."""
    X = np.asarray(X, np.float64).reshape(len(X), -1)
    y = np.asarray(y, np.int64)
    if len(X) != len(y) or len(X) < 2:
        raise ValueError("fit_probe: need at least 2 samples and one label per sample")
    K = int(classes if classes is not None else y.max() + 1)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-8 * max(1.0, float(scale.max(initial=0.0))), scale, 1.0)
    Xs = (X - mean) / scale
    if lam is None:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(X))
        cut = int(0.8 * len(X))
        tr, va = order[:cut], order[cut:]
        best = None
        for cand in lambdas:
            W, b = _fit_standardised(Xs[tr], y[tr], K, cand, iterations)
            acc = float(np.mean((Xs[va] @ W + b).argmax(axis=1) == y[va]))
            if best is None or acc >= best[0]:  # ties go to the stronger penalty (grid ascends)
                best = (acc, cand)
        lam = best[1]
    W, b = _fit_standardised(Xs, y, K, lam, iterations)
    return LinearProbe(mean, scale, W, b, float(lam), K)
