"""How much each layer's pruning damages the model's output, per group size and sparsity.

A layer's own output error is no guide across layers (the last pointwise layer of
MobileNet-V1 has the second-largest layer error and the smallest effect on the
logits), so damage is measured where it matters, at the model's output, and
spread over (G, sparsity) by the layer's own error curve:

  curve_L(G, s)  the Optimal-Brain-Surgeon cost of removing the cheapest units of
                 G output channels until s of the layer's weights are gone, from
                 the dense model's calibration statistics (relative to the
                 layer's output energy; cheap: one inverse per layer);
  d_L            stock MNN's relative squared output error when only layer L is
                 pruned at a probe point (G_p, s_p) and re-fitted exactly;
  damage_L(G, s) = d_L x curve_L(G, s) / curve_L(G_p, s_p).

Damages add up over layers well enough to rank choices (checked against joint
pruning; they under-predict the joint damage by 2-3x but keep the order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reconstruct import _damped, fit_layer, unit_saliency

PROBE_SAMPLES = 32          # calibration inputs the probe runs use
SPARSITY_STEP = 0.025


@dataclass
class LayerCurves:
    name: str
    size: int                                   # weights
    curves: dict[int, tuple[np.ndarray, np.ndarray]]   # G -> (sparsity points, relative error there)
    probe: tuple[int, float] = (8, 0.3)
    probe_damage: float = 0.0                   # d_L measured at the output

    def error(self, G: int, s: float) -> float:
        xs, ys = self.curves[G]
        return float(np.interp(s, xs, ys))

    def damage(self, G: int, s: float) -> float:
        ref = self.error(*self.probe)
        if s <= 0:
            return 0.0
        return self.probe_damage * self.error(G, s) / ref if ref > 0 else self.probe_damage * s / self.probe[1]


def _stats(w: np.ndarray, b: np.ndarray | None, x: np.ndarray, damp: float):
    """(w* with bias column, inverse of the damped Hessian, output energy) on dense statistics."""
    O = w.shape[0]
    wd = w.reshape(O, -1).astype(np.float64)
    xs = x.astype(np.float64)
    if b is not None:
        wd = np.concatenate([wd, b.astype(np.float64)[:, None]], axis=1)
        xs = np.concatenate([xs, np.ones((1, xs.shape[1]))], axis=0)
    h = xs @ xs.T
    lam = damp * float(np.mean(np.diag(h))) or damp
    a_inv = np.linalg.inv(_damped(h, lam))
    t = wd @ xs
    energy = float(np.sum((t - t.mean(axis=1, keepdims=True)) ** 2)) or 1.0
    return wd, a_inv, energy          # the ridge optimum toward the dense weights is the dense weights


def error_curve(w: np.ndarray, b: np.ndarray | None, x: np.ndarray, G: int, damp: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Relative output error (OBS, units removed cheapest first) at sparsities 0..1."""
    O, I, kh, kw = w.shape
    taps = kh * kw
    wd, a_inv, energy = _stats(w, b, x, damp)
    main, tail = unit_saliency(wd, a_inv, G, I, taps)
    cost = np.concatenate([main.ravel(), tail.ravel()])
    size = np.concatenate([np.full(main.size, G * taps), np.full(tail.size, taps)])
    order = np.argsort(cost / size, kind="stable")
    removed = np.concatenate([[0.0], np.cumsum(size[order]) / w.size])
    err = np.concatenate([[0.0], np.cumsum(cost[order]) / energy])
    return removed, err


def layer_curves(name: str, w, b, x, groups, damp: float) -> LayerCurves:
    return LayerCurves(name, int(w.size), {G: error_curve(w, b, x, G, damp) for G in groups})


def probe_damage(curves: LayerCurves, w, b, x, damp: float, run_with) -> float:
    """d_L: prune only this layer at the probe point, re-fit exactly, measure at the output.

    run_with(weights, bias) -> relative squared output error of the model with them."""
    G, s = curves.probe
    O, I = w.shape[:2]
    full = O // G
    n_main = int(round(s * full * I))
    n_tail = int(round(s * (O % G) * I))
    t = w.reshape(O, -1).astype(np.float64) @ x.astype(np.float64)
    if b is not None:
        t += b[:, None]
    fit = fit_layer(w, b, x, t, G, n_main, n_tail, damp=damp)
    return run_with(fit.weights, fit.bias)
