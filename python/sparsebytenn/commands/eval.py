"""`sparsebytenn eval`: what pruning costs in accuracy, and what it buys in speed."""
from __future__ import annotations

import argparse

HELP = "measure what pruning costs in accuracy (and, with --speed, what it buys)"

DESCRIPTION = """\
Measure, on a real model and real data, what the converter's pruning costs in
accuracy -- for every sparsity x group size x method -- and, with --speed, the
end-to-end speed-up each model gets through the plugin, measured side by side.

methods:
  default      `sparsebytenn convert --sparsity S` with no images: what you get
               when you have no data at hand
  calibrated   `convert --calibration IMAGES` with images like the model's own,
               never from the test set (the same model the CLI writes: convert keeps
               every 5th image out of the fit for its fidelity report)
  --model LABEL=FILE.mnn adds any model file as a row (e.g. a fine-tuned one from
  `python -m sparsebytenn.finetune`), evaluated the same way.

protocols (by what MODEL classifies):
  Fashion-MNIST models (the zoo's *-fmnist models stand for a user's own dense
  model): accuracy on the test split (all 10,000 images unless --test N), Wilson
  95 % interval; the drop against the dense model with a paired-bootstrap 95 %
  interval (same images); top-1 agreement with the dense model, output cosine.
  Calibration: the 512 training images the model was never trained on.
  ImageNet models: agreement with the dense model on the 14 installed photos, two
  folds held out (calibration on 140 augmented crops of one fold, scored on the
  other fold's ten-crop views, then swapped; 140 views). 14 photos give a
  direction, never an accuracy. Under the table, per row: how many views kept
  their answer where the dense model gives it >= 50 % and where not, and the
  photos that lost the most.

speed (--speed): stock MNN on the dense model and the plugin on every row's model,
each in its own process, timed one at a time in a fresh order per round; the
speed-up is the median of per-round ratios. Rows where the plugin did not run
every tagged convolution are marked failed.

outputs: a table on stdout; --json FILE (every row: accuracy, intervals, drop,
agreement, achieved sparsity, G per layer, conversion time, speed-up, the machine
and CPU; photo rows also per photo and by the dense model's confidence); --plot
FILE.png (accuracy drop, or photo agreement, against the measured speed-up, or
against sparsity without --speed); --save-models DIR keeps
every converted model. Files are written whole or not at all; existing ones only
with --force.
"""

EXAMPLES = """\
examples:
  sparsebytenn eval mobilenet-v1-fmnist
  sparsebytenn eval mobilenet-v1-fmnist --sparsity 0.3,0.5 --group 8,auto --speed --json r.json --plot r.png
  sparsebytenn eval mobilenet-v1 --methods default,calibrated --sparsity 0.3 --group auto
  sparsebytenn eval mobilenet-v1-fmnist --model finetuned-50=ft/mobilenet-v1-fmnist-s50.sparse.mnn --speed
  sparsebytenn eval mobilenet-v1-fmnist --test 1000 --sparsity 0.5     # a quick look
  sparsebytenn eval my.mnn --like mobilenet-v1-fmnist
"""


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers like 0.3,0.5") from None


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _groups(text: str) -> list:
    out = []
    for t in _names(text):
        if t in ("auto", "target"):
            out.append(None if t == "target" else "auto")
            continue
        try:
            out.append(int(t))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{t!r}: a group is 1, 2, 4, 8, 16, auto or target") from None
    return out


def _model_file(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=FILE.mnn")
    label, path = text.split("=", 1)
    return label, path


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help=HELP, description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL|ZOO_NAME", help="a zoo model name or an .mnn file (with --like)")
    p.add_argument("--sparsity", type=_floats, default=[0.3, 0.5, 0.7], metavar="S,S,...",
                   help="target sparsities of the pruned layers (default 0.3,0.5,0.7)")
    p.add_argument("--group", type=_groups, default=[None], metavar="G,G,...",
                   help="group sizes: 1, 2, 4, 8, 16, auto, or target (whatever `convert` does without --group: "
                        "auto on x86 without images, the target's G otherwise; the default)")
    p.add_argument("--methods", type=_names, default=["default", "calibrated"], metavar="M,M",
                   help="default, calibrated (default: both)")
    p.add_argument("--model", dest="extra", type=_model_file, action="append", default=[],
                   metavar="LABEL=FILE.mnn", help="also evaluate this model file as a row (repeatable)")
    p.add_argument("--test", type=int, metavar="N", help="test images (Fashion-MNIST models; default: all 10,000)")
    p.add_argument("--calibration-images", type=int, default=512, metavar="N",
                   help="calibration images for Fashion-MNIST models (default 512)")
    p.add_argument("--speed", action="store_true", help="also time every row through the plugin (1 interleaved run)")
    p.add_argument("--rounds", type=int, default=11, metavar="N", help="timing rounds with --speed (default 11)")
    p.add_argument("--like", metavar="ZOO_NAME", help="inputs and classes of a zoo model, for a file MODEL")
    p.add_argument("--seed", type=int, default=0, help="seed of crops and the bootstrap (default 0)")
    p.add_argument("--threads", type=int, default=1, help="MNN threads (default 1)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="write the accuracy/speed plot as a PNG")
    p.add_argument("--save-models", metavar="DIR", help="keep every converted model in DIR (rows name their file)")
    p.add_argument("--force", action="store_true", help="replace --json/--plot/--save-models files that exist")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from sparsebytenn_converter.output_paths import check_outputs

    from ..errors import SparseByteNNError
    from ..fidelity import EvalConfig, evaluate
    from ..fidelity.report import table, write_json, write_plot

    inputs = [args.model] if Path(args.model).exists() else []
    inputs += [p for _, p in args.extra]
    check_outputs([("--json", args.json, None), ("--plot", args.plot, ".png")], inputs=inputs, force=args.force)
    if args.save_models is not None:
        folder = Path(args.save_models)
        if folder.exists() and not folder.is_dir():
            raise SparseByteNNError(f"--save-models {folder}: is a file; give a folder")
        if folder.is_dir() and any(folder.iterdir()) and not args.force:
            raise SparseByteNNError(f"--save-models {folder}: folder is not empty; use --force to replace "
                                    "the models in it")
        folder.mkdir(parents=True, exist_ok=True)
    cfg = EvalConfig(model=args.model, sparsities=args.sparsity, groups=args.group, methods=args.methods,
                     extra=dict(args.extra), test=args.test, calibration_images=args.calibration_images,
                     seed=args.seed, speed=args.speed, speed_rounds=args.rounds, threads=args.threads,
                     like=args.like, save_models=Path(args.save_models) if args.save_models else None,
                     progress=not args.quiet)
    result = evaluate(cfg)
    print(table(result))
    if args.json:
        write_json(result, Path(args.json))
        print(f"wrote {args.json}")
    if args.plot:
        write_plot(result, Path(args.plot))
        print(f"wrote {args.plot}")
    return 0
