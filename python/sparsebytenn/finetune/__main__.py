"""`python -m sparsebytenn.finetune`: prune a user's dense model to the converter's
groups gradually, with knowledge distillation, and measure what it recovered."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import SparseByteNNError
from .machine import auto_threads
from .recipe import BN_MODES, MASK_SCHEDULES, STARTS, Recipe

R = Recipe()

DESCRIPTION = """\
Fine-tuning that recovers what pruning costs, measured honestly, per --sparsity S:

  1. the converter prunes the dense user model at S with G-groups, calibrated on the
     512 training images the model never saw (kept weights re-fit), rearranging
     channels across the network; its groups, mapped back to the torch model's
     channel order through the report's out_order/in_order, are the masks,
  2. the torch model starts from the converter's re-fit weights (--start
     calibrated; or from the dense model, pruned on a cubic schedule: --start dense
     --schedule nested|converter) and is fine-tuned, all layers, with the masks
     held at zero, on its own training images with knowledge distillation from
     the dense model (loss = alpha * T^2 * KL(teacher || student at temperature T)
     + (1 - alpha) * cross-entropy),
  3. it is exported (ONNX -> MNN's converter) and tagged with `convert --detect`,
     which regroups the masked channels and must tag exactly the masked layers,
  4. test accuracy in stock MNN on all 10,000 Fashion-MNIST test images, with 95 %
     Wilson intervals and paired-bootstrap drops, of: the dense model as is, the
     dense model fine-tuned by the same recipe and budget (same steps, data,
     teacher), one-shot calibrated pruning without fine-tuning, and the result;
     the plugin is checked against stock MNN on the first --plugin-check images.

Outputs per sparsity, in --out: MODEL-s50.sparse.mnn (fine-tuned, tagged) and
MODEL-s50.finetune.json (accuracies, intervals, drops, recipe, seconds, CPU).
The user model is built into the zoo's cache first if needed (minutes).
Needs torch, onnx and MNN (pip install -e '.[zoo]') and Debian's dataset-fashion-mnist.
"""

EXAMPLES = f"""\
examples:
  python -m sparsebytenn.finetune                                  # 50 % and 70 %, {R.steps} steps each
  python -m sparsebytenn.finetune --sparsity 0.7 --minutes 15 --out /tmp/ft
  python -m sparsebytenn.finetune --sparsity 0.5 --steps 20 --test 500 --plugin-check 20   # a quick look

Budget: the dense reference and each sparsity train for the same --steps; with
--minutes the steps that fit are timed first. Threads: torch on a busy machine is
much slower with more threads than idle cores, so the default uses the idle ones.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sparsebytenn.finetune", description=DESCRIPTION,
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options, shared by `python -m sparsebytenn.finetune` and `sparsebytenn finetune`."""
    p.add_argument("--model", default="mobilenet-v1-fmnist",
                   help="the user model (zoo name; default mobilenet-v1-fmnist)")
    p.add_argument("--from", dest="source", type=Path, default=None, metavar="DIR",
                   help="use the build of --model in DIR (sparsebytenn.zoo.build_variant) instead of the zoo's cache")
    p.add_argument("--sparsity", type=float, nargs="+", default=[0.5, 0.7], metavar="S",
                   help="target sparsities of the pruned layers (default 0.5 0.7)")
    p.add_argument("--group", type=int, default=None, metavar="G",
                   help="G, output channels per group (default: this machine's, 8 on x86)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, default=R.steps, help=f"training steps per fine-tune (default {R.steps})")
    budget.add_argument("--minutes", type=float, default=None,
                        help="wall-time budget per fine-tune instead of --steps (timed on this machine)")
    p.add_argument("--batch", type=int, default=R.batch, help=f"images per step (default {R.batch})")
    p.add_argument("--lr", type=float, default=R.lr, help=f"peak SGD learning rate, cosine to 0 (default {R.lr})")
    p.add_argument("--temperature", type=float, default=R.temperature, metavar="T",
                   help=f"KD temperature (default {R.temperature})")
    p.add_argument("--alpha", type=float, default=R.alpha,
                   help=f"KD weight; 1 - alpha goes to cross-entropy (default {R.alpha})")
    p.add_argument("--schedule", choices=MASK_SCHEDULES, default=R.schedule,
                   help="nested: cubic ramp, the weakest of the converter's final groups first; oneshot: "
                        "all masks at step 0; converter: cubic ramp, the converter run on the model at each "
                        f"stage (slower) (default {R.schedule})")
    p.add_argument("--start", choices=STARTS, default=R.start,
                   help="dense: prune the user model on the schedule; calibrated: begin from the converter's "
                        f"re-fit weights, all masks on (needs --schedule oneshot) (default {R.start})")
    p.add_argument("--prune-until", type=float, default=R.prune_until, metavar="F",
                   help=f"share of the run over which sparsity ramps up (default {R.prune_until})")
    p.add_argument("--stages", type=int, default=R.stages, help=f"mask updates on the ramp (default {R.stages})")
    p.add_argument("--bn", choices=BN_MODES, default=R.bn,
                   help="batch norm while training: train (batch statistics), frozen (running ones), "
                        f"recal (frozen, re-estimated after each stage and at the end) (default {R.bn})")
    p.add_argument("--test", type=int, default=None, metavar="N",
                   help="test images to measure on (default: all 10,000)")
    p.add_argument("--train-images", type=int, default=None, metavar="N",
                   help="use only the first N training images (default: all 59,488 the model was trained on)")
    p.add_argument("--calibration", type=int, default=512, metavar="N",
                   help="reserved training images the converter calibrates on (default: all 512)")
    p.add_argument("--plugin-check", type=int, default=500, metavar="N",
                   help="test images run through the plugin and stock MNN to compare (default 500; 0: none)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the idle cores, at least 1)")
    p.add_argument("--seed", type=int, default=R.seed, help="data order, augmentation (default 0)")
    p.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="output folder (default .)")
    p.add_argument("--force", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def options_from(args):
    from .pipeline import Options

    if args.threads is not None and args.threads < 1:
        raise SparseByteNNError(f"--threads {args.threads}: must be >= 1")
    recipe = Recipe().with_changes(
        steps=args.steps, batch=args.batch, lr=args.lr, temperature=args.temperature, alpha=args.alpha,
        schedule=args.schedule, start=args.start, prune_until=args.prune_until, stages=args.stages, bn=args.bn,
        seed=args.seed)
    return Options(model=args.model, sparsities=args.sparsity, group_size=args.group, recipe=recipe,
                   minutes=args.minutes, out=args.out, threads=args.threads or auto_threads(),
                   test_images=args.test, train_images=args.train_images, calibration=args.calibration,
                   plugin_check=args.plugin_check, source=args.source, force=args.force,
                   progress=not args.quiet)


def main(argv=None) -> int:
    from ..cli import report_errors

    args = build_parser().parse_args(argv)

    def fine_tune_all() -> int:
        from .pipeline import run

        run(options_from(args))
        return 0

    return report_errors(fine_tune_all, prog="sparsebytenn.finetune", interrupted="interrupted; nothing more written")


if __name__ == "__main__":
    sys.exit(main())
