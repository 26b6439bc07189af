"""Present an evaluation: a text table, the JSON file and the accuracy/speed plot.

Files go through the converter's one output rule (a temporary file renamed at the end).
"""
from __future__ import annotations

import io
import json
from pathlib import Path

from sparsebytenn_converter.output_paths import write_all_atomic


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _ci(lo_hi, scale=100, spec="5.1f") -> str:
    return f"[{lo_hi[0] * scale:{spec}},{lo_hi[1] * scale:{spec}}]"


def table(result: dict) -> str:
    task = result["task"] == "fashion-mnist"
    p = result["protocol"]
    if task:
        title = (f"model {result['model']}: Fashion-MNIST test accuracy on {p['test_images']:,} images; "
                 f"calibration: {p['calibration']}")
        head = (f"{'row':<26} {'sparsity':>8} {'acc % [95% CI]':>21} {'drop pt [95% CI]':>22} "
                f"{'top1 agr':>8} {'cos':>6} {'speed-up':>8} {'modelled':>8}")
    else:
        title = f"model {result['model']}: {p['dataset']} ({p['caveat']})"
        head = (f"{'row':<26} {'sparsity':>8} {'top1 agr [95% CI]':>20} {'top5 ovl':>8} {'cos':>6} "
                f"{'speed-up':>8} {'modelled':>8}")
    lines = [title, head, "-" * len(head)]
    for r in result["results"]:
        sp = "0" if r.get("achieved_sparsity") is None else f"{r['achieved_sparsity']:.3f}"
        speed = _fmt(r.get("speedup_vs_mnn_dense"), "7.2f") + ("x" if "speedup_vs_mnn_dense" in r else "")
        if r.get("speed_error"):
            speed = "failed"
        modelled = "" if r.get("modelled_speedup") is None else f"{r['modelled_speedup']:7.2f}x"
        if task:
            acc = f"{r['accuracy'] * 100:6.2f} {_ci(r['accuracy_ci95'])}"
            drop = f"{r['drop_pt']:6.2f} [{r['drop_ci95_pt'][0]:5.2f},{r['drop_ci95_pt'][1]:5.2f}]"
            lines.append(f"{r['label']:<26} {sp:>8} {acc:>21} {drop:>22} {r['top1_agreement']:8.3f} "
                         f"{r['logit_cosine']:6.3f} {speed:>8} {modelled:>8}")
        else:
            ci = r.get("top1_agreement_ci95")
            agr = f"{r['top1_agreement'] * 100:5.1f}" + (f" {_ci(ci)}" if ci else "")
            lines.append(f"{r['label']:<26} {sp:>8} {agr:>20} {r['top5_overlap']:8.3f} "
                         f"{r['logit_cosine']:6.3f} {speed:>8} {modelled:>8}")
    lines += [flips_line(r) for r in result["results"] if r.get("by_dense_confidence")]
    m = p.get("machine", {})
    lines.append(f"machine: {m.get('cpu_model', '?')}; kernels: {m.get('kernels_isa', '?')}; "
                 f"speed-up = plugin on the row's model vs stock MNN on the dense model, "
                 f"{'median of per-round ratios (its 95 % interval: speedup_vs_mnn_dense_ci95 in the JSON)' if any('speedup_vs_mnn_dense' in r for r in result['results']) else 'not measured (--speed)'}"
                 "; modelled = what --group auto's allocator predicted from its speed table")
    lines += _dense_on_plugin_lines(result["results"])
    short = [line for line in map(_short_of_model, result["results"]) if line]
    if short:
        lines.append(f"warning: measured more than 5 % below the modelled speed-up: {'; '.join(short)} -- the "
                     "speed table may not match this machine: measure one with `sparsebytenn bench speed-table "
                     "--json FILE` and convert with --speed-table FILE")
    return "\n".join(lines)


def _short_of_model(row: dict) -> str:
    """'label: measured X [lo-hi] vs modelled Y' when the row ran more than 5 % below the
    allocator's model, beyond this machine's noise (the top of its 95 % interval over the
    rounds, where measured), else ''."""
    measured, modelled = row.get("speedup_vs_mnn_dense"), row.get("modelled_speedup")
    if not measured or not modelled:
        return ""
    ci = row.get("speedup_vs_mnn_dense_ci95")
    if (ci[1] if ci else measured) >= 0.95 * modelled:
        return ""
    interval = f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else ""
    return f"{row['label']}: {measured:.2f}x{interval} vs modelled {modelled:.2f}x"


