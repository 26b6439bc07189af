"""`sparsebytenn bench`: stock MNN vs the plugin vs ONNX Runtime, side by side."""
from __future__ import annotations

import argparse
from pathlib import Path

from .convert import group_arg

DESCRIPTION = """\
Time one or more models on several engines on this machine, in one interleaved run:

  mnn-dense         stock MNN, the original model
  mnn-pruned-dense  stock MNN, the converter's output stored dense (same zeros, no sparse tags)
  mnn-sparse        stock MNN running its own sparse path on the converter's sparse output
  plugin            the converter's sparse output through the SparseByteNN MNN plugin
  plugin-nodw       the same with the plugin's depthwise convs left to MNN (only with --engines)
  onnxruntime       ONNX Runtime on the original model's ONNX form (when there is one)

Every engine runs in its own process; the engines are timed one at a time, round by
round, in a fresh order each round. Each engine's outputs are first checked against
mnn-dense (pruned engines against mnn-pruned-dense) on the same input; an engine that
crashes or gives wrong outputs is reported as failed and never timed. Reported: the
median and IQR of the time per inference, the speed-ups over mnn-dense and mnn-sparse
(medians of per-round ratios, with a 95 % bootstrap interval over the rounds) and the
Amdahl ideal from MNN's own per-op profile of the dense model (share of time in the
layers the converter pruned).

inputs:  MODEL is a .mnn file (an .onnx next to it is used for onnxruntime) or a zoo
         name (`sparsebytenn zoo list`). Converted models are cached under
         $SPARSEBYTENN_HOME/bench-cache.
outputs: a table on stdout; --json, --markdown, --plot files on request.

`sparsebytenn bench kernels ...` runs the kernel micro-benchmarks instead
(`sparsebytenn bench kernels --help`); `sparsebytenn bench speed-table --json FILE`
measures the kernels per group size for `convert --group auto --speed-table FILE`.
"""

EXAMPLES = """\
examples:
  sparsebytenn bench mobilenet-v1 --quick
  sparsebytenn bench mobilenet-v1 --json r.json --markdown r.md --plot r.png
  sparsebytenn bench my.mnn --onnx my.onnx --sparsity 0.5,0.9 --threads 1
  sparsebytenn bench mobilenet-v1 --sparsity 0.3 --threads 1 --profile   # which ops miss the ideal
  sparsebytenn bench mobilenet-v1 efficientnet-lite0 --engines mnn-dense,mnn-sparse,plugin
  sparsebytenn bench kernels --help
"""


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def register(subparsers) -> None:
    from ..bench.engines import DEFAULT_ENGINES, ENGINES

    p = subparsers.add_parser(
        "bench", help="benchmark stock MNN vs the plugin vs ONNX Runtime, side by side",
        description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", metavar="MODEL", help=".mnn file or zoo name")
    p.add_argument("--sparsity", type=_floats, default=None,
                   help="sparsities to convert to, in [0, 1) (default 0.3,0.5,0.7,0.9)")
    p.add_argument("--threads", type=_ints, default=None, help="thread counts (default 1,2)")
    p.add_argument("--engines", type=_names, default=tuple(DEFAULT_ENGINES),
                   help=f"comma-separated subset of: {', '.join(ENGINES)} (default: all but plugin-nodw)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 15)")
    p.add_argument("--runs", type=int, default=None,
                   help="inferences timed per engine per round (default 10)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs per engine (default 5)")
    p.add_argument("--quick", action="store_true",
                   help="about a minute: 1 thread, 5 rounds x 5 runs (explicit options still win)")
    p.add_argument("--onnx", metavar="FILE", help="ONNX form of MODEL for onnxruntime")
    p.add_argument("--input-shape", type=_ints, metavar="N,C,H,W",
                   help="input shape when the model's is dynamic")
    p.add_argument("--group", type=group_arg, metavar="G",
                   help="converter group size 1, 2, 4, 8, 16 or auto (default: the converter's: auto on x86)")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="max output error relative to max(1, |reference|) (default 1e-3)")
    p.add_argument("--json", metavar="FILE", help="write all results as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write the table (and the time breakdown) as Markdown")
    p.add_argument("--profile", action="store_true",
                   help="also print where the time goes: MNN's per-op profile of each engine, split into "
                        "the pruned layers (with their ideal speed-up) and all other ops")
    p.add_argument("--plot", metavar="FILE.png", help="write a PNG plot")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help="replace --json/--markdown/--plot files that exist")
    p.set_defaults(func=run)

    # `bench kernels ARGS...` belongs to the kernel benchmark, whose options this
    # parser does not know: hand it everything after "kernels" untouched.
    parse_known = p.parse_known_args

    def parse_known_args(args=None, namespace=None):
        if args and args[0] in ("kernels", "speed-table"):
            ns = namespace if namespace is not None else argparse.Namespace()
            ns.func = run_kernels if args[0] == "kernels" else run_speed_table
            ns.kernel_argv = list(args[1:])
            return ns, []
        return parse_known(args, namespace)

    p.parse_known_args = parse_known_args


def run_kernels(args) -> int:
    from ..bench import kernel_bench

    return int(kernel_bench.main(args.kernel_argv) or 0)


def run_speed_table(args) -> int:
    from ..bench.speed_table import main
    return int(main(args.kernel_argv) or 0)


def config_from_args(args):
    from ..bench.harness import FULL, QUICK, BenchConfig

    preset = QUICK if args.quick else FULL
    pick = lambda value, key: preset[key] if value is None else value  # noqa: E731
    return BenchConfig(
        models=list(args.models), sparsities=pick(args.sparsity, "sparsities"),
        threads=pick(args.threads, "threads"), engines=tuple(args.engines),
        rounds=pick(args.rounds, "rounds"), runs=pick(args.runs, "runs"),
        warmup=pick(args.warmup, "warmup"), tolerance=args.tolerance, onnx=args.onnx,
        input_shape=args.input_shape,
        converter_options={"group": args.group} if args.group is not None else {},
        progress=not args.no_progress)


def run(args) -> int:
    from ..bench import format_breakdown, format_table, run_bench, write_json, write_markdown, write_plot

    cfg = config_from_args(args)
    cfg.validate()  # before any download or conversion
    from sparsebytenn_converter import read_model

    for m in cfg.models:  # a malformed file: one clean error before any conversion or process
        if Path(m).is_file() or Path(m).suffix.lower() == ".mnn":
            read_model(m)
    from sparsebytenn_converter.output_paths import check_outputs

    check_outputs([("--json", args.json, None), ("--markdown", args.markdown, None),
                   ("--plot", args.plot, ".png")],
                  inputs=[m for m in cfg.models if Path(m).exists()] + [args.onnx], force=args.force)
    result = run_bench(cfg)
    print(format_table(result))
    if args.profile:
        print()
        print(format_breakdown(result) or "no per-op profile was taken (no pruned engine ran)")
    for option, writer in (("json", write_json), ("markdown", write_markdown), ("plot", write_plot)):
        target = getattr(args, option)
        if target:
            print(f"{option}: {writer(result, Path(target))}")
    failed = [r for r in result["results"] if r["status"] == "failed"]
    return 1 if failed else 0
