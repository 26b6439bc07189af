"""Which convolutions a conversion may prune or tag, and which it leaves alone, with why.

"first" and "last" in --skip follow the graph, not the file order: the first
layers are the eligible convolutions a graph input reaches without passing
another eligible convolution, the last ones those that reach a graph output that
way (a model with two inputs or two heads has two of each). Shape, Rank and Size
ops carry no data, so paths through them do not count.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .conv_tables import Unsupported, check_carry_over
from .errors import ModelError
from .graph_perm import SHAPE_ONLY
from .model import ConvInfo, Model
from .options import ConvertOptions
from .schema import OpType


@dataclass
class LayerChoice:
    chosen: list[ConvInfo]                         # what the conversion prunes or inspects
    eligible: list[ConvInfo]
    skipped: list[dict] = field(default_factory=list)   # [{"name", "reason"}]


def why_none(skipped: list[dict]) -> str:
    """The skip reasons, so an error says why no layer was left (e.g. NaN weights)."""
    if not skipped:
        return ""
    shown = "; ".join(f"{s['name']}: {s['reason']}" for s in skipped[:4])
    return f" ({shown}{'; ...' if len(skipped) > 4 else ''})"


def _ineligible_reason(model: Model, c: ConvInfo) -> str | None:
    if c.is_depthwise:
        return "depthwise convolutions stay dense"
    if c.op_type != OpType.Convolution:
        return f"{c.type} is not supported"
    if c.conv_groups != 1:
        return f"grouped convolution (group {c.conv_groups})"
    if c.weights is None or len(model.ops[c.op_index].inputs) != 1:
        return f"weights not in the model ({c.storage})"
    if not np.isfinite(c.weights).all():
        return "weights contain NaN or infinity"
    try:
        check_carry_over(c)
    except Unsupported as exc:
        return str(exc)
    return None


def _frontier(model: Model, start_tensors: set[int], stops: set[int], forward: bool) -> list[int]:
    """Op indexes in `stops` reachable from start_tensors without crossing another stop."""
    producer = model.producers()
    consumers = model.consumers()
    seen_ops: set[int] = set()
    hit: list[int] = []
    todo = list(start_tensors)
    seen_tensors = set(todo)
    while todo:
        t = todo.pop()
        nexts = consumers.get(t, []) if forward else ([producer[t]] if t in producer else [])
        for i in nexts:
            if i in seen_ops:
                continue
            seen_ops.add(i)
            if i in stops:
                hit.append(i)
                continue
            op = model.ops[i]
            if op.type in SHAPE_ONLY:     # reads only the shape of its input: no data flows
                continue
            for u in (op.outputs if forward else op.inputs):
                if u not in seen_tensors:
                    seen_tensors.add(u)
                    todo.append(u)
    return hit


def ends_of_graph(model: Model, convs: list[ConvInfo]) -> tuple[list[str], list[str]]:
    """(first, last) among `convs`, by the graph's topology (see the module docstring)."""
    by_op = {c.op_index: c.name for c in convs}
    inputs = {t for op in model.ops if op.type == OpType.Input for t in op.outputs}
    first = _frontier(model, inputs, set(by_op), forward=True)
    last = _frontier(model, model.output_tensors(), set(by_op), forward=False)
    order = {c.name: k for k, c in enumerate(convs)}
    return (sorted({by_op[i] for i in first}, key=order.get),
            sorted({by_op[i] for i in last}, key=order.get))


def choose_layers(model: Model, opts: ConvertOptions) -> LayerChoice:
    eligible, skipped = [], []
    for c in model.convs:
        reason = _ineligible_reason(model, c)
        if reason:
            skipped.append({"name": c.name, "reason": reason})
        else:
            eligible.append(c)
    if not eligible:
        raise ModelError(f"{model.path}: no convolution can be made group-sparse (no group-1 Convolution "
                         "with float weights in the model)" + why_none(skipped))
    names = [c.name for c in eligible]
    unknown = [n for n in opts.overrides if n not in names]
    if unknown:
        raise ModelError(f"--layer {unknown[0]!r}: no such eligible layer; valid names: " + ", ".join(names))

    first, last = ends_of_graph(model, eligible) if {"first", "last"} & set(opts.skip) else ([], [])
    skip_names: set[str] = set()
    for s in opts.skip:
        if s == "none":
            continue
        if s == "first":
            skip_names.update(first)
        elif s == "last":
            skip_names.update(last)
        elif s in names:
            skip_names.add(s)
        else:
            raise ModelError(f"--skip {s!r}: no such eligible layer; use first, last, none or one of: "
                             + ", ".join(names))
    for c in eligible:
        if c.name in skip_names and c.name not in opts.overrides:
            skipped.append({"name": c.name, "reason": "skipped (--skip)"})
    chosen = [c for c in eligible if c.name not in skip_names or c.name in opts.overrides]
    if not chosen:
        raise ModelError(f"{model.path}: every eligible layer is skipped; nothing to convert"
                         + why_none(skipped))
    if opts.prunes and opts.sparsity is None and opts.target_speedup is None:
        chosen = [c for c in chosen if c.name in opts.overrides]
    return LayerChoice(chosen, eligible, skipped)
