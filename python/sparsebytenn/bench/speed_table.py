"""`sparsebytenn bench speed-table`: the kernels' speed per group size, for the converter.

The converter's --group auto and --target-speedup model a pruned layer's time as a
ratio to stock MNN's time for it, from a table of the plugin kernels' effective
GFLOP/s per group size G, layer shape and sparsity and stock MNN's dense GFLOP/s on
the same shapes (converter/sparsebytenn_converter/speed_model.py). This measures one
on this machine with the kernel benchmark (1 thread, the ISA the kernels dispatch to,
MobileNet-V1's 1x1 shapes at 224 and at 96 px input: small images make small tiles,
where the speed per G differs; stock MNN's conv op, timed by MNN's per-op callbacks
as the converter's whole-model profile times it, interleaved with the plugin in every
run, so the two are measured under the same conditions) and writes it as JSON;
`convert --speed-table FILE` uses it, and the tables shipped in speed_tables/ were
made this way. On x86 the table also holds stock MNN's time over the plugin's for the
dense ops the bridge takes over too, MobileNet-V1's depthwise convs and its first conv
(the direct conv kernels), measured in whole sessions.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

GROUPS = (16, 8, 4, 2, 1)
SPARSITIES = (0.0, 0.3, 0.5, 0.7, 0.9)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sparsebytenn bench speed-table", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="examples:\n  sparsebytenn bench speed-table --json my-cpu.json\n"
                                       "  sparsebytenn convert in.mnn out.mnn --sparsity 0.3 --group auto "
                                       "--speed-table my-cpu.json\n")
    p.add_argument("--json", metavar="FILE", required=True, help="where to write the table")
    p.add_argument("--groups", default=",".join(map(str, GROUPS)), help="group sizes (default 16,8,4,2,1)")
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds per group size (default 9)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    return p


def main(argv=None) -> int:
    from sparsebytenn_converter.output_paths import check_outputs, write_all_atomic
    from sparsebytenn_converter.speed_model import DENSE_ISAS, DENSE_KINDS, host_isa

    from ..errors import SparseByteNNError
    from . import kernel_bench

    shapes = {name: (hw, cin, cout) for name, hw, cin, cout in kernel_bench.LAYERS + kernel_bench.SMALL_LAYERS}
    args = build_parser().parse_args(argv)
    try:
        groups = [int(g) for g in args.groups.split(",") if g.strip()]
    except ValueError:
        raise SparseByteNNError(f"--groups {args.groups!r}: expected comma-separated integers") from None
    check_outputs([("--json", args.json, ".json")], force=args.force)
    isa, cpu = host_isa()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sbnn-speed-table-") as tmp:
        for G in groups:
            out = Path(tmp) / f"g{G}.json"
            print(f"== G={G}", file=sys.stderr, flush=True)
            code = kernel_bench.main(["--engines", "sparsebytenn,mnn-conv-op", "--isa", isa, "--threads", "1",
                                      "--group", str(G), "--sparsity", ",".join(map(str, SPARSITIES)),
                                      "--layers", ",".join(shapes),
                                      "--rounds", str(args.rounds), "--json", str(out)])
            if code:
                raise SparseByteNNError(f"the kernel benchmark failed for G={G} (exit {code})")
            for r in json.loads(out.read_text()):
                if r.get("engine") not in ("sparsebytenn", "mnn-conv-op") or r.get("status") != "ok":
                    continue
                hw, cin, cout = shapes[r["layer"]]
                # the plugin's GFLOP/s are effective (kept MACs); stock MNN computes every MAC
                macs = hw * hw * cin * cout * (1 - r["sparsity"] if r["engine"] == "sparsebytenn" else 1)
                rows.append({"engine": r["engine"], "layer": r["layer"], "hw": hw, "cin": cin, "cout": cout,
                             "G": G, "sparsity": r["sparsity"], "gflops": round(2 * macs / (r["median_ms"] * 1e6), 2),
                             "median_ms": r["median_ms"], "iqr_ms": r["iqr_ms"], "variant": r.get("variant")})
    if isa in DENSE_ISAS:
        rows += [dense_row(kind, isa, args.rounds) for kind in DENSE_KINDS]
    import os

    table = {"kind": "sparsebytenn kernel speed table", "version": 1, "cpu_model": cpu, "isa": isa,
             "threads": 1, "date": datetime.date.today().isoformat(),
             "load_average": [round(x, 2) for x in os.getloadavg()],
             "command": "sparsebytenn bench speed-table " + " ".join(argv or sys.argv[1:]), "rows": rows}
    write_all_atomic([(Path(args.json), (json.dumps(table, indent=1) + "\n").encode())])
    print(f"wrote {args.json}: {len(rows)} rows ({cpu}, {isa})")
    return 0


def dense_row(kind: str, isa: str, rounds: int) -> dict:
    """Stock MNN's time for MobileNet-V1's ops of a dense kind the bridge takes over (its
    13 depthwise convs; its first conv for "direct_conv") over the plugin's, in one
    session each, profiled in interleaved rounds (dwconv_layers): the converter divides
    a model's stock time for those ops by it when the bridge runs them (x86)."""
    from .. import zoo
    from . import dwconv_layers

    print(f"== {kind} ({isa})", file=sys.stderr, flush=True)
    r = dwconv_layers.measure(zoo.get("mobilenet-v1", progress=False), threads=1, rounds=max(rounds, 5) * 2,
                              runs=5, isas=(isa,), kind=kind)
    t = r["total"]
    return {"engine": kind, "model": "mobilenet-v1", "layers": len(r["layers"]), "isa": isa,
            "mnn_ms": t["mnn_ms"], "plugin_ms": t[f"{isa}_ms"], "mnn_over_plugin": t[f"mnn_over_{isa}"]}
