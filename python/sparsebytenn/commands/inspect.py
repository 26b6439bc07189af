"""`sparsebytenn inspect`: the convolutions of an .mnn model and their sparsity."""
from __future__ import annotations

import argparse
import json

HELP = "list a model's convolutions, their zero fractions and sparse metadata"

DESCRIPTION = """\
Read an .mnn model (validating the whole file first: a truncated, corrupted or
non-MNN file gives one error line naming the problem) and list every
convolution-like op: name, type (Convolution, ConvolutionDepthwise, FC-as-1x1 for a
fully connected layer MNN stores as a 1x1 convolution), kernel, stride, padding,
groups, input/output channels, weight count, fraction of zero weights, and the
sparse metadata present: MNN's own (SparseCommon method and args such as
sparseBlockOC, NNZElement) and SparseByteNN's (format, G, pattern, target).

input:   MODEL, an .mnn file
output:  a table on stdout, or with --json one JSON object:
         {"model": PATH, "ops": [{"name", "type", "kernel": [kh, kw], "in_channels",
          "out_channels", "groups", "weights", "zero_fraction", "sparse": {...} | null,
          ...}, ...]}
"""

EXAMPLES = """\
examples:
  sparsebytenn inspect mobilenet-v1.mnn
  sparsebytenn inspect out.sparse.mnn --json | python -m json.tool
  sparsebytenn inspect $(sparsebytenn zoo get efficientnet-lite0)
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help=HELP, description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="the .mnn file to read")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from sparsebytenn_converter import read_model
    from sparsebytenn_converter.summary import model_summary

    summary = model_summary(read_model(args.model))
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(format_table(summary))
    return 0


def _sparse_text(sp: dict | None) -> str:
    if not sp:
        return "-"
    args = sp.get("args", {})
    parts = [sp.get("method", "?")]
    if "sparseBlockOC" in args:
        parts.append(f"blockOC={args['sparseBlockOC']}")
    ours = sp.get("sbnn")
    if ours:
        parts.append(f"sbnn G={ours.get('group')} {ours.get('pattern', '')} {ours.get('target', '')}".rstrip())
    if not sp.get("args_sorted", True):
        parts.append("(args unsorted!)")
    return " ".join(parts)


def format_table(summary: dict) -> str:
    head = ("name", "type", "kernel", "stride", "pad", "groups", "in", "out", "weights", "zeros", "sparse")
    rows = []
    for op in summary["ops"]:
        zf = op["zero_fraction"]
        rows.append((
            op["name"], op["type"], "x".join(map(str, op["kernel"])), "x".join(map(str, op["stride"])),
            ",".join(map(str, op["pad"])) if op["pad_mode"] == "CAFFE" else op["pad_mode"],
            str(op["groups"]), str(op["in_channels"]), str(op["out_channels"]), str(op["weights"]),
            "n/a" if zf is None else f"{zf:.1%}", _sparse_text(op["sparse"]),
        ))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    widths[0] = min(widths[0], 60)
    lines = [f"{summary['model']}: {len(summary['ops'])} convolutions, {summary['ops_total']} ops, "
             f"{summary['file_size']:,} bytes"]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines.append(fmt.format(*head))
    for r in rows:
        name = r[0] if len(r[0]) <= widths[0] else "…" + r[0][-(widths[0] - 1):]
        lines.append(fmt.format(name, *r[1:]))
    total = sum(op["weights"] for op in summary["ops"])
    zeros = sum(op["weights"] * op["zero_fraction"] for op in summary["ops"] if op["zero_fraction"] is not None)
    tagged = sum(1 for op in summary["ops"] if op["sparse"])
    lines.append(f"total: {total:,} weights, {zeros / total if total else 0:.1%} zero, "
                 f"{tagged} op(s) with sparse metadata")
    return "\n".join(lines)
