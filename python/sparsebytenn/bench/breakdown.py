"""Where the time goes: per-op MNN profiles split into the pruned layers and the rest.

When an engine misses its speed-up goal the question is which part missed: the
pruned convolutions themselves (kernel speed vs the ideal 1 / (1 - s) of each
layer) or everything else (depthwise convs, the unpruned first conv and
classifier, pooling, layout conversions), which sparsity cannot speed up. The
profiles are MNN's own per-op timings (runSessionWithCallBackInfo) of each
engine's session, taken after warm-up; the plugin's convolutions are timed as
ops of the same MNN session, so the profiles compare op by op.
"""
from __future__ import annotations

from .prepare import pruned_layers

PRUNED_ENGINES = ("mnn-pruned-dense", "mnn-sparse", "plugin", "plugin-nodw")
COLUMNS = ["model", "threads", "sparsity", "engine", "pruned layers ms", "x", "ideal x",
           "other ops ms", "x other"]


def _pct(s: float) -> str:
    return f"{s * 100:g}%"


def breakdown(result: dict) -> list[dict]:
    """One row per model x threads x sparsity x pruned engine with a profile."""
    rows = []
    for key, profiles in result.get("profiles_ms", {}).items():
        model, _, t = key.rpartition("@")
        threads = int(t.rstrip("T"))
        dense = profiles.get("mnn-dense")
        if not dense:
            continue
        for s_text, layers in result.get("conversions", {}).get(model, {}).items():
            s = float(s_text)
            pruned = {n: v for n, v in pruned_layers(layers).items() if n in dense}
            if not pruned:
                continue
            d_pruned = sum(dense[n] for n in pruned)
            d_other = sum(dense.values()) - d_pruned
            d_ideal = sum(dense[n] * (1.0 - v) for n, v in pruned.items())
            for engine in PRUNED_ENGINES:
                prof = profiles.get(f"{engine}@{_pct(s)}")
                if not prof:
                    continue
                e_pruned = sum(prof.get(n, 0.0) for n in pruned)
                e_other = sum(prof.values()) - e_pruned
                rows.append({
                    "model": model, "threads": threads, "sparsity": s, "engine": engine,
                    "pruned_layers": len(pruned),
                    "dense_pruned_ms": d_pruned, "engine_pruned_ms": e_pruned,
                    "pruned_speedup": d_pruned / e_pruned if e_pruned > 0 else None,
                    "pruned_ideal_speedup": d_pruned / d_ideal if d_ideal > 0 else None,
                    "dense_other_ms": d_other, "engine_other_ms": e_other,
                    "other_speedup": d_other / e_other if e_other > 0 else None,
                })
    return rows


def by_op_type(result: dict) -> list[dict]:
    """The same profiles split by MNN op type and by who ran the ops in the engine's
    session (the bridge or MNN), the pruned convolutions apart from the other convs:
    one row per model x threads x sparsity x pruned engine x (type, runner)."""
    rows = []
    for key, profiles in result.get("profiles_ms", {}).items():
        model, _, t = key.rpartition("@")
        tables = result.get("op_tables", {}).get(key, {})
        dense, dense_types = profiles.get("mnn-dense"), tables.get("mnn-dense")
        if not dense or not dense_types:
            continue
        for s_text, layers in result.get("conversions", {}).get(model, {}).items():
            s = float(s_text)
            pruned = set(pruned_layers(layers))
            for engine in PRUNED_ENGINES:
                label = f"{engine}@{_pct(s)}"
                prof, table = profiles.get(label), tables.get(label)
                if not prof or not table:
                    continue
                groups: dict[tuple, dict] = {}
                for name in dict.fromkeys([*dense, *prof]):
                    info = table.get(name) or dense_types.get(name) or {"type": "?", "plugin": False}
                    kind = info["type"] + (", pruned" if name in pruned else "")
                    g = groups.setdefault((kind, "plugin" if info["plugin"] else "MNN"),
                                          {"ops": 0, "dense_ms": 0.0, "engine_ms": 0.0})
                    g["ops"] += 1
                    g["dense_ms"] += dense.get(name, 0.0)
                    g["engine_ms"] += prof.get(name, 0.0)
                for (kind, runner), g in sorted(groups.items(), key=lambda kv: -kv[1]["dense_ms"]):
                    rows.append({"model": model, "threads": int(t.rstrip("T")), "sparsity": s, "engine": engine,
                                 "op_type": kind, "ran_by": runner, **g,
                                 "speedup": g["dense_ms"] / g["engine_ms"] if g["engine_ms"] > 0 else None})
    return rows


TYPE_COLUMNS = ["model", "threads", "sparsity", "engine", "op type", "ran by", "ops", "ms", "x"]
TYPE_HEADER = ("by op type ('ran by' = who ran those ops in the engine's session: the SparseByteNN "
               "bridge or MNN; ms = mnn-dense -> engine, summed over the ops)")


def type_rows(result: dict) -> list[list[str]]:
    return [[r["model"], str(r["threads"]), _pct(r["sparsity"]), r["engine"], r["op_type"], r["ran_by"],
             str(r["ops"]), f"{r['dense_ms']:.2f} -> {r['engine_ms']:.2f}", _f(r["speedup"])]
            for r in by_op_type(result)]


def _f(v, fmt="{:.2f}"):
    return "—" if v is None else fmt.format(v)


def breakdown_rows(result: dict) -> list[list[str]]:
    return [[r["model"], str(r["threads"]), _pct(r["sparsity"]), r["engine"],
             f"{r['dense_pruned_ms']:.2f} -> {r['engine_pruned_ms']:.2f}", _f(r["pruned_speedup"]),
             _f(r["pruned_ideal_speedup"]), f"{r['dense_other_ms']:.2f} -> {r['engine_other_ms']:.2f}",
             _f(r["other_speedup"])] for r in breakdown(result)]


HEADER = ("where the time goes (MNN per-op profiles; 'pruned layers' = the convolutions the "
          "converter pruned, mnn-dense -> engine; 'x' their speed-up, 'ideal x' = 1/(1-s) "
          "weighted by their dense time; 'other ops' = everything else)")


def _table(header: str, columns: list[str], rows: list[list[str]]) -> str:
    rows = [columns] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join([header] + lines)


def format_breakdown(result: dict) -> str:
    rows = breakdown_rows(result)
    if not rows:
        return ""
    out = _table(HEADER, COLUMNS, rows)
    types = type_rows(result)
    return out + ("\n\n" + _table(TYPE_HEADER, TYPE_COLUMNS, types) if types else "")


def _markdown(header: str, columns: list[str], rows: list[list[str]]) -> str:
    lines = [f"**{header[0].upper() + header[1:]}**", "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def markdown_breakdown(result: dict) -> str:
    rows = breakdown_rows(result)
    if not rows:
        return ""
    types = type_rows(result)
    return _markdown(HEADER, COLUMNS, rows) + ("\n" + _markdown(TYPE_HEADER, TYPE_COLUMNS, types) if types else "")
