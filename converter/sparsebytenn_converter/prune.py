"""The prune-and-fit stages: how much each layer loses, then which units and what stays.

plan_sparsity() turns the options into a count of units per layer (allocate.py);
prune_and_fit() removes them -- by weight magnitude, or with calibration inputs by
the output error they cost, re-fitting what stays (reconstruct.py). detect_groups()
is the detect mode's counterpart: it prunes nothing and tags layers whose zeros
already form groups.
"""
from __future__ import annotations

import numpy as np

from .allocate import allocate, allocate_by_damage, counts_of
from .encode import dense_model
from .errors import ModelError
from .groups import MIN_TAG_SPARSITY, Units, group_shape, prune_mask
from .options import AUTO_MIN_SPEEDUP, ConvertOptions
from .progress import bar as progress_bar
from .work import Work

DETECT_MIN_SHAPED = 0.9            # share of a layer's zeros that must lie in whole groups


def plan_sparsity(work: Work, opts: ConvertOptions, calib, report) -> None:
    """work.counts: (main groups, tail units) to prune in each chosen layer (and work.G)."""
    if opts.by_damage:
        plan_by_damage(work, opts, calib, report)
        return
    units = {}
    for c in work.chosen:
        units[c.name] = (calib.units if calib else _plain_units)(c.name, work.W[c.name], work.G[c.name])
        work.drop_pages()       # one layer's weights in memory at a time, not the whole input
    sizes = {c.name: work.W[c.name].size for c in work.chosen}
    work.counts = allocate(units, sizes, opts.sparsity or 0.0, per_layer=opts.per_layer,
                           min_keep=opts.min_keep, overrides=opts.overrides)
    if (opts.sparsity or 0.0) > 1.0 - opts.min_keep + 1e-9:
        report.warnings.append(
            f"warning: --sparsity {opts.sparsity:g} is more than --min-keep {opts.min_keep:g} lets a layer lose "
            f"({1.0 - opts.min_keep:.0%}): layers stop there; lower --min-keep to prune further")
    work.retained_identity = _retained_identity(work)


def plan_by_damage(work: Work, opts: ConvertOptions, calib, report) -> None:
    """Per-layer (G, sparsity) with the least measured damage at the sparsity, above the speed floor."""
    from . import sensitivity as sens

    if calib is None:
        raise ModelError("--group auto / --target-speedup measure damage on calibration inputs: "
                         "do not combine them with --rearrange-only")
    with dense_model(work) as dense:
        calib.capture_dense(dense)
    pool = [c for c in work.chosen if c.name not in opts.overrides]
    probe_s = opts.sparsity if opts.sparsity else 0.3
    probe_n = sens.probe_images(calib.inputs.shape[0])
    curves = {}
    for c in progress_bar(pool, opts.progress, "measuring sensitivity", "layer"):
        w, b, x = work.W[c.name], work.B[c.name], calib.layers[c.name].x_dense
        lc = sens.layer_curves(c.name, w, b, x, opts.groups, calib.damp)
        lc.probe = (max(opts.groups), probe_s)

        def run_with(wp, bp, name=c.name):
            saved = work.W[name], work.B[name]
            work.W[name], work.B[name] = wp, (bp if bp is not None else saved[1])
            work.counts[name] = (1, 0)           # mark it changed so encode writes it
            try:
                with dense_model(work) as pruned:
                    return calib.output_damage(pruned, probe_n)
            finally:
                work.W[name], work.B[name] = saved
                del work.counts[name]

        fit_x = x[:, calib.columns_after(c.name, probe_n)]
        lc.probe_damage = sens.probe_damage(lc, w, b, fit_x, calib.damp, run_with)
        for s2 in sorted({min(probe_s * k, sens.MAX_PROBE_SPARSITY) for k in sens.MORE_PROBES} - {probe_s}):
            lc.more_probes.append((s2, sens.probe_damage(lc, w, b, fit_x, calib.damp, run_with, s2)))
        curves[c.name] = lc
    tm = time_model(work, opts, calib, pool)
    floor, floor_rule = speed_floor(opts, tm, list(curves))
    choice, facts = allocate_by_damage(curves, opts.groups, opts.sparsity, tm, floor,
                                       max_sparsity=1.0 - opts.min_keep)
    shapes = {n: work.W[n].shape for n in choice}
    work.counts = counts_of(choice, shapes)
    for n, (G, _) in choice.items():
        work.G[n] = G
    for name, s in opts.overrides.items():
        work.counts[name] = counts_of({name: (work.G[name], s)}, {name: work.W[name].shape})[name]
    work.retained_identity = _retained_identity(work)
    report.allocation = {
        "method": "measured damage (sensitivity.py) under a modelled speed floor",
        "groups": list(opts.groups), "min_speedup": round(floor, 3),
        "min_speedup_rule": floor_rule,
        "speed_table": tm.table.source, "speed_table_cpu": tm.table.cpu_model,
        "stock_ms": round(tm.stock_total, 3), "stock_profile": tm.stock_source,
        "modelled_speedup": round(facts["speedup"], 3), "predicted_damage": facts["damage"],
        "layers": {n: {"G": G, "sparsity": s, "probe_damage": curves[n].probe_damage,
                       "more_probes": [list(p) for p in curves[n].more_probes]}
                   for n, (G, s) in choice.items()}}
    if opts.sparsity and abs(facts["sparsity"] - opts.sparsity) > 0.01:
        report.warnings.append(
            f"warning: the pruned layers reached {facts['sparsity']:.1%} sparsity, not {opts.sparsity:.0%}: "
            "per-layer choices move in whole steps (2.5 % of a layer) and the speed floor may need more; "
            "give --group G for an exact target")
    if not facts["feasible"]:
        report.warnings.append(
            f"warning: no choice of groups reaches the modelled speed-up {floor:.2f}x at sparsity "
            f"{opts.sparsity:g} (fastest: {facts['speedup']:.2f}x): raise --sparsity or lower --target-speedup")


