"""`sparsebytenn eval`: the accuracy cost of one-shot pruning, per pattern and sparsity."""
from __future__ import annotations

import argparse

HELP = "measure what pruning costs in accuracy (Fashion-MNIST probe, real photos)"

DESCRIPTION = """\
Measure, on a real pretrained model and real data, what one-shot pruning (no
fine-tuning) costs in accuracy, for several sparse patterns at equal sparsity:

  group         SparseByteNN's pattern (the converter, --format dense), both with
                and without whole-network rearrangement (two rows per sparsity)
  group-calibrated
                the same with the converter's calibrated pruning (convert
                --calibration): groups chosen by the output error they cost, kept
                weights and biases re-fit by least squares, layer by layer, on
                --calibration-images Fashion-MNIST training images disjoint from
                the probe's (two rows per sparsity, with and without rearrangement)
  unstructured  single weights by magnitude (the accuracy upper bound of
                one-shot magnitude pruning)
  mnn-simd-oc   MNN's own 4x1 pattern: 4 consecutive output channels x 1 weight,
                L1 score (like mnncompress's SIMDOCPruner without gradients)
  unstructured-calibrated (not in the default list)
                calibrated pruning with G=1: single weights where every pruned
                layer is 1x1 (MobileNet-V1, EfficientNet-Lite0); refused otherwise

Rearranged variants permute the penultimate features; they are put back in the
dense order (matched through the classifier's input columns) before the probe.

All patterns prune the same layers (the converter's choice: group-1 convolutions,
first and last skipped) with the converter's allocation (global ranking with
min-keep, or --per-layer).

protocol: no ImageNet is available, so (1) Fashion-MNIST (Debian package
dataset-fashion-mnist): images resized to --size px, gray replicated to RGB,
the model's normalisation; penultimate features (the tensor feeding the
classifier) computed by stock MNN; a linear probe (multinomial logistic
regression, numpy) fitted on the DENSE model's training features only; every
pruned model's test features go through that same probe. Subsets are stratified
and seeded. Accuracy has a Wilson 95 % interval, the drop vs dense a paired
bootstrap 95 % interval. (2) The real photos shipped by installed packages, at
the model's own resolution: top-1 agreement and top-5 overlap with the dense
model's ImageNet prediction, logit cosine similarity and relative error.

MODEL is a zoo name (see `sparsebytenn zoo list`) or an .mnn file; a file uses
(x-127.5)/127.5 normalisation unless --like NAME gives a zoo model's (which also
enables the photo metrics).

outputs: a table on stdout; --json FILE with {"protocol": ..., "results": [{"model",
"pattern", "rearranged", "sparsity", "achieved_sparsity", "probe_accuracy",
"probe_accuracy_ci95", "probe_drop_pt", "probe_drop_ci95_pt", "feature_cosine",
"top1_agreement", "top5_overlap", "logit_cosine", "logit_rel_err", ...}]};
--plot FILE.png: probe accuracy vs sparsity per pattern. Files are written
atomically (temporary file, then rename).

cost: about (train + test x variants) inferences at --size px; the defaults
(2000/2000, 96 px, 3 sparsities, 6 variants each) take 10-20 minutes on one core;
each calibrated variant runs the model about once per pruned layer over the
calibration images (under a minute at 512 images, 96 px, for MobileNet-V1).
"""

EXAMPLES = """\
examples:
  sparsebytenn eval mobilenet-v1
  sparsebytenn eval mobilenet-v1 --sparsity 0.3,0.5,0.7 --json mnv1.json --plot mnv1.png
  sparsebytenn eval efficientnet-lite0 --patterns group,unstructured --train 2000 --test 2000
  sparsebytenn eval mobilenet-v1 --train 200 --test 200 --sparsity 0.5 --group 4   # quick look
  sparsebytenn eval mobilenet-v1 --sparsity 0.5 --bias-correct   # + mean-shift bias correction
  sparsebytenn eval mobilenet-v1 --patterns group-calibrated,unstructured-calibrated --calibration-images 1024
  sparsebytenn eval my-model.mnn --like mobilenet-v1 --patterns group
"""


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers like 0.3,0.5") from None


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help=HELP, description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL|ZOO_NAME", help="a zoo model name or an .mnn file")
    p.add_argument("--sparsity", type=_floats, default=[0.3, 0.5, 0.7], metavar="S,S,...",
                   help="target sparsities of the pruned layers (default 0.3,0.5,0.7)")
    p.add_argument("--patterns", type=_names, default=["group", "group-calibrated", "unstructured", "mnn-simd-oc"],
                   metavar="P,P,...", help="group, group-calibrated, unstructured, unstructured-calibrated, "
                                           "mnn-simd-oc (default: all but unstructured-calibrated)")
    p.add_argument("--train", type=int, default=2000, metavar="N", help="training images for the probe (default 2000)")
    p.add_argument("--test", type=int, default=2000, metavar="N", help="test images (default 2000)")
    p.add_argument("--size", type=int, default=96, metavar="PX", help="image size fed to the model (default 96)")
    p.add_argument("--group", type=int, metavar="G", help="G of the group pattern (default: the converter's)")
    p.add_argument("--per-layer", action="store_true", help="the same sparsity in every layer (default: global)")
    p.add_argument("--min-keep", type=float, default=0.1, metavar="F",
                   help="never prune a layer below F of its weights (default 0.1, as convert)")
    p.add_argument("--bias-correct", action="store_true",
                   help="also evaluate each variant with its biases corrected for the mean shift "
                        "(calibrated on 256 training images)")
    p.add_argument("--calibration-images", type=int, default=512, metavar="N",
                   help="Fashion-MNIST training images (not the probe's) for the calibrated patterns (default 512)")
    p.add_argument("--like", metavar="ZOO_NAME", help="preprocessing (and photo labels) of a zoo model, for a file MODEL")
    p.add_argument("--no-photos", action="store_true", help="skip the photo agreement metrics")
    p.add_argument("--seed", type=int, default=0, help="seed of the subsets and the bootstrap (default 0)")
    p.add_argument("--threads", type=int, default=1, help="MNN threads (default 1)")
    p.add_argument("--batch", type=int, default=32, help="images per MNN call (default 32)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="write accuracy vs sparsity as a PNG")
    p.add_argument("--save-models", metavar="DIR", help="keep every pruned model the table measures in DIR "
                   "(each JSON row names its file), e.g. to inspect or run one")
    p.add_argument("--force", action="store_true", help="replace --json/--plot files that exist")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..fidelity import EvalConfig, evaluate
    from ..fidelity.report import table, write_json, write_plot

    from sparsebytenn_converter.output_paths import check_outputs

    check_outputs([("--json", args.json, None), ("--plot", args.plot, ".png")],
                  inputs=[args.model] if Path(args.model).exists() else [], force=args.force)
    if args.save_models is not None:
        from ..errors import SparseByteNNError

        folder = Path(args.save_models)
        if folder.exists() and not folder.is_dir():
            raise SparseByteNNError(f"--save-models {folder}: is a file; give a folder")
        folder.mkdir(parents=True, exist_ok=True)
    cfg = EvalConfig(model=args.model, sparsities=args.sparsity, patterns=args.patterns, train=args.train,
                     test=args.test, size=args.size, seed=args.seed, threads=args.threads, batch=args.batch,
                     group=args.group, per_layer=args.per_layer, min_keep=args.min_keep,
                     photos=not args.no_photos, bias_correct=args.bias_correct, like=args.like,
                     calibration_images=args.calibration_images,
                     save_models=Path(args.save_models) if args.save_models else None,
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
