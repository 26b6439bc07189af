"""How many units each layer loses: global ranking, per-layer, overrides, min-keep.

Global mode ranks every unit of every pruned layer by its mean square weight and
removes the weakest until S of the pool's weights are gone, never taking a layer
below `min_keep` of its weights (the collapse guard). Per-layer mode removes S of
each layer. `--layer NAME=S` layers get exactly their own S and leave the pool.
The result is a count of main groups and tail units per layer, so rearrangement
can later choose *which* units go without changing any layer's sparsity.
"""
from __future__ import annotations

import numpy as np

from .groups import Units


def _sorted_units(u: Units):
    sm, st = u.scores()
    scores = np.concatenate([sm, st])
    sizes = np.concatenate([np.full(sm.size, u.G * u.taps), np.full(st.size, u.taps)])
    is_main = np.concatenate([np.ones(sm.size, bool), np.zeros(st.size, bool)])
    order = np.argsort(scores, kind="stable")
    return scores[order], np.cumsum(sizes[order]), is_main[order]


def _counts(is_main_sorted: np.ndarray, n: int) -> tuple[int, int]:
    m = int(is_main_sorted[:n].sum())
    return m, n - m


def _closest_prefix(cum: np.ndarray, target: float, cap: float) -> int:
    """Number of weakest units whose size is closest to target, within the cap (a target beyond
    the cap: the most the cap allows, not nothing)."""
    target = min(target, cap)
    n = int(np.searchsorted(cum, target))  # first prefix reaching the target
    best = 0
    for k in (n - 1, n, n + 1):
        if 0 <= k <= len(cum) and (cum[k - 1] if k else 0) <= cap:
            if abs((cum[k - 1] if k else 0) - target) < abs((cum[best - 1] if best else 0) - target):
                best = k
    return best


def allocate(units: dict[str, Units], sizes: dict[str, int], sparsity: float, *, per_layer: bool,
             min_keep: float, overrides: dict[str, float]) -> dict[str, tuple[int, int]]:
    """name -> (main groups to prune, tail units to prune)."""
    out = {}
    prepared = {name: _sorted_units(u) for name, u in units.items()}
    pool = [n for n in units if n not in overrides]
    for name, s in overrides.items():
        _, cum, im = prepared[name]
        out[name] = _counts(im, _closest_prefix(cum, s * sizes[name], sizes[name]))
    caps = {n: (1.0 - min_keep) * sizes[n] for n in pool}
    if per_layer or not pool:
        for name in pool:
            _, cum, im = prepared[name]
            out[name] = _counts(im, _closest_prefix(cum, sparsity * sizes[name], caps[name]))
        return out

    target = sparsity * sum(sizes[n] for n in pool)

    def pruned_at(tau: float) -> dict[str, int]:
        res = {}
        for n in pool:
            sc, cum, _ = prepared[n]
            k = int(np.searchsorted(sc, tau, side="right"))
            k = min(k, int(np.searchsorted(cum, caps[n], side="right")))
            res[n] = k
        return res

    def weight(counts):
        return sum(float(prepared[n][1][k - 1]) if k else 0.0 for n, k in counts.items())

    all_scores = np.unique(np.concatenate([prepared[n][0] for n in pool]))
    lo, hi = -1, len(all_scores) - 1  # smallest score index whose prefix reaches the target
    if sparsity <= 0 or len(all_scores) == 0:
        for n in pool:
            out[n] = (0, 0)
        return out
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if weight(pruned_at(all_scores[mid])) >= target:
            hi = mid
        else:
            lo = mid
    counts = pruned_at(all_scores[hi])
    # the last score level may overshoot: give back units at exactly that score
    over = weight(counts) - target
    if over > 0:
        tau = all_scores[hi]
        for n in pool:
            sc, cum, _ = prepared[n]
            while counts[n] and sc[counts[n] - 1] == tau:
                size = cum[counts[n] - 1] - (cum[counts[n] - 2] if counts[n] > 1 else 0)
                if over - size < -size / 2:
                    break
                counts[n] -= 1
                over -= size
    for n in pool:
        out[n] = _counts(prepared[n][2], counts[n])
    return out


