"""Present an evaluation: a text table, the JSON file and the accuracy-vs-sparsity plot.

Files are written to a temporary name in the destination folder and renamed, so
a reader never sees half a file and an interrupted run leaves the old one intact.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import SparseByteNNError


def variant_label(row: dict) -> str:
    p = row["pattern"]
    if p in ("group", "group-calibrated"):
        p = f"group G={row['G']}" + (" +rearr" if row["rearranged"] else " no-rearr")
    if p == "unstructured-calibrated":
        p = "unstructured"
    if row.get("calibrated"):
        p += " +calib"
    if row.get("bias_corrected"):
        p += " +bias-corr"
    return p


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(result: dict) -> str:
    head = (f"{'variant':<28} {'sparsity':>8} {'probe acc % [95% CI]':>22} {'drop pt [95% CI]':>22} "
            f"{'feat cos':>8} {'top1 agr':>8} {'top5 ovl':>8} {'logit cos':>9} {'rel err':>7}")
    lines = [f"model {result['model']}: Fashion-MNIST linear probe, {result['protocol']['train']} train / "
             f"{result['protocol']['test']} test at {result['protocol']['size_px']} px; "
             f"photos: {len(result['protocol']['photos'])}", head, "-" * len(head)]
    for r in result["results"]:
        acc = f"{r['probe_accuracy'] * 100:6.2f} [{r['probe_accuracy_ci95'][0] * 100:5.1f},{r['probe_accuracy_ci95'][1] * 100:5.1f}]"
        drop = f"{r['probe_drop_pt']:6.2f} [{r['probe_drop_ci95_pt'][0]:5.1f},{r['probe_drop_ci95_pt'][1]:5.1f}]"
        sp = "0" if r["pattern"] == "dense" else f"{r['achieved_sparsity']:.3f}"
        lines.append(f"{variant_label(r):<28} {sp:>8} {acc:>22} {drop:>22} {_fmt(r['feature_cosine'], '8.3f')} "
                     f"{_fmt(r['top1_agreement'], '8.2f')} {_fmt(r['top5_overlap'], '8.2f')} "
                     f"{_fmt(r['logit_cosine'], '9.3f')} {_fmt(r['logit_rel_err'], '7.3f')}")
    return "\n".join(lines)


def _atomic(path: Path, write) -> None:
    path = Path(path)
    parent = path.resolve().parent
    if not parent.is_dir():
        raise SparseByteNNError(f"{path}: folder {parent} does not exist")
    if path.is_dir():
        raise SparseByteNNError(f"{path}: is a directory; give a file name")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise SparseByteNNError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(result: dict, path: Path) -> None:
    def w(tmp):
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    _atomic(path, w)


def write_plot(result: dict, path: Path) -> None:
    if Path(path).suffix.lower() != ".png":
        raise SparseByteNNError(f"--plot {path}: give a .png file name")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["results"]
    dense = next(r for r in rows if r["pattern"] == "dense")
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    lo, hi = dense["probe_accuracy_ci95"]
    ax.axhspan(lo * 100, hi * 100, color="0.85", label="dense (95 % CI)")
    ax.axhline(dense["probe_accuracy"] * 100, color="0.4", lw=1)
    series: dict[str, list] = {}
    for r in rows:
        if r["pattern"] != "dense":
            series.setdefault(variant_label(r), []).append(r)
    for label, rs in series.items():
        rs = sorted(rs, key=lambda r: r["sparsity"])
        x = [r["achieved_sparsity"] * 100 for r in rs]
        y = [r["probe_accuracy"] * 100 for r in rs]
        err = [[(r["probe_accuracy"] - r["probe_accuracy_ci95"][0]) * 100 for r in rs],
               [(r["probe_accuracy_ci95"][1] - r["probe_accuracy"]) * 100 for r in rs]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
    p = result["protocol"]
    ax.set_xlabel("sparsity of the pruned layers (%)")
    ax.set_ylabel("probe top-1 accuracy (%)")
    ax.set_title(f"{result['model']}: one-shot pruning, Fashion-MNIST linear probe\n"
                 f"({p['train']} train / {p['test']} test, {p['size_px']} px; error bars: Wilson 95 %)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()

    def w(tmp):
        fig.savefig(tmp, format="png")
    try:
        _atomic(path, w)
    finally:
        plt.close(fig)