def speed_floor(opts: ConvertOptions, tm, names: list[str]) -> tuple[float, str]:
    """The modelled end-to-end speed-up allocate_by_damage must keep, and how it was set:
    --target-speedup when given, else (--group auto) the larger of AUTO_MIN_SPEEDUP and
    --sparsity times the speed-up of the target's G at --sparsity in every layer of the pool."""
    if opts.target_speedup is not None:
        return opts.target_speedup, "--target-speedup"
    s = opts.sparsity or 0.0
    reference = tm.speedup({n: (opts.G, s) for n in names})
    floor = max(AUTO_MIN_SPEEDUP, s * reference)
    return floor, (f"--group auto: the larger of {AUTO_MIN_SPEEDUP:g}x and {s:.0%} of G={opts.G} "
                   f"at {s:.0%} in every layer ({reference:.2f}x modelled)")


def time_model(work: Work, opts: ConvertOptions, calib, pool):
    from .fidelity import model_input_shape
    from .speed_model import (TAKEOVER_KINDS, SpeedTable, TimeModel, default_table, dense_ops, host_isa,
                              plugin_takes, stock_profile)

    isa, cpu = host_isa()
    if opts.speed_table is not None:
        table = SpeedTable.load(opts.speed_table)
    else:
        table = default_table(isa, cpu) if opts.resolved_target == "x86" else None
        if table is None:
            raise ModelError(f"--group auto / --target-speedup need the kernels' speeds for target "
                             f"{opts.resolved_target}: measure them there with `sparsebytenn bench speed-table "
                             "--json FILE` and pass --speed-table FILE")
    shape = model_input_shape(work.model) or tuple(calib.inputs.shape[1:])
    stock, source = stock_profile(work.model.path, shape)
    macs, hw, fan_in = {}, {}, {}
    for c in pool:
        oh, ow = calib.output_size(c)
        O, I, kh, kw = work.W[c.name].shape
        macs[c.name] = O * I * kh * kw * oh * ow
        hw[c.name] = int(round((oh * ow) ** 0.5))
        fan_in[c.name] = I * kh * kw
    dense = {kind: dense_ops(work.model, kind, stock) for kind in TAKEOVER_KINDS
             if opts.resolved_target == "x86" and plugin_takes(kind, isa)}
    return TimeModel(table, stock, macs, hw, fan_in, source, dense)


