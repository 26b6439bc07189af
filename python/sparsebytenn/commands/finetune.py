"""`sparsebytenn finetune`: win back what pruning costs by training with the group masks."""
from __future__ import annotations

import argparse

HELP = "fine-tune a user model to the converter's groups with distillation, measured against honest references"


def register(subparsers) -> None:
    from ..finetune.__main__ import DESCRIPTION, EXAMPLES, add_arguments

    p = subparsers.add_parser("finetune", help=HELP, description=DESCRIPTION,
                              epilog=EXAMPLES.replace("python -m sparsebytenn.finetune", "sparsebytenn finetune"),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..finetune.__main__ import options_from
    from ..finetune.pipeline import run as fine_tune_all

    fine_tune_all(options_from(args))
    return 0
