"""`sparsebytenn convert`: make an .mnn model group-sparse (prune or detect, rearrange, tag)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HELP = "prune/tag convolutions with fine-grained group sparsity (writes a new .mnn)"

DESCRIPTION = """\
Rewrite IN.mnn into OUT.mnn with group-sparse convolutions that the SparseByteNN
plugin runs fast and stock MNN 3.6.1 still loads and runs (through its own sparse
path). IN is never modified; OUT is written to a temporary file and renamed at the
end, and an existing OUT is only replaced with --force.

patterns (one per operator kind):
  1x1 convolution and FC (stored by MNN as a 1x1 convolution): a group is G
      consecutive output channels x 1 input channel;
  kxk convolution with group 1: G output channels x 1 input channel x all kh*kw taps;
  depthwise convolutions stay dense. Output channels that do not fill a last group
  (O mod G) are pruned one channel at a time, never dropped.

modes:
  --sparsity S   one-shot pruning: remove the groups with the smallest L2 norm
                 (relative to their layer) until S of the eligible weights are zero,
                 ranked globally (or per layer with --per-layer); no layer keeps less
                 than --min-keep of its weights; --skip first,last by default
                 (by the graph: the layers next to its inputs and outputs).
  --layer NAME=S exact sparsity for one layer (repeatable; alone or with --sparsity).
  --detect       prune nothing: tag the layers whose zeros already form G-groups (a
                 model pruned in training) and list layers sparse but not group-shaped.
                 Groups whose channels training left scattered (masks applied in the
                 dense channel order) are made consecutive by regrouping the output
                 channels, keeping the network's function (--no-rearrange: keep them).

calibration (how the pruned groups are chosen and what stays is re-fit): layer by
layer in execution order, on the model as pruned so far (stock MNN computes the
activations), the converter drops the groups whose removal costs the least output
error (Optimal-Brain-Surgeon saliency) and re-fits the kept weights and the bias
by ridge least squares toward the dense weights, so each layer reproduces the
dense model's output. It learns from:
  --calibration PATH   your inputs (recommended): an image, a folder of images (up
                       to 1024 used) or an .npy/.npz of preprocessed NCHW float
                       inputs; a few hundred like the ones the model will see (not
                       your test set). Images need the model's preprocessing:
                       --like ZOO_NAME, found automatically for zoo model files.
                       Every 5th input is held out for the fidelity check.
  nothing (default)    1/f ("pink") noise images in the model's input range
                       (--input-range LOW,HIGH, default -1,1; known for zoo
                       models): data-free, much better than plain magnitude
                       pruning, much worse than your own images.
  --plain              no calibration: groups with the smallest weights go, nothing
                       is re-fit. Seconds instead of minutes, but it breaks most
                       real models (MobileNet-V1 at 30 %: 0 % top-1 agreement);
                       for speed experiments only.
The per-layer output errors (plain vs calibrated) are in the report.