def _dense_on_plugin_lines(rows: list[dict]) -> list[str]:
    """What the dense model itself gets from the plugin, and the pruned rows that add nothing
    to it (their pruning costs answers and buys no speed)."""
    base = rows[0].get("plugin_speedup_vs_mnn_dense") if rows else None
    if base is None:
        return []
    out = [f"the dense model through the plugin (nothing pruned, same answers): {base:.2f}x; "
           "what a row gains beyond that is what its pruning buys"]
    idle = [r["label"] for r in rows[1:] if r.get("speedup_vs_mnn_dense") and r["speedup_vs_mnn_dense"] < 1.05 * base]
    if idle:
        out.append(f"warning: less than 5 % faster than the dense model through the plugin: {', '.join(idle)} -- "
                   "this pruning costs answers and buys (almost) no speed here: run the dense model with the "
                   "plugin, or prune more or in larger groups (--group 8) for speed")
    return out


def flips_line(r: dict, most: int = 3) -> str:
    """Where a photo row's answers changed: views the dense model was sure of vs not,
    and the photos that lost the most views."""
    c = r["by_dense_confidence"]
    sure, unsure = c["sure"], c["unsure"]

    def share(part):
        return f"{part['agreed']}/{part['views']}" + (f" ({part['agreed'] / part['views'] * 100:.0f} %)"
                                                      if part["views"] else "")
    lost = sorted((p for p in r["per_photo"] if p["agreed"] < p["views"]),
                  key=lambda p: p["agreed"] - p["views"])[:most]
    worst = ", ".join(f"{p['photo']} {p['agreed']}/{p['views']} (dense sure {p['dense_top1_prob'] * 100:.0f} %)"
                      for p in lost) or "none"
    return (f"  {r['label']}: kept {share(sure)} of the views the dense model gives >= "
            f"{c['threshold'] * 100:.0f} % to its answer, {share(unsure)} of the others; most changed: {worst}")


def write_json(result: dict, path: Path) -> None:
    write_all_atomic([(Path(path), (json.dumps(result, indent=1) + "\n").encode())])


def _quality(result: dict, r: dict) -> float:
    """The y of a row: accuracy drop in points (task) or top-1 agreement in % (photos)."""
    return r["drop_pt"] if result["task"] == "fashion-mnist" else r["top1_agreement"] * 100


def write_plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = result["task"] == "fashion-mnist"
    rows = [r for r in result["results"] if r["method"] != "dense"]
    timed = all("speedup_vs_mnn_dense" in r for r in rows) and rows
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    markers = {"default": "s", "calibrated": "o", "file": "D"}
    colors = {}
    for r in rows:
        key = f"{r['method']} G={r['group']}" if r["method"] != "file" else r["label"]
        c = colors.setdefault(key, f"C{len(colors)}")
        x = r["speedup_vs_mnn_dense"] if timed else (r.get("achieved_sparsity") or 0) * 100
        y = _quality(result, r)
        ax.scatter([x], [y], marker=markers.get(r["method"], "o"), color=c,
                   label=key if key not in ax.get_legend_handles_labels()[1] else None)
        if r.get("sparsity") is not None:
            ax.annotate(f"{r['sparsity']:.0%}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    base = result["results"][0].get("plugin_speedup_vs_mnn_dense") if timed else None
    if base is not None:      # the dense model through the plugin: what no pruning at all gives
        ax.scatter([base], [_quality(result, result["results"][0])], marker="*", s=120, color="k",
                   label="dense, plugin (nothing pruned)")
    if task:
        ax.axhline(0, color="0.4", lw=1)
        ax.set_ylabel("test-accuracy drop vs dense (pt, lower is better)")
        ax.invert_yaxis()
    else:
        ax.set_ylabel("top-1 agreement with the dense model (%, ten-crop, held out)")
    ax.set_xlabel("end-to-end speed-up over stock MNN dense (plugin, measured)" if timed
                  else "sparsity of the pruned layers (%)")
    m = result["protocol"].get("machine", {})
    ax.set_title(f"{result['model']}: what pruning costs and buys\n({m.get('cpu_model', '?')}; "
                 f"labels: target sparsity)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_all_atomic([(Path(path), buf.getvalue())])
