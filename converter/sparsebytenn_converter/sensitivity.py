"""How much each layer's pruning damages the model's output, per group size and sparsity.

A layer's own output error is no guide across layers (the last pointwise layer of
MobileNet-V1 has the second-largest layer error and the smallest effect on the
logits), so damage is measured where it matters, at the model's output, and
spread over (G, sparsity) by the layer's own error curve:

  curve_L(G, s)  the Optimal-Brain-Surgeon cost of removing the cheapest units of
                 G output channels until s of the layer's weights are gone, from
                 the dense model's calibration statistics (relative to the
                 layer's output energy; cheap: one inverse per layer);
  d_L(s)         stock MNN's relative squared output error when only layer L is
                 pruned at G_p and sparsity s and re-fitted exactly, on calibration
                 inputs the re-fit did not see, at two probe points s_p and 2 s_p;
  damage_L(G, s) = k(s) x curve_L(G, s), k(s) interpolated between the probes'
                 d_L(s_p) / curve_L(G_p, s_p) (constant outside them).

Both probe choices were measured on ImageNet MobileNet-V1 (calibrated --group auto at
30 %, ten-crop agreement on held-out photos): scoring the probe on its own fit data
kept 62.9 %, held out 70.7 %, held out with the second probe 79.3 % (the in-sample
curve under-rates the last layers more the harder they are pruned).

Damages add up over layers well enough to rank choices (checked against joint
pruning; they under-predict the joint damage by 2-3x but keep the order).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .reconstruct import _damped, fit_layer, unit_saliency

PROBE_SAMPLES = 32          # calibration inputs the probe runs use (at most half of them)
MORE_PROBES = (2.0,)        # more probes at these multiples of the first's sparsity ...
MAX_PROBE_SPARSITY = 0.8    # ... but not above this
SPARSITY_STEP = 0.025


@dataclass
class LayerCurves:
    name: str
    size: int                                   # weights
    curves: dict[int, tuple[np.ndarray, np.ndarray]]   # G -> (sparsity points, relative error there)
    probe: tuple[int, float] = (8, 0.3)
    probe_damage: float = 0.0                   # d_L measured at the output
    # more (sparsity, d_L) measured at the probe's G: between probes the curve's shape in s is
    # corrected to the measured damages (the curve comes from calibration statistics, in sample)
    more_probes: list[tuple[float, float]] = field(default_factory=list)

    def error(self, G: int, s: float) -> float:
        xs, ys = self.curves[G]
        return float(np.interp(s, xs, ys))

    def damage(self, G: int, s: float) -> float:
        if s <= 0:
            return 0.0
        G_p = self.probe[0]
        points = sorted([(self.probe[1], self.probe_damage)] + list(self.more_probes))
        refs = [self.error(G_p, sp) for sp, _ in points]
        if min(refs) <= 0:
            return self.probe_damage * s / self.probe[1]
        scale = np.interp(s, [sp for sp, _ in points], [d / r for (_, d), r in zip(points, refs)])
        return float(scale) * self.error(G, s)


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


def probe_images(n: int) -> int:
    """How many of n calibration inputs the probe runs measure on (the first ones)."""
    return max(1, min(PROBE_SAMPLES, n // 2))


def probe_damage(curves: LayerCurves, w, b, x, damp: float, run_with, s: float | None = None) -> float:
    """d_L: prune only this layer at the probe point, re-fit exactly, measure at the output.

    x must hold no column of the inputs run_with measures on: a re-fit scored on its own
    data looks cheapest where it has the most unknowns per sample (MobileNet-V1's last
    pointwise layer, 1,025 unknowns per row on 49 pixels an image), and the allocator then
    prunes exactly the layer that generalises worst.
    run_with(weights, bias) -> relative squared output error of the model with them."""
    G, s0 = curves.probe
    s = s0 if s is None else s
    O, I = w.shape[:2]
    full = O // G
    n_main = int(round(s * full * I))
    n_tail = int(round(s * (O % G) * I))
    t = w.reshape(O, -1).astype(np.float64) @ x.astype(np.float64)
    if b is not None:
        t += b[:, None]
    fit = fit_layer(w, b, x, t, G, n_main, n_tail, damp=damp)
    return run_with(fit.weights, fit.bias)
