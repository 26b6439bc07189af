"""The benchmark's outputs: a printed table, JSON, Markdown and a PNG plot.

Every file is written to a temporary name and renamed, so an interrupted run
never leaves a half-written result where a previous good one was.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

from .breakdown import markdown_breakdown

COLUMNS = ["model", "threads", "sparsity", "engine", "median ms", "IQR ms",
           "x mnn-dense", "95% CI", "x mnn-sparse", "ideal x", "status"]


def _f(v, fmt="{:.2f}"):
    return "—" if v is None else fmt.format(v)


def _interval(ci) -> str:
    """A speed-up's 95 % interval over rounds (a noisy machine shows a wide one)."""
    return "—" if not ci else f"{ci[0]:.2f}-{ci[1]:.2f}"


def table_rows(result: dict) -> list[list[str]]:
    out = []
    for r in result["results"]:
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {(r.get('error') or '').splitlines()[0]}"
        out.append([r["model"], str(r["threads"]),
                    "dense" if r["sparsity"] is None else f"{r['sparsity'] * 100:g}%",
                    r["engine"], _f(r["median_ms"]), _f(r["iqr_ms"]),
                    _f(r["speedup_vs_mnn_dense"]), _interval(r.get("speedup_vs_mnn_dense_ci95")),
                    _f(r["speedup_vs_mnn_sparse"]),
                    _f(r["ideal_speedup"]), status])
    return out


def format_table(result: dict) -> str:
    rows = [COLUMNS] + table_rows(result)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    lines.insert(1, "-" * min(120, len(lines[0])))
    extra = [f"note: {n}" for n in result.get("notes", [])]
    extra += [f"WARNING: {w}" for w in result.get("warnings", [])]
    return "\n".join(lines + extra)


def format_markdown(result: dict) -> str:
    m = result["machine"]
    head = (f"Machine: {m.get('cpu_model')}, {len(m.get('cpus_available') or [])} CPU(s) available, "
            f"kernels ISA {m.get('kernels_isa') or 'n/a'}, load average before "
            f"{m.get('load_average_before')}, after {m.get('load_average_after')}; "
            f"MNN {m['versions'].get('MNN')}, onnxruntime {m['versions'].get('onnxruntime')}, "
            f"sparsebytenn {m['versions'].get('sparsebytenn')}. "
            f"{m['settings']['rounds']} interleaved rounds x {m['settings']['runs_per_round']} runs; "
            "medians of all runs, speed-ups are medians of per-round ratios (95% CI: bootstrap over the rounds).")
    esc = [[c.replace("|", "\\|") for c in r] for r in table_rows(result)]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in esc]
    tail = [f"- note: {n}" for n in result.get("notes", [])]
    tail += [f"- **warning:** {w}" for w in result.get("warnings", [])]
    where = markdown_breakdown(result)
    return "\n".join([head, ""] + lines + ([""] + tail if tail else []) + (["", where] if where else [])) + "\n"


def _atomic_write(path, data: bytes) -> Path:
    from sparsebytenn_converter.output_paths import write_all_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_all_atomic([(path, data)])
    return path


def write_json(result: dict, path) -> Path:
    return _atomic_write(path, (json.dumps(result, indent=1) + "\n").encode())


def write_markdown(result: dict, path) -> Path:
    return _atomic_write(path, format_markdown(result).encode())


def write_plot(result: dict, path) -> Path:
    """Per model: latency vs sparsity per engine, and speed-up over mnn-dense vs the ideal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["results"] if r["status"] == "ok" and r["median_ms"] is not None]
    models = list(dict.fromkeys(r["model"] for r in result["results"]))
    fig, axes = plt.subplots(len(models), 2, figsize=(12, 4.2 * len(models)), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for (ax_t, ax_s), model in zip(axes, models):
        mine = [r for r in rows if r["model"] == model]
        threads = sorted({r["threads"] for r in mine})
        engines = list(dict.fromkeys(r["engine"] for r in mine))
        colors = {e: f"C{i}" for i, e in enumerate(engines)}
        for ti, t in enumerate(threads):
            ls = styles[ti % len(styles)]
            for e in engines:
                pts = sorted((r["sparsity"], r) for r in mine
                             if r["engine"] == e and r["threads"] == t and r["sparsity"] is not None)
                label = f"{e} {t}T"
                dense = [r for r in mine if r["engine"] == e and r["threads"] == t and r["sparsity"] is None]
                if dense:  # a dense engine: one flat line across the plot
                    ax_t.axhline(dense[0]["median_ms"], color=colors[e], linestyle=ls, label=label)
                if pts:
                    xs = [s * 100 for s, _ in pts]
                    ax_t.errorbar(xs, [r["median_ms"] for _, r in pts],
                                  yerr=[r["iqr_ms"] / 2 for _, r in pts], color=colors[e],
                                  linestyle=ls, marker="o", capsize=3, label=label)
                    sp = [(s * 100, r["speedup_vs_mnn_dense"], r.get("speedup_vs_mnn_dense_ci95") or
                           (r["speedup_vs_mnn_dense"],) * 2) for s, r in pts if r["speedup_vs_mnn_dense"] is not None]
                    if sp:   # bars: the 95 % interval over rounds
                        ax_s.errorbar([x for x, _, _ in sp], [y for _, y, _ in sp],
                                      yerr=[[max(0.0, y - ci[0]) for _, y, ci in sp],
                                            [max(0.0, ci[1] - y) for _, y, ci in sp]],
                                      color=colors[e], linestyle=ls, marker="o", capsize=3, label=label)
            ideal = sorted({(r["sparsity"] * 100, r["ideal_speedup"]) for r in result["results"]
                            if r["model"] == model and r["threads"] == t
                            and r["ideal_speedup"] is not None})
            if ideal:
                ax_s.plot(*zip(*ideal), color="black", linestyle=ls, marker="x",
                          label=f"Amdahl ideal {t}T")
        ax_t.set(title=f"{model}: latency (median, bars = IQR)", xlabel="sparsity of pruned layers (%)",
                 ylabel="ms per inference")
        ax_s.axhline(1.0, color="grey", linewidth=0.8)
        ax_s.set(title=f"{model}: speed-up over mnn-dense", xlabel="sparsity of pruned layers (%)",
                 ylabel="x (median of per-round ratios, bars = 95 % interval)")
        for ax in (ax_t, ax_s):
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    m = result["machine"]
    fig.suptitle(f"SparseByteNN bench — {m.get('cpu_model')} — load {m.get('load_average_before')}",
                 fontsize=10)
    fig.tight_layout()
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        return _atomic_write(path, buf.getvalue())
    finally:
        plt.close(fig)