group size per layer (--group auto, --target-speedup X): small groups hurt accuracy
less, large ones run faster (x86: G=4 costs 5-15 % of G=8's kernel speed, G=2 about
20 %). With --group auto the converter measures, on the calibration inputs, how much
each layer's pruning damages the model's output (per group size and sparsity) and
models each choice's end-to-end time from a table of the kernels' measured speeds
and stock MNN's own per-op profile of the model; it then picks G and sparsity per
layer with the least total damage that reaches --sparsity (the whole pool) and a
modelled speed-up of at least --target-speedup. Without it the floor is at least 1.3x
and at --sparsity S at least S times what the target's G (x86: 8) at S in every layer
models: the more you prune, the more of what it buys goes to speed (at 30 % auto may
spend it all on accuracy, at 90 % it keeps 90 % of G=8's speed). The choice, the
table used and the modelled speed-up are in the report; measure the real speed-up
with `sparsebytenn eval --speed` or `sparsebytenn bench`. Stock MNN runs every G
(through its own sparse path or, for groups its kernels do not take, its dense path).
x86 chooses from G = 16, 8, 4, 2, 1; the plugin packs a layer pruned in small groups
in wider ones where that runs faster (G=1 at 30 %: as G=8, its zeros stored), and a
layer it would run in full groups anyway is written dense (the report lists them).
At low sparsity on AVX-512 CPUs the plugin's dense kernels alone give ~1.5x over stock
MNN, so there auto buys little speed beyond the dense model's; for the most accuracy at
any sparsity whatever the speed, give --target-speedup 1.3; for the most speed, --group 8.

rearrangement (default on, --no-rearrange to disable): output channels of pruned
layers are permuted so channels needing the same inputs share a group, and the
permutation is carried through bias, depthwise convs, activations, pooling,
residual adds and the next convolution's inputs, so the network computes the same
function; where that is not possible (concat, graph outputs, unknown ops) the
layer keeps its order. It never lowers the retained weight energy. Before pruning,
stock MNN runs the input and the rearranged model on random values for every input:
any output that differs stops the conversion (nothing written).

fidelity (every conversion that prunes): stock MNN runs the input and the
converted model on held-out inputs -- every 5th of your --calibration inputs
(never used for calibration), else --holdout PATH, else the installed photos for
a zoo model (or --like), else 1/f noise images -- and the report gives top-1
agreement, top-5 overlap, output cosine and relative error, plus each pruned
layer's relative output error ("out err"). A warning says what to do when
agreement < 90 % or cosine < 0.9; --min-agreement A refuses the result (exit 1,
nothing written) when top-1 agreement is below A.

output: OUT, a table per layer (shape, G, sparsity before/after, groups kept, MACs
per output pixel, retained energy with and without rearrangement, totals, file
sizes) on stdout, and with --report FILE.json the same as JSON.

file size: a tagged layer stores MNN's float-sparse coding, 8 bytes per kept
weight (value + index) instead of 4 per weight, so it is smaller than dense above
50% sparsity and larger below. The replaced dense weights are removed from OUT
(every other byte is kept as it was and every reference re-targeted); if OUT
cannot be proven complete that way (a table this converter does not know, or
unreachable data already in IN) they stay, and the size line says why.
"""

EXAMPLES = """\
examples:
  sparsebytenn convert mobilenet-v1.mnn mnv1-70.mnn --sparsity 0.7
  sparsebytenn convert in.mnn out.mnn --sparsity 0.5 --group 4 --target arm64
  sparsebytenn convert mobilenet-v1.mnn mnv1-30.mnn --sparsity 0.3 --group auto --calibration photos/
  sparsebytenn convert my.mnn out.mnn --target-speedup 1.5 --group auto --calibration images/
  sparsebytenn convert in.mnn out.mnn --sparsity 0.8 --per-layer --skip first --skip last \\
      --layer /features/features.26/features.26.0/Conv_output_0=0.9
  sparsebytenn convert in.mnn dense-baseline.mnn --sparsity 0.7 --format dense
  sparsebytenn convert trained-pruned.mnn tagged.mnn --detect --group 4
  sparsebytenn convert in.mnn out.mnn --sparsity 0.5 --report report.json --force
  sparsebytenn convert mobilenet-v1.mnn mnv1-50.mnn --sparsity 0.5 --calibration photos/
  sparsebytenn convert my.mnn out.mnn --sparsity 0.5 --calibration photos/ --like efficientnet-lite0
  sparsebytenn convert my.mnn out.mnn --sparsity 0.5 --calibration inputs.npy   # N x C x H x W float32
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("convert", help=HELP, description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="the .mnn model to read (never modified)")
    p.add_argument("output", metavar="OUT", help="the .mnn model to write")
    p.add_argument("--sparsity", type=float, metavar="S", help="target sparsity, 0 <= S < 1")
    p.add_argument("--group", type=group_arg, metavar="G",
                   help="group size 1, 2, 4, 8 or 16, or auto: per layer, chosen by measured damage against the "
                        "kernels' measured speed (default: auto on x86 without --calibration, else by --target)")
    p.add_argument("--target-speedup", type=float, metavar="X",
                   help="keep a modelled end-to-end speed-up over stock MNN of at least X (with --group auto the "
                        "default: S times G=8's at --sparsity S, at least 1.3); alone, without --sparsity, prune "
                        "as much as X needs, where it hurts least")
    p.add_argument("--speed-table", metavar="FILE.json",
                   help="kernel speeds for --group auto / --target-speedup (default: the shipped table for this "
                        "CPU; measure your own with `sparsebytenn bench speed-table --json FILE`)")
    p.add_argument("--target", default="auto", metavar="T",
                   help="arm64, wasm (G=4), x86 (G=8) or auto (this machine; default)")
    p.add_argument("--per-layer", action="store_true", help="the same sparsity in every layer (default: global ranking)")
    p.add_argument("--min-keep", type=float, default=0.1, metavar="F",
                   help="never prune a layer below F of its weights (default 0.1)")
    p.add_argument("--skip", action="append", metavar="first|last|none|NAME",
                   help="leave a layer dense (repeatable; default: first and last, i.e. the layers a graph "
                        "input or output reaches without passing another eligible conv)")
    p.add_argument("--layer", action="append", metavar="NAME=S", help="sparsity for one layer (repeatable)")
    p.add_argument("--detect", action="store_true", help="prune nothing; tag layers already group-sparse")
    p.add_argument("--format", default="sparse", choices=("sparse", "dense"),
                   help="sparse: write sparse metadata (default); dense: the same pruned weights, dense")
    p.add_argument("--no-rearrange", action="store_true", help="keep every layer's channel order")
    p.add_argument("--no-compact", action="store_true",
                   help="leave the replaced dense weights in OUT (unreachable) instead of removing them; "
                        "OUT is larger but byte-identical to IN wherever nothing changed")
    p.add_argument("--calibration", metavar="PATH",
                   help="calibrated pruning on these inputs: an image, a folder of images, or an .npy/.npz "
                        "of preprocessed NCHW float inputs")
    p.add_argument("--plain", action="store_true",
                   help="magnitude pruning without calibration (fast; breaks most real models)")
    p.add_argument("--input-range", type=_range, metavar="LOW,HIGH",
                   help="value range of the model's inputs, for data-free noise images (default -1,1; "
                        "known for zoo models)")
    p.add_argument("--like", metavar="ZOO_NAME",
                   help="preprocess calibration images like this zoo model (default: detected when IN is "
                        "a zoo model file)")
    p.add_argument("--holdout", metavar="PATH",
                   help="held-out inputs for the fidelity check (images, a folder or .npy/.npz; default: "
                        "every 5th --calibration input, else the installed photos for zoo models, else noise)")
    p.add_argument("--min-agreement", type=float, metavar="A",
                   help="fail (exit 1, write nothing) when top-1 agreement with the dense model on the "
                        "held-out inputs is below A (0..1)")
    p.add_argument("--no-fidelity", action="store_true",
                   help="skip the fidelity check (faster; the report then says nothing about accuracy)")
    p.add_argument("--report", metavar="FILE.json", help="also write the report as JSON")
    p.add_argument("--markdown", metavar="FILE.md", help="also write the report as Markdown")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no table, no progress")
    p.set_defaults(func=run)


def group_arg(text: str):
    """--group: G or auto (also `bench --group`); which G exist the converter checks, in one line."""
    from sparsebytenn_converter.options import GROUPS

    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: G is {', '.join(map(str, GROUPS))} or auto") from None


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LOW,HIGH like -1,1") from None
    return lo, hi


def zoo_model_named(input_path, like) -> str | None:
    """The zoo model whose preprocessing IN's inputs follow: --like (an unknown name is
    refused), else the zoo model whose cached .mnn has IN's bytes, else None."""
    from .. import zoo
    from ..errors import SparseByteNNError

    if like is None:
        return _zoo_model_of(input_path)
    if like not in zoo.names():
        raise SparseByteNNError(f"--like {like!r}: unknown zoo model; known: {', '.join(zoo.names())}")
    return like


def input_range_of(name: str | None) -> tuple[float, float] | None:
    """The input value range of zoo model `name`: pixels 0..255 normalised."""
    from .. import zoo

    if name is None:
        return None
    pre = zoo.info(name)["preprocessing"]
    lows = [(0 - m) / s for m, s in zip(pre["mean"], pre["std"])]
    highs = [(255 - m) / s for m, s in zip(pre["mean"], pre["std"])]
    return min(lows), max(highs)


def _zoo_model_of(path) -> str | None:
    """The zoo model whose cached .mnn has the same bytes as `path`, if any."""
    import json
    
    from .. import zoo
    from ..digest import sha256_of

    try:
        size = Path(path).stat().st_size
    except OSError:
        return None
    digest = None
    for name in zoo.names():
        try:
            m = json.loads(zoo.cached_files(name)["manifest"].read_text())
        except (OSError, ValueError):
            continue
        if m.get("mnn_bytes") != size:
            continue
        digest = digest or sha256_of(path)
        if m.get("mnn_sha256") == digest:
            return name
    return None


def calibration_preprocess(name: str | None, calibration):
    """preprocess(image path) for calibration images like zoo model `name`, or None (arrays,
    or no zoo model: the converter then says what is missing, naming the file)."""
    from .. import zoo

    if name is None or Path(calibration).suffix.lower() in (".npy", ".npz"):
        return None
    return lambda image: zoo.preprocess(name, image)


def default_holdout(name: str | None):
    """(inputs, what they are) for the fidelity check when the user gave no images: the
    installed photos preprocessed like zoo model `name`, else None."""
    from .. import zoo

    if name is None:
        return None, None
    photos = zoo.sample_photos()
    if not photos:
        return None, None
    x = np.concatenate([zoo.preprocess(name, p) for _, p, _ in photos])
    return x, f"{len(photos)} installed photos ({', '.join(n for n, _, _ in photos)})"


def run(args) -> int:
    from sparsebytenn_converter import convert
    from sparsebytenn_converter.heap import fixed_mmap_threshold

    fixed_mmap_threshold()      # freed weights go back to the system at once; this process ends after

    zoo_name = zoo_model_named(args.input, args.like)
    images = args.calibration or args.holdout
    preprocess = None if images is None else calibration_preprocess(zoo_name, images)
    skip = None
    if args.skip:
        skip = [s.strip() for item in args.skip for s in item.split(",") if s.strip()]
    if not args.no_rearrange or not (args.detect or (args.plain and args.no_fidelity)):
        # rearrangement's self-check, calibration and the fidelity check run stock MNN on IN
        # in this process: first make sure a file MNN would crash on gives an error, not a crash
        from sparsebytenn_converter import read_model

        from ..preflight import check
        read_model(args.input)          # a bad file: the reader's one-line error, before MNN sees it
        check(Path(args.input), plugin=False, threads=1)
    holdout, source = args.holdout, None
    if holdout is None and args.calibration is None and not args.detect and not args.no_fidelity:
        holdout, source = default_holdout(zoo_name)
    report = convert(args.input, args.output, sparsity=args.sparsity, group=args.group, target=args.target,
                     per_layer=args.per_layer, min_keep=args.min_keep, skip=skip, layers=args.layer,
                     detect=args.detect, format=args.format, rearrange=not args.no_rearrange,
                     report_path=args.report, markdown_path=args.markdown, force=args.force,
                     progress=not args.quiet and sys.stderr.isatty(),
                     compact=not args.no_compact, calibration=args.calibration, preprocess=preprocess,
                     fidelity=not args.no_fidelity, holdout=holdout, holdout_source=source, plain=args.plain,
                     input_range=args.input_range or input_range_of(zoo_name) or (-1.0, 1.0),
                     min_agreement=args.min_agreement, target_speedup=args.target_speedup,
                     speed_table=args.speed_table)
    if not args.quiet:
        print(report.table())
    print(f"wrote {report.output} ({report.output_bytes:,} bytes) in {report.seconds:.1f} s")
    for w in report.warnings:
        print(w, file=sys.stderr)
    return 0
