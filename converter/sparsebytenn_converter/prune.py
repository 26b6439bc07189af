"""The prune-and-fit stages: how much each layer loses, then which units and what stays.

plan_sparsity() turns the options into a count of units per layer (allocate.py);
prune_and_fit() removes them -- by weight magnitude, or with calibration inputs by
the output error they cost, re-fitting what stays (reconstruct.py). detect_groups()
is the detect mode's counterpart: it prunes nothing and tags layers whose zeros
already form groups.
"""
from __future__ import annotations

from .allocate import allocate
from .encode import encode_dense
from .errors import ModelError
from .groups import Units, group_shape, prune_mask
from .options import ConvertOptions
from .work import Work

DETECT_MIN_GROUP_SPARSITY = 0.05   # below this a layer is not worth tagging
DETECT_MIN_SHAPED = 0.9            # share of a layer's zeros that must lie in whole groups


def plan_sparsity(work: Work, opts: ConvertOptions, calib) -> None:
    """work.counts: (main groups, tail units) to prune in each chosen layer."""
    units = {c.name: (calib.units if calib else _plain_units)(c.name, work.W[c.name], work.G[c.name])
             for c in work.chosen}
    sizes = {c.name: work.W[c.name].size for c in work.chosen}
    work.counts = allocate(units, sizes, opts.sparsity or 0.0, per_layer=opts.per_layer,
                           min_keep=opts.min_keep, overrides=opts.overrides)
    work.retained_identity = {n: Units.of(work.W[n], work.G[n]).retained(*k) for n, k in work.counts.items()}


def _plain_units(name: str, w, G: int) -> Units:
    return Units.of(w, G)


def prune_and_fit(work: Work, opts: ConvertOptions, calib, report) -> None:
    """Zero the planned units (and with calibration, re-fit the kept weights and biases)."""
    if opts.rearrange_only:
        return
    if calib:
        report.calibration = {"samples": int(calib.inputs.shape[0]),
                              "layers": calib.reconstruct(work.W, work.B, work.counts, work.G,
                                                          lambda W, B: encode_dense(work))}
    else:
        for c in work.chosen:
            mask = prune_mask(work.W[c.name], work.G[c.name], *work.counts[c.name])
            work.W[c.name][mask] = 0.0
    if opts.format == "sparse":
        work.tagged = {c.name for c in work.chosen}


def detect_groups(work: Work, report) -> None:
    """Tag the layers whose zeros already form whole groups (a model pruned in training)."""
    for c in work.chosen:
        G = work.G[c.name]
        gs = group_shape(work.W[c.name], G)
        if gs["group_sparsity"] >= DETECT_MIN_GROUP_SPARSITY and gs["shaped_fraction"] >= DETECT_MIN_SHAPED:
            work.tagged.add(c.name)
        elif gs["zero_fraction"] >= DETECT_MIN_GROUP_SPARSITY:
            report.not_group_shaped.append({"name": c.name, **gs})
    if not work.tagged:
        G = report.G
        raise ModelError(f"{work.model.path}: --detect found no layer whose zeros form G={G} groups"
                         + (f" ({len(report.not_group_shaped)} sparse but not group-shaped)"
                            if report.not_group_shaped else ""))
