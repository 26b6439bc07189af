"""The `sparsebytenn` command: one module per subcommand under sparsebytenn.commands.

Each command module defines `register(subparsers)` (adds its parser and sets
`func`) so that adding a command is one line in COMMANDS below.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import SparseByteNNError

# name -> module under sparsebytenn.commands; order is the order in --help.
COMMANDS = ["zoo", "inspect", "convert", "run", "bench", "eval", "finetune", "demo"]

EPILOG = """\
typical use:
  sparsebytenn zoo get mobilenet-v1                 # a real pretrained model as .mnn
  sparsebytenn inspect mobilenet-v1.mnn             # its convolutions and sparsity
  sparsebytenn convert in.mnn out.mnn --sparsity 0.5
  sparsebytenn run out.mnn --plugin                 # run it inside MNN with our kernels
  sparsebytenn bench mobilenet-v1 --quick           # stock MNN vs the plugin, side by side

`sparsebytenn COMMAND --help` explains each command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparsebytenn",
        description="Fine-grained group-sparse convolution for MNN models: convert pruned "
        "models, run them inside MNN with fast group-sparse kernels, and benchmark "
        "them against stock MNN.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"sparsebytenn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return report_errors(lambda: args.func(args))


def report_errors(call, prog: str = "sparsebytenn", interrupted: str = "interrupted") -> int:
    """call() -> the command's exit status, the one place a command's failures are printed:
    an expected failure (SparseByteNNError) is one line on stderr and status 1, Ctrl-C
    status 130, a closed stdout pipe status 0."""
    try:
        return int(call() or 0)
    except SparseByteNNError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