def allocate_by_damage(curves: dict, groups, sparsity: float | None, time_model=None,
                       min_speedup: float | None = None, max_sparsity: float = 0.9,
                       step: float = 0.025) -> tuple[dict, dict]:
    """Per layer (G, s) with the least predicted damage (sensitivity.LayerCurves) such that
    the pool's weight sparsity is at least `sparsity` (None: free) and the modelled
    end-to-end speed-up is at least `min_speedup` (None: no floor).

    Lagrangian relaxation: each layer picks argmin damage - alpha * pruned + beta * ms.
    For each time weight beta on a log grid, bisection on alpha finds the least sparsity
    that reaches the target, and a few larger alphas the choices beyond it (a floor can
    be met more cheaply by pruning a large, robust layer further than the target asks);
    the least damaging choice that meets both constraints wins, then single-layer moves
    polish it. Returns (choice {name: (G, s)}, facts {"feasible", "sparsity", "damage",
    "speedup"}).
    """
    names = list(curves)
    total = sum(curves[n].size for n in names)
    grid = np.round(np.arange(0.0, max_sparsity + 1e-9, step), 6)
    opts = {}
    for n in names:
        c = curves[n]
        G_ = np.array([g for g in groups for _ in grid])
        s_ = np.tile(grid, len(groups))
        d_ = np.array([c.damage(g, s) for g, s in zip(G_, s_)])
        t_ = (np.array([time_model.layer_ms(n, g, s) for g, s in zip(G_, s_)]) if time_model is not None
              else np.zeros(len(G_)))
        opts[n] = (G_, s_, d_, s_ * c.size, t_)

    def pick(alpha, beta):
        out = {}
        for n in names:
            G_, s_, d_, p_, t_ = opts[n]
            j = int(np.argmin(d_ - alpha * p_ + beta * t_))
            out[n] = (int(G_[j]), float(s_[j]))
        return out

    def spars(ch):
        return sum(ch[n][1] * curves[n].size for n in names) / total

    def fast_enough(ch):
        return min_speedup is None or time_model is None or time_model.speedup(ch) >= min_speedup

    def damage(ch):
        return float(sum(curves[n].damage(*ch[n]) for n in names))

    def least_alpha(beta):
        """The smallest alpha whose choice at time weight beta reaches the target sparsity."""
        if sparsity is None:
            return 0.0
        lo, hi = -1.0, 1.0
        while spars(pick(lo, beta)) >= sparsity and lo > -1e12:
            lo *= 4
        while spars(pick(hi, beta)) < sparsity:
            hi *= 4
            if hi > 1e12:
                return None
        for _ in range(100):
            mid = (lo + hi) / 2
            if spars(pick(mid, beta)) >= sparsity:
                hi = mid
            else:
                lo = mid
        return hi

    betas = [0.0] if time_model is None or min_speedup is None else [0.0] + [1e-9 * 4.0 ** k for k in range(31)]
    best, fastest = None, None
    for beta in betas:
        alpha = least_alpha(beta)
        if alpha is None:
            continue
        for extra in (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0):
            ch = pick(alpha + extra * max(abs(alpha), 1e-12), beta)
            if sparsity is not None and spars(ch) < sparsity - 1e-9:
                continue
            if fast_enough(ch):
                if best is None or damage(ch) < damage(best):
                    best = ch
            elif time_model is not None and (fastest is None or time_model.speedup(ch) > time_model.speedup(fastest)):
                fastest = ch
    if best is not None:
        best = _refine(best, opts, spars, fast_enough, sparsity)
        budget = None
        if time_model is not None and min_speedup is not None:
            budget = time_model.stock_total / min_speedup - time_model.total({n: best[n] for n in names}) \
                + sum(_at(opts[n], *best[n])[1] for n in names)
        best = _refine_pairs(best, opts, total, sparsity, budget)
        best = _refine(best, opts, spars, fast_enough, sparsity)
    else:                   # infeasible: the fastest choice at the sparsity, said so
        best = fastest or pick(0.0, 1e9)
    facts = {"feasible": fast_enough(best), "sparsity": spars(best), "damage": damage(best)}
    if time_model is not None:
        facts["speedup"] = time_model.speedup(best)
    return best, facts


