"""Calibrated pruning: choose groups by output error and re-fit what stays.

Plain pruning ranks groups by weight magnitude, which ignores what the weights
multiply: post-ReLU6 inputs have positive means, so every pruned weight also shifts
its output by W * E[x] (the main damage measured, docs/accuracy.md),
and correlated inputs let the kept weights take over from the pruned ones. With
calibration inputs we instead, layer by layer in execution order (every layer sees
the already-pruned layers before it):

1. capture the layer's input X in the pruned-so-far model (stock MNN) at a fixed
   sample of output pixels (im2col for kxk), and the dense model's output there,
   T = W_d X_d + b (the target: the pruned network should still produce it);
2. score each unit (G output channels x 1 input channel x all taps) by the output
   error its removal costs, the Optimal-Brain-Surgeon saliency
   sum_rows w_B^T [A^-1]_BB^-1 w_B with A = X X^T + lambda I (B: the unit's taps);
3. drop the layer's allotted number of units with the lowest saliency;
4. re-fit each output group's kept weights and bias by ridge least squares,
   min ||T - W' X||^2 + lambda ||W' - W_d||^2 over the kept entries (the ridge
   pulls toward the dense weights, so scarce data degrades gracefully to plain
   pruning rather than to zero).

How many units each layer loses still comes from allocate(); with calibration the
unit energies it ranks are activation-weighted, sum w^2 * E[x_i^2]
(calibration_units), and rearrangement scores groups on weights scaled by the
RMS of their inputs (scaled), so all three stages agree on what matters.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager

import numpy as np

from .calibration import Probe, input_name
from .groups import Units, prune_mask
from .model import ConvInfo, Model
from .progress import bar as progress_bar

# lambda = damp * mean diagonal of X X^T. The ridge must grow as the data gets scarcer or
# further from the model's own inputs (measured on MobileNet-V1, G=8: with 140 crops of 7
# photos or with noise images 0.1 beats 0.01 by 14 points of top-1 agreement at 30 %; with
# 512 of a model's own training images 0.01 beats 0.1, 0.61 vs 1.36 pt accuracy drop at 50 %).
DAMP = 0.1
DAMP_MANY = 0.01
MANY_SAMPLES = 256


def damping_for(samples: int, noise: bool) -> float:
    return DAMP_MANY if samples >= MANY_SAMPLES and not noise else DAMP
MIN_COLUMNS = 2048      # sampled output pixels per layer, at least ...
COLUMNS_PER_ROW = 4     # ... or this many per unknown, whichever is more ...
MAX_COLUMNS = 8192      # ... but not more (cost is linear in columns)
SEED = 20240601


# ---------------------------------------------------------------------------- geometry

def conv_geometry(c: ConvInfo, H: int, W: int) -> tuple[int, int, int, int]:
    """(out_h, out_w, pad_top, pad_left) of conv c on an H x W input."""
    (kh, kw), (sh, sw), (dh, dw) = c.kernel, c.stride, c.dilation
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if c.pad_mode == "SAME":
        oh, ow = -(-H // sh), -(-W // sw)
        ph = max((oh - 1) * sh + ekh - H, 0)
        pw = max((ow - 1) * sw + ekw - W, 0)
        return oh, ow, ph // 2, pw // 2
    if c.pad_mode == "VALID":
        return (H - ekh) // sh + 1, (W - ekw) // sw + 1, 0, 0
    top, left, bottom, right = c.pad
    return (H + top + bottom - ekh) // sh + 1, (W + left + right - ekw) // sw + 1, top, left


def im2col(x: np.ndarray, c: ConvInfo, pos: np.ndarray) -> np.ndarray:
    """x (n, C, H, W); pos (m, 3) rows of (image, oy, ox) -> (C*kh*kw, m) columns, OIHW order."""
    n, C, H, W = x.shape
    (kh, kw), (sh, sw), (dh, dw) = c.kernel, c.stride, c.dilation
    _, _, top, left = conv_geometry(c, H, W)
    if (kh, kw) == (1, 1) and (c.pad_mode != "CAFFE" or c.pad == (0, 0, 0, 0)):
        return x[pos[:, 0], :, pos[:, 1] * sh, pos[:, 2] * sw].T
    ky = np.arange(kh) * dh
    kx = np.arange(kw) * dw
    ys = pos[:, 1, None] * sh - top + ky[None]                      # (m, kh)
    xs = pos[:, 2, None] * sw - left + kx[None]                     # (m, kw)
    yv = (ys >= 0) & (ys < H)
    xv = (xs >= 0) & (xs < W)
    yc, xc = np.clip(ys, 0, H - 1), np.clip(xs, 0, W - 1)
    patch = x[pos[:, 0, None, None, None], np.arange(C)[None, :, None, None],
              yc[:, None, :, None], xc[:, None, None, :]]           # (m, C, kh, kw)
    patch = patch * (yv[:, None, :, None] & xv[:, None, None, :])
    return patch.reshape(len(pos), -1).T


# ---------------------------------------------------------------------------- the math

@dataclass
class Fit:
    weights: np.ndarray        # (O, I, kh, kw) float32, zeros where pruned
    bias: np.ndarray | None
    mask: np.ndarray           # (O, I) True where pruned
    error_plain: float         # relative output error of plain (magnitude) pruning
    error: float               # relative output error after selection + re-fit


def unit_saliency(w_star: np.ndarray, a_inv: np.ndarray, G: int, I: int, taps: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """OBS cost of removing each unit: main (O//G, I), tail (O%G, I).

    w_star (O, I*taps[+1 bias]) the unpruned optimum; a_inv the inverse of its Hessian.
    """
    O = w_star.shape[0]
    n = I * taps
    if taps == 1:
        d = np.diag(a_inv)[:n]
        per = w_star[:, :n] ** 2 / d[None]                          # (O, I)
    else:
        blocks = a_inv[:n, :n].reshape(I, taps, I, taps)[np.arange(I), :, np.arange(I), :]  # (I, t, t)
        binv = np.linalg.inv(blocks)
        wb = w_star[:, :n].reshape(O, I, taps)
        per = np.einsum("oit,its,ois->oi", wb, binv, wb)
    full = O // G * G
    return per[:full].reshape(-1, G, per.shape[1]).sum(axis=1), per[full:]


def select_mask(main: np.ndarray, tail: np.ndarray, G: int, n_main: int, n_tail: int) -> np.ndarray:
    """(O, I) True for the n_main/n_tail units with the lowest saliency."""
    I = main.shape[1] if main.size else tail.shape[1]
    O = main.shape[0] * G + tail.shape[0]
    mask = np.zeros((O, I), bool)
    if n_main:
        m = np.zeros(main.size, bool)
        m[np.argsort(main.ravel(), kind="stable")[:n_main]] = True
        mask[:main.shape[0] * G] = np.repeat(m.reshape(-1, I), G, axis=0)
    if n_tail:
        t = np.zeros(tail.size, bool)
        t[np.argsort(tail.ravel(), kind="stable")[:n_tail]] = True
        mask[main.shape[0] * G:] = t.reshape(-1, I)
    return mask


def ridge_refit(a: np.ndarray, rhs: np.ndarray, w_star: np.ndarray, a_inv: np.ndarray,
                keep_cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact minimiser over the kept columns for output rows `rows` (sharing one kept set).

    a = X X^T + lambda I, rhs = X T^T + lambda W_d^T (columns x outputs). Solves the
    kept block directly, or -- when fewer columns go than stay -- corrects the
    unconstrained optimum w_star by the OBS update for the removed set, whichever
    system is smaller. Both are the same quadratic's exact constrained minimum.
    """
    K = np.flatnonzero(keep_cols)
    R = np.flatnonzero(~keep_cols)
    out = np.zeros((len(rows), a.shape[0]))
    if len(K) == 0:
        return out
    if len(R) == 0:
        return w_star[rows].copy()
    if len(R) < len(K):
        corr = np.linalg.solve(a_inv[np.ix_(R, R)], w_star[np.ix_(rows, R)].T)     # (|R|, g)
        out = w_star[rows] - corr.T @ a_inv[R, :]
        out[:, R] = 0.0
        return out
    out[:, K] = np.linalg.solve(a[np.ix_(K, K)], rhs[np.ix_(K, rows)]).T
    return out


def _damped(h: np.ndarray, lam: float) -> np.ndarray:
    """h + lam * I, in place: bit for bit the same (off the diagonal h + 0.0, which makes -0.0
    +0.0), without two more (cols x cols) float64 matrices."""
    h += 0.0
    h[np.diag_indices_from(h)] += lam
    return h


def fit_layer(w_dense: np.ndarray, b_dense: np.ndarray | None, x: np.ndarray, target: np.ndarray,
              G: int, n_main: int, n_tail: int, *, damp: float = DAMP, score: str = "obs") -> Fit:
    """Prune one layer (n_main groups + n_tail tail units) and re-fit it on calibration data.

    w_dense (O, I, kh, kw), b_dense (O,) or None, x (I*kh*kw, m) sampled inputs of the
    layer in the pruned-so-far network, target (O, m) the dense network's pre-activation
    output at the same pixels. score="l2" keeps the plain magnitude choice (re-fit only).
    """
    O, I, kh, kw = w_dense.shape
    taps = kh * kw
    wd = w_dense.reshape(O, -1).astype(np.float64)
    xs = x.astype(np.float64)
    if b_dense is not None:
        wd = np.concatenate([wd, b_dense.astype(np.float64)[:, None]], axis=1)
        xs = np.concatenate([xs, np.ones((1, xs.shape[1]))], axis=0)
    t = target.astype(np.float64)
    h = xs @ xs.T
    lam = damp * float(np.mean(np.diag(h))) or damp
    a = _damped(h, lam)
    del h
    rhs = xs @ t.T + lam * wd.T
    a_inv = np.linalg.inv(a)
    w_star = (a_inv @ rhs).T                                          # (O, cols)

    def rel_error(w):
        r = t - w @ xs
        denom = float(np.sum((t - t.mean(axis=1, keepdims=True)) ** 2)) or 1.0
        return float(np.sum(r * r)) / denom

    plain_mask = prune_mask(w_dense, G, n_main, n_tail)
    w_plain = wd.copy()
    w_plain[:, :I * taps].reshape(O, I, taps)[plain_mask] = 0.0
    if score == "l2":
        mask = plain_mask
    else:
        main, tail = unit_saliency(w_star, a_inv, G, I, taps)
        mask = select_mask(main, tail, G, n_main, n_tail)
    w_new = np.empty_like(wd)
    bias_col = np.ones(1, bool) if b_dense is not None else np.zeros(0, bool)
    full = O // G * G
    row_sets = [np.arange(g, g + G) for g in range(0, full, G)] + [np.array([r]) for r in range(full, O)]
    for rows in row_sets:
        keep = np.concatenate([np.repeat(~mask[rows[0]], taps), bias_col])
        w_new[rows] = ridge_refit(a, rhs, w_star, a_inv, keep, rows)
    weights = w_new[:, :I * taps].reshape(O, I, kh, kw).astype(np.float32)
    weights[mask] = 0.0
    bias = w_new[:, -1].astype(np.float32) if b_dense is not None else None
    return Fit(weights, bias, mask, rel_error(w_plain), rel_error(w_new))


# ---------------------------------------------------------------------------- the driver

@dataclass
class _Layer:
    conv: ConvInfo
    tensor: str                                  # name of its input tensor
    scale: np.ndarray                            # RMS of each input channel (current order)
    pos: np.ndarray | None = None                # sampled (image, oy, ox)
    in_shape: tuple | None = None                # (C, H, W) of its input
    x_dense: np.ndarray | None = None            # (I*taps, m) in the rearranged dense model
    x_pruned: np.ndarray | None = None           # the same pixels in the pruned-so-far model
    stats: dict = field(default_factory=dict)


class Calibrator:
    """Holds calibration activations for the chosen layers of one conversion."""

    def __init__(self, model: Model, chosen: list[ConvInfo], inputs: np.ndarray, *, damp: float = DAMP,
                 score: str = "obs", progress: bool = True):
        self.model = model
        self.inputs = inputs
        self.damp = damp
        self.score = score
        self.progress = progress
        self.probe = Probe(input_name(model))
        self.where = str(model.path)
        self.layers: dict[str, _Layer] = {}
        self.order = [c for c in model.convs if c.name in {k.name for k in chosen}]
        tensors = [model.tensor_names[model.ops[c.op_index].inputs[0]] for c in self.order]
        sums = [np.zeros(c.in_channels) for c in self.order]
        outs: list[np.ndarray] = []

        def sink(start, arrays):
            for s, a in zip(sums, arrays[:len(self.order)]):
                s += np.einsum("nchw,nchw->c", a, a, dtype=np.float64)
            outs.append(np.concatenate([o.reshape(o.shape[0], -1) for o in arrays[len(self.order):]], axis=1))

        self.probe.run(model.path, inputs, tensors + list(model.output_names), self.where, sink)
        self.reference_output = np.concatenate(outs)
        for c, tname, s in zip(self.order, tensors, sums):
            # RMS of each input channel relative to the layer's mean (only ratios matter)
            mean = s.mean()
            self.layers[c.name] = _Layer(c, tname, np.sqrt(s / mean) if mean > 0 else np.ones_like(s))
        self.records: dict[str, dict] = {}

    # -- hooks for allocation and rearrangement (called before reconstruct)
    def units(self, name: str, w: np.ndarray, G: int) -> Units:
        """Units whose energies are sum over taps of w^2 * E[x_i^2]: the output energy each carries."""
        return Units.of(self.scaled(name, w), G)

    def scaled(self, name: str, w: np.ndarray) -> np.ndarray:
        s = self.layers[name].scale
        return w * s[None, :, None, None].astype(np.float32)

    def permute_inputs(self, name: str, perm: np.ndarray) -> None:
        if name in self.layers:
            self.layers[name].scale = self.layers[name].scale[perm]

    # -- statistics of the dense model, for allocation (sensitivity.py)
    def capture_dense(self, model_bytes: Path | bytes) -> None:
        """x_dense of every layer: its sampled input columns in the model as given."""
        self._capture(model_bytes, self.order, dense=True)

    def output_damage(self, model_bytes: Path | bytes, samples: int) -> float:
        """Relative squared error of the model's outputs vs the input model's, on the first samples."""
        x = self.inputs[:samples]
        outs: list[np.ndarray] = []
        self.probe.run(model_bytes, x, list(self.model.output_names), self.where,
                       lambda start, arrays: outs.append(
                           np.concatenate([o.reshape(o.shape[0], -1) for o in arrays], axis=1)))
        got = np.concatenate(outs).astype(np.float64)
        ref = self.reference_output[:samples].astype(np.float64)
        return float(np.sum((got - ref) ** 2) / max(float(np.sum(ref ** 2)), 1e-30))

    def columns_after(self, name: str, first: int) -> np.ndarray:
        """Mask of the layer's sampled columns from inputs `first` onwards (held out from the first)."""
        return self.layers[name].pos[:, 0] >= first

    def output_size(self, c: ConvInfo) -> tuple[int, int]:
        """(out_h, out_w) of layer c on the calibration inputs (after capture_dense)."""
        _, H, W = self.layers[c.name].in_shape
        oh, ow, _, _ = conv_geometry(c, H, W)
        return oh, ow

    # -- the sequential pass
    def reconstruct(self, W: dict, B: dict, counts: dict, G: dict[str, int],
                    write_dense: Callable[[dict, dict], ContextManager[Path]]) -> dict:
        """Prune and re-fit every calibrated layer in place in W/B; returns per-layer records.
        write_dense(W, B) gives the model with the current W/B, every layer dense, as a file."""
        order = [c for c in self.order if c.name in counts]
        if not order:
            return {}
        with _one_blas_thread():
            return self._reconstruct(order, W, B, counts, G, write_dense)

    def _reconstruct(self, order, W, B, counts, G, write_dense) -> dict:
        with write_dense(W, B) as dense:
            self._capture(dense, order, dense=True)
        bar = progress_bar(order, self.progress, "calibrating", "layer")
        changed = False
        for c in bar:
            lay = self.layers[c.name]
            if changed:
                with write_dense(W, B) as pruned:
                    self._capture(pruned, [c], dense=False)
                x = lay.x_pruned
                lay.x_pruned = None
            else:
                x = lay.x_dense
            w_d = np.array(W[c.name], dtype=np.float32)
            b_d = None if B[c.name] is None else np.array(B[c.name], dtype=np.float32)
            target = w_d.reshape(w_d.shape[0], -1).astype(np.float64) @ lay.x_dense.astype(np.float64)
            if b_d is not None:
                target += b_d[:, None]
            n_main, n_tail = counts[c.name]
            fit = fit_layer(w_d, b_d, x, target, G[c.name], n_main, n_tail, damp=self.damp, score=self.score)
            W[c.name] = fit.weights
            if b_d is not None:
                B[c.name] = fit.bias
            lay.x_dense = None          # free memory as we go
            self.records[c.name] = {"error_plain": fit.error_plain, "error_calibrated": fit.error,
                                    "columns": int(x.shape[1])}
            changed = True
        return self.records

    def _capture(self, model_bytes: Path | bytes, layers: list[ConvInfo], dense: bool) -> None:
        names = [self.layers[c.name].tensor for c in layers]
        cols: dict[str, list] = {c.name: [] for c in layers}

        def sink(start, arrays):
            for c, a in zip(layers, arrays):
                lay = self.layers[c.name]
                if lay.pos is None:
                    lay.pos = self._positions(c, a.shape)
                    lay.in_shape = tuple(a.shape[1:])
                sel = lay.pos[(lay.pos[:, 0] >= start) & (lay.pos[:, 0] < start + a.shape[0])]
                local = sel.copy()
                local[:, 0] -= start
                cols[c.name].append(im2col(a, c, local))

        self.probe.run(model_bytes, self.inputs, names, self.where, sink)
        for c in layers:
            x = np.concatenate(cols[c.name], axis=1)
            if dense:
                self.layers[c.name].x_dense = x
            else:
                self.layers[c.name].x_pruned = x

    def _positions(self, c: ConvInfo, shape) -> np.ndarray:
        n, C, H, W = shape
        n = self.inputs.shape[0]
        oh, ow, _, _ = conv_geometry(c, H, W)
        total = n * oh * ow
        rows = C * c.kernel[0] * c.kernel[1] + 1
        m = min(total, max(MIN_COLUMNS, min(MAX_COLUMNS, COLUMNS_PER_ROW * rows)))
        rng = np.random.default_rng(SEED + c.op_index)
        flat = np.sort(rng.choice(total, size=m, replace=False))
        return np.stack([flat // (oh * ow), (flat // ow) % oh, flat % ow], axis=1)


def _one_blas_thread():
    """Many small solves: BLAS threads only contend (10-100x slower on a busy 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
