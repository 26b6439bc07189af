"""`sparsebytenn run MODEL`: run an .mnn model in MNN, with or without the bridge."""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
from pathlib import Path

from sparsebytenn_converter.output_paths import write_all_atomic

from ..errors import SparseByteNNError

EXAMPLES = """\
examples:
  sparsebytenn run model.sparse.mnn                       # random input, plugin on, 1 thread
  sparsebytenn run model.sparse.mnn --no-plugin           # the same with stock MNN
  sparsebytenn run model.sparse.mnn --threads 2 --input x.npy --save-output y.npy
  sparsebytenn run two_inputs.mnn --input image=x.npy     # other inputs: random data of their shape
  sparsebytenn run model.sparse.mnn --json                # machine-readable summary

output: one line per model output (name and shape), the number of convolutions the
plugin ran, the backend and the median time of --repeats runs; --json prints
{"outputs": {name: shape}, "plugin_convs": N (tagged convs), "plugin_depthwise": M,
"plugin_direct_convs": K (dense convs with few input channels, e.g. the first),
"plugin_pointwise": L (dense 1x1 convs, e.g. the layers a conversion left dense), "backend": ...,
"median_ms": ...}.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run an .mnn model (plugin on or off) and report outputs, plugin convs and time",
        description="Run an .mnn model once in MNN 3.6.1 -- with the SparseByteNN bridge running the "
                    "tagged convolutions (--plugin, the default) or with stock MNN (--no-plugin) -- and "
                    "report its outputs, how many convolutions the plugin executed and the median time.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="the .mnn model file")
    p.add_argument("--plugin", dest="plugin", action="store_true", default=True,
                   help="run tagged convolutions with the SparseByteNN bridge (default)")
    p.add_argument("--no-plugin", dest="plugin", action="store_false", help="stock MNN CPU only")
    p.add_argument("--threads", type=int, default=1, help="MNN numThread (default 1)")
    p.add_argument("--input", action="append", metavar="[NAME=]FILE.npy",
                   help="float32 .npy data for an input: FILE.npy for a single-input model, NAME=FILE.npy for "
                        "any input (repeatable); inputs not given get random normal data of their own shape")
    p.add_argument("--save-output", type=Path, help="write the first output to this .npy file")
    p.add_argument("--force", action="store_true", help="replace the --save-output file if it exists")
    p.add_argument("--repeats", type=int, default=10, help="timed runs for median_ms (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=main)


def main(args) -> int:
    import numpy as np

    from sparsebytenn_converter import read_model

    from .. import run_inputs
    from ..session import Session

    if not args.model.is_file():
        read_model(args.model)  # says why: missing, a directory, a device
        raise SparseByteNNError(f"{args.model}: no such model file")
    if args.threads < 1 or args.repeats < 1:
        raise SparseByteNNError("--threads and --repeats must be >= 1")
    from sparsebytenn_converter.output_paths import check_outputs

    specs = run_inputs.parse(args.input)
    check_outputs([("--save-output", args.save_output, None)], inputs=[args.model, *(p for _, p in specs)],
                  force=args.force)
    from .. import preflight

    read_model(args.model)  # a malformed file: one clean error, before any process is started
    for _, path in specs:
        run_inputs.load(path)
    preflight.check(args.model, args.plugin, args.threads, args.input)  # MNN crashes in a child, not here
    try:
        sess = Session(args.model, plugin=args.plugin, threads=args.threads)
    except SparseByteNNError:
        raise
    except Exception as exc:  # MNN's own loader errors
        raise SparseByteNNError(f"{args.model}: MNN cannot load this model ({exc})") from None
    x = run_inputs.build(sess, specs)
    times = sess.run_timed(x, repeats=args.repeats)   # sets the inputs, warms up past the trials
    # counted after the warm-up: under auto the bridge's first runs try both executions
    # of its dense ops, and what it keeps afterwards is what the model runs on
    outputs = sess.run(x)
    stats = sess.stats()
    summary = {"model": str(args.model),
               "outputs": {k: list(v.shape) for k, v in outputs.items()},
               "plugin_convs": stats["plugin_convs"], "plugin_depthwise": stats["plugin_ops"]["depthwise"],
               "plugin_direct_convs": stats["plugin_ops"]["direct_conv"],
               "plugin_pointwise": stats["plugin_ops"]["pointwise"],
               "backend": stats["backend"], "threads": args.threads,
               "median_ms": round(statistics.median(times), 4), "fallbacks": stats["fallbacks"]}
    if args.save_output is not None:
        buf = io.BytesIO()
        np.save(buf, outputs[sess.output_names[0]])
        write_all_atomic([(args.save_output, buf.getvalue())])
    if args.json:
        print(json.dumps(summary))
    else:
        for name, shape in summary["outputs"].items():
            print(f"output {name}: {tuple(shape)}")
        print(f"plugin convs: {summary['plugin_convs']} (+ {summary['plugin_depthwise']} depthwise, "
              f"{summary['plugin_direct_convs']} direct, {summary['plugin_pointwise']} dense 1x1)   "
              f"backend: {summary['backend']}   "
              f"threads: {args.threads}   median: {summary['median_ms']:.3f} ms")
        for note in summary["fallbacks"]:
            print(f"note: {note}", file=sys.stderr)
    return 0