def _refine(choice: dict, opts: dict, spars, fast_enough, sparsity: float | None, rounds: int = 50) -> dict:
    """Single-layer moves that lower the damage and keep both constraints, best first.

    The Lagrangian moves every layer in whole steps, so it can overshoot the sparsity;
    and a layer's time jumps where it stops being tagged (groups.MIN_TAG_SPARSITY),
    which the relaxation cannot see between its grid points."""
    choice = dict(choice)
    damage = {n: _damage_of(opts[n], *choice[n]) for n in choice}
    for _ in range(rounds):
        gain, move = 1e-12, None
        for n, (G_, s_, d_, _, _) in opts.items():
            for j in np.flatnonzero(d_ < damage[n] - 1e-12):
                trial = dict(choice)
                trial[n] = (int(G_[j]), float(s_[j]))
                if (sparsity is None or spars(trial) >= sparsity - 1e-9) and fast_enough(trial) \
                        and damage[n] - d_[j] > gain:
                    gain, move = damage[n] - d_[j], (n, trial[n], float(d_[j]))
        if move is None:
            return choice
        n, choice[n], damage[n] = move
    return choice


def _refine_pairs(choice: dict, opts: dict, total: int, sparsity: float | None, budget: float | None,
                  rounds: int = 20) -> dict:
    """Moves of two layers at once, best first: one to a less damaging option, the other to
    whatever keeps both constraints for the least damage. Needed where a layer's time is not
    monotone in its sparsity (a small-G layer at low sparsity runs packed in larger groups,
    speed_model.packed_ratio), which neither the relaxation nor single-layer moves can cross.
    budget: the most the pruned layers' modelled times may add up to (None: no floor)."""
    choice = dict(choice)
    names = list(opts)
    at = {n: _at(opts[n], *choice[n]) for n in names}   # (damage, ms, pruned weights)
    for _ in range(rounds):
        pruned = sum(a[2] for a in at.values())
        ms = sum(a[1] for a in at.values())
        gain, move = 1e-12, None
        for n in names:
            G_, s_, d_, p_, t_ = opts[n]
            for j in np.flatnonzero(d_ < at[n][0] - 1e-12):
                for m in names:
                    if m == n:
                        continue
                    Gm, sm, dm, pm, tm = opts[m]
                    p_new = pruned - at[n][2] + p_[j] - at[m][2] + pm
                    t_new = ms - at[n][1] + t_[j] - at[m][1] + tm
                    ok = np.ones(len(dm), bool)
                    if sparsity is not None:
                        ok &= p_new >= sparsity * total - 1e-9 * total
                    if budget is not None:
                        ok &= t_new <= budget + 1e-12
                    if not ok.any():
                        continue
                    k = int(np.flatnonzero(ok)[np.argmin(dm[ok])])
                    g = at[n][0] - d_[j] + at[m][0] - dm[k]
                    if g > gain:
                        gain, move = g, ((n, int(G_[j]), float(s_[j])), (m, int(Gm[k]), float(sm[k])))
        if move is None:
            return choice
        for n, G, s in move:
            choice[n] = (G, s)
            at[n] = _at(opts[n], G, s)
    return choice


def _at(opt, G: int, s: float) -> tuple[float, float, float]:
    """(damage, modelled ms, pruned weights) of option (G, s)."""
    G_, s_, d_, p_, t_ = opt
    j = np.flatnonzero((G_ == G) & np.isclose(s_, s))[0]
    return float(d_[j]), float(t_[j]), float(p_[j])


def _damage_of(opt, G: int, s: float) -> float:
    return _at(opt, G, s)[0]


def counts_of(choice: dict, shapes: dict) -> dict[str, tuple[int, int]]:
    """(G, s) per layer -> (main groups, tail units) to prune; shapes name -> (O, I, kh, kw).

    Rounded up, so a layer never ends below its s: the allocator priced a layer at
    s >= MIN_TAG_SPARSITY as tagged, and one unit short of it would stay in stock MNN."""
    out = {}
    for n, (G, s) in choice.items():
        O, I = shapes[n][:2]
        out[n] = (int(np.ceil(s * (O // G) * I - 1e-9)), int(np.ceil(s * (O % G) * I - 1e-9)))
    return out
