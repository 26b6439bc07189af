"""Choose a channel permutation that puts similar output channels in the same G-group.

Pruning removes whole groups of G output channels at one input channel, so a group
keeps the most energy when its G channels need the *same* input channels. We try
a few greedy groupings (by the channels' magnitude profiles over the input
channels, and by which input channels each would keep under element-wise pruning
at the layer's sparsity), score each by the energy actually retained at the
layer's fixed number of pruned units, and keep the best -- or the identity when
nothing beats it, so rearrangement never lowers retained energy.
"""
from __future__ import annotations

import numpy as np

from .groups import Units, channel_energy


def _greedy_groups(profile: np.ndarray, strength: np.ndarray, G: int) -> np.ndarray:
    """Seed each group with the strongest remaining channel, then add the G-1 channels
    closest (cosine) to the group's running profile."""
    C = profile.shape[0]
    norm = np.linalg.norm(profile, axis=1, keepdims=True)
    unit = profile / np.where(norm > 0, norm, 1)
    sim_all = unit @ unit.T                      # cosine similarity of every channel pair
    remaining = np.ones(C, bool)
    order = []
    by_strength = iter(np.argsort(-strength, kind="stable"))
    for _ in range(C // G):
        seed = next(s for s in by_strength if remaining[s])
        remaining[seed] = False
        members = [seed]
        sim = sim_all[seed].copy()               # similarity to the group's summed profile
        for _ in range(G - 1):
            cand = np.where(remaining, sim, -np.inf)
            j = int(np.argmax(cand))
            remaining[j] = False
            members.append(j)
            sim += sim_all[j]
        order.extend(members)
    order.extend(np.flatnonzero(remaining).tolist())  # tail channels (C mod G)
    return np.asarray(order, dtype=np.int64)


def retained(weights: list[np.ndarray], G, counts: list[tuple[int, int]], perm=None) -> float:
    """Energy kept by the producers at their counts; G one size for all or one per producer."""
    Gs = G if isinstance(G, (list, tuple)) else [G] * len(weights)
    total = 0.0
    for w, g, (n_main, n_tail) in zip(weights, Gs, counts):
        total += Units.of(w if perm is None else w[perm], g).retained(n_main, n_tail)
    return total


def choose_permutation(weights: list[np.ndarray], G, counts: list[tuple[int, int]]):
    """weights: the pruned producers of one component (same output channels); G one size
    or one per producer (groups are formed for the largest: its groups hold whole smaller ones).

    Returns (perm or None for identity, retained energy with it, with identity).
    """
    base = retained(weights, G, counts)
    Gs = G if isinstance(G, (list, tuple)) else [G] * len(weights)
    G = max(Gs)
    if G == 1 or weights[0].shape[0] < 2 * G or all(m == 0 and t == 0 for m, t in counts):
        return None, base, base
    energies = [channel_energy(w) for w in weights]          # each (C, I_l)
    strength = sum(e.sum(axis=1) for e in energies)
    candidates = [np.concatenate([np.sqrt(e) for e in energies], axis=1)]
    masks = []
    for e, w, g, (n_main, n_tail) in zip(energies, weights, Gs, counts):
        pruned = (n_main * g + n_tail) / max(e.size, 1)
        thr = np.quantile(e, min(max(pruned, 0.0), 1.0)) if e.size else 0.0
        masks.append((e > thr).astype(np.float64))
    candidates.append(np.concatenate(masks, axis=1))
    best, best_val = None, base
    for profile in candidates:
        perm = _greedy_groups(profile, strength, G)
        val = retained(weights, Gs, counts, perm)
        if val > best_val * (1 + 1e-12):
            best, best_val = perm, val
    return best, best_val, base


def rearrange_network(work, calib, report, progress: bool) -> None:
    """The rearrange stage: choose and apply one permutation per component of the graph.

    The permutation goes through producers' rows and biases, depthwise convs,
    per-channel constants and the consumers' input columns, so the network keeps
    its function (proved in stock MNN right after: self_check.py).
    """
    from .graph_perm import components
    from .progress import bar

    comps = components(work.model, {n for n, k in work.counts.items() if k != (0, 0)})
    for comp in bar(comps, progress, "rearranging", "component"):
        info = {"seed": comp.producers[0].name if comp.producers else None,
                "producers": [p.name for p in comp.producers]}
        report.components.append(info)
        if comp.blocked:
            info["decision"] = f"identity: {comp.blocked}"
            continue
        pruned = [p for p in comp.producers if p.name in work.counts]
        weights = [calib.scaled(p.name, work.W[p.name]) if calib else work.W[p.name] for p in pruned]
        perm, val, base = choose_permutation(weights, [work.G[p.name] for p in pruned],
                                             [work.counts[p.name] for p in pruned])
        info.update(retained=val, retained_identity=base)
        if perm is None:
            info["decision"] = "identity: no grouping retains more energy"
            continue
        info["decision"] = "permuted"
        _apply(work, comp, perm, calib)
        work.drop_pages()       # the input's pages of this component: its copies are permuted now


def _apply(work, comp, perm: np.ndarray, calib) -> None:
    W, B = work.W, work.B
    for conv in [*comp.producers, *comp.depthwise]:
        W[conv.name] = W[conv.name][perm]
        work.out_order[conv.name] = work.out_order.get(conv.name, np.arange(len(perm)))[perm]
        if B[conv.name] is not None and len(B[conv.name]) == len(perm):
            B[conv.name] = B[conv.name][perm]
        work.permuted.add(conv.name)
    work.out_permuted.update(p.name for p in comp.producers)
    for k in comp.consumers:
        W[k.name] = W[k.name][:, perm]
        work.in_order[k.name] = work.in_order.get(k.name, np.arange(len(perm)))[perm]
        work.permuted.add(k.name)
        if calib:
            calib.permute_inputs(k.name, perm)
    for op, vals in comp.constants:
        current = work.const_edits[op.index][1] if op.index in work.const_edits else np.array(vals)
        work.const_edits[op.index] = (op, current[perm])


def group_identical_patterns(patterns: np.ndarray, G: int) -> np.ndarray:
    """A permutation putting output channels with identical zero patterns (rows) next to
    each other, whole groups of G first: how groups pruned in some other channel order
    (a model trained with masks) become consecutive again."""
    clusters: dict[bytes, list[int]] = {}
    for c, row in enumerate(np.packbits(patterns, axis=1)):
        clusters.setdefault(row.tobytes(), []).append(c)
    whole, rest = [], []
    for members in clusters.values():
        n = len(members) // G * G
        whole += members[:n]
        rest += members[n:]
    return np.asarray(whole + rest, dtype=np.int64)


def regroup_network(work, report) -> None:
    """The detect mode's rearrangement: make groups that training left scattered consecutive."""
    from .graph_perm import components
    from .groups import group_shape

    def shaped(names, perm=None):
        return sum(group_shape(work.W[n] if perm is None else work.W[n][perm], work.G[n])["group_sparsity"]
                   * work.W[n].size for n in names)

    chosen = {c.name for c in work.chosen}
    for comp in components(work.model, chosen):
        names = [p.name for p in comp.producers if p.name in chosen]
        info = {"seed": comp.producers[0].name if comp.producers else None, "producers": names}
        report.components.append(info)
        if comp.blocked or not names:
            info["decision"] = f"identity: {comp.blocked or 'no chosen producer'}"
            continue
        zero = np.concatenate([~(work.W[n] != 0).any(axis=(2, 3)) for n in names], axis=1)
        perm = group_identical_patterns(zero, max(work.G[n] for n in names))
        if shaped(names, perm) <= shaped(names) * (1 + 1e-12):
            info["decision"] = "identity: no regrouping shapes more zeros"
            continue
        info["decision"] = "permuted"
        _apply(work, comp, perm, None)