def _retained_identity(work: Work) -> dict[str, float]:
    out = {}
    for n, k in work.counts.items():
        out[n] = Units.of(work.W[n], work.G[n]).retained(*k)
        work.drop_pages()
    return out


def _plain_units(name: str, w, G: int) -> Units:
    return Units.of(w, G)


def prune_and_fit(work: Work, opts: ConvertOptions, calib, report) -> None:
    """Zero the planned units (and with calibration, re-fit the kept weights and biases)."""
    if opts.rearrange_only:
        return
    if calib:
        report.calibration.update(samples=int(calib.inputs.shape[0]),
                                  layers=calib.reconstruct(work.W, work.B, work.counts, work.G,
                                                           lambda W, B: dense_model(work)))
    else:
        for c in work.chosen:
            w = work.W[c.name].copy()
            work.drop_pages()       # the pages the copy was read from
            # (w[mask] = 0 would build two int64 index arrays of all pruned positions first)
            np.copyto(w, 0.0, where=prune_mask(w, work.G[c.name], *work.counts[c.name])[:, :, None, None])
            work.W[c.name] = w
    if opts.format == "sparse":
        tag_layers_that_pay(work, report, packing_table(opts))


def packing_table(opts: ConvertOptions):
    """The speed table whose costs the plugin's packing choice follows (x86 targets), else None."""
    if opts.resolved_target != "x86":
        return None
    from .speed_model import SpeedTable, default_table, host_isa

    return SpeedTable.load(opts.speed_table) if opts.speed_table is not None else default_table(*host_isa())


def packing_group(table, w: np.ndarray, G: int) -> tuple[int, float]:
    """(G', its group sparsity): the group size the plugin packs a layer pruned in groups of G
    with on x86, by the table's packing rule (SpeedTable.packing_group, the same as
    sbnn_gsparse_fastest_group's)."""
    fan_in = w.shape[1] * w.shape[2] * w.shape[3]
    g = table.packing_group(G, fan_in, lambda g: 1.0 - group_shape(w, g)["group_sparsity"])
    return g, group_shape(w, g)["group_sparsity"]


def tag_layers_that_pay(work: Work, report, table=None) -> None:
    """Tag the pruned layers with at least MIN_TAG_SPARSITY in whole groups as the plugin will
    pack them; the rest stay dense. A layer pruned in small groups that the plugin would pack
    in wider, nearly all kept groups (a G=1 layer at 30 %: as G=8, every group kept) runs no
    faster tagged there, while stock MNN runs it on its element-wise sparse kernel (MobileNet-V1
    at 30 %, every layer G=1: 1.9x slower than dense): such layers stay dense too."""
    for c in work.chosen:
        w, G = work.W[c.name], work.G[c.name]
        gs = group_shape(w, G)["group_sparsity"]
        runs_as, runs_gs = packing_group(table, w, G) if table is not None and gs >= MIN_TAG_SPARSITY else (G, gs)
        if runs_gs >= MIN_TAG_SPARSITY:
            work.tagged.add(c.name)
        else:
            report.kept_dense.append({"name": c.name, "G": G, "group_sparsity": gs, "runs_as": runs_as,
                                      "runs_as_sparsity": runs_gs})
    if not work.tagged:
        report.warnings.append(
            f"warning: no layer reached {MIN_TAG_SPARSITY:.0%} sparsity in whole groups, so none is tagged and "
            "the output runs as fast as the input: raise --sparsity")


def detect_groups(work: Work, report) -> None:
    """Tag the layers whose zeros already form whole groups (a model pruned in training)."""
    for c in work.chosen:
        G = work.G[c.name]
        gs = group_shape(work.W[c.name], G)
        if gs["group_sparsity"] >= MIN_TAG_SPARSITY and gs["shaped_fraction"] >= DETECT_MIN_SHAPED:
            work.tagged.add(c.name)
        elif gs["zero_fraction"] >= MIN_TAG_SPARSITY:
            report.not_group_shaped.append({"name": c.name, **gs})
    if not work.tagged:
        G = report.G
        raise ModelError(f"{work.model.path}: --detect found no layer whose zeros form G={G} groups"
                         + (f" ({len(report.not_group_shaped)} sparse but not group-shaped)"
                            if report.not_group_shaped else ""))
