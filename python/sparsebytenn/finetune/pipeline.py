"""The whole path, per target sparsity, measured against honest references:

  the dense user model as is                      (what the user has)
  the dense model fine-tuned by the same recipe   (same steps, data and teacher: what the
                                                   extra training alone is worth)
  one-shot calibrated pruning, no fine-tune       (the converter alone)
  pruned + fine-tuned                             (this package)

every one of them as an .mnn in stock MNN on the same test images.
"""
from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError
from ..zoo.catalog import RESERVED_TRAIN
from . import outputs
from .budget import steps_for_minutes
from .checks import check_detected
from .compare import accuracy, drop
from .converter_stages import ConverterStages
from .data import TrainingData, calibration_inputs, test_set
from .evaluate import mnn_correct, plugin_vs_stock
from .export import to_mnn
from .machine import describe
from .masks import converter_masks
from .recipe import Recipe
from .train import fine_tune
from .warm_start import load_calibrated
from .user_model import UserModel, check_user_model, mnn_path, open_user_model

# Issue 13's goals (G=8): the largest accuracy drop, in points, at these sparsities.
GOALS = {0.5: 0.5, 0.7: 1.5}


@dataclass
class Options:
    model: str = "mobilenet-v1-fmnist"
    sparsities: list = field(default_factory=lambda: [0.5, 0.7])
    group_size: int | None = None
    recipe: Recipe = field(default_factory=Recipe)
    minutes: float | None = None           # a wall-time budget per fine-tune instead of recipe.steps
    out: Path = Path("sparsebytenn-finetune")
    threads: int = 1
    test_images: int | None = None         # None: all 10,000
    train_images: int | None = None        # None: all the user model was trained on
    calibration: int = RESERVED_TRAIN      # reserved training images the converter calibrates on
    plugin_check: int = 500                # test images run through plugin and stock MNN
    source: Path | None = None             # a build folder of the user model (zoo.build_variant)
    force: bool = False
    progress: bool = True


def say(msg: str) -> None:
    print(msg, flush=True)


def check_options(o: Options) -> None:
    check_user_model(o.model)
    o.recipe.check()
    if not o.sparsities or any(not 0 < s < 1 for s in o.sparsities):
        raise SparseByteNNError(f"--sparsity {o.sparsities}: each must be in (0, 1)")
    if len(set(o.sparsities)) != len(o.sparsities):
        raise SparseByteNNError(f"--sparsity {o.sparsities}: a sparsity is given twice")
    if o.minutes is not None and o.minutes <= 0:
        raise SparseByteNNError(f"--minutes {o.minutes}: must be > 0")
    if not 1 <= o.calibration <= RESERVED_TRAIN:
        raise SparseByteNNError(f"--calibration {o.calibration}: use 1..{RESERVED_TRAIN} (the reserved "
                                "training images)")
    if o.plugin_check < 0 or (o.test_images is not None and not 1 <= o.test_images <= 10000):
        raise SparseByteNNError("--test must be in 1..10000 and --plugin-check >= 0")
    if Path(o.out).exists() and not Path(o.out).is_dir():
        raise SparseByteNNError(f"--out {o.out}: is a file; give a folder")


def run(o: Options) -> list[dict]:
    """Fine-tune o.model at each of o.sparsities; returns (and writes) one summary each."""
    import torch

    check_options(o)
    Path(o.out).mkdir(parents=True, exist_ok=True)
    outputs.check_all(o.out, o.model, o.sparsities, [mnn_path(o.model, o.source)], o.force)
    t0 = time.perf_counter()
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(o.threads)
    try:
        user = open_user_model(o.model, o.source, o.progress)
        with tempfile.TemporaryDirectory(prefix="sbnn-finetune-") as tmp:
            return Run(o, user, Path(tmp), t0).all_sparsities()
    finally:
        torch.set_num_threads(saved_threads)


class Run:
    """State shared by the sparsities: data, teacher, and the two dense references."""

    def __init__(self, o: Options, user: UserModel, tmp: Path, t0: float):
        self.o, self.user, self.tmp, self.t0 = o, user, tmp, t0
        self.machine_start = describe(o.threads)
        self.images, self.labels = test_set(o.model, o.test_images)
        self.data = TrainingData(o.model, o.train_images)
        self.calibration = calibration_inputs(o.model, o.calibration)
        self.teacher = user.torch()
        self.recipe = o.recipe
        self.group_size = o.group_size or target_group()
        self.budget = {"steps": o.recipe.steps}
        self.seconds: dict = {}

    def timed(self, key: str, fn, *args, **kwargs):
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[key] = round(self.seconds.get(key, 0.0) + time.perf_counter() - t, 1)
        return result

    def correct(self, path: Path, desc: str) -> np.ndarray:
        return self.timed("measure", mnn_correct, path, self.o.model, self.images, self.labels,
                          progress=self.o.progress, desc=desc)

    def all_sparsities(self) -> list[dict]:
        o = self.o
        if o.minutes is not None:
            say(f"== timing a few steps for a budget of {o.minutes:g} min per fine-tune")
            self.budget = {"minutes": o.minutes, **steps_for_minutes(o.minutes, self.user.torch(), self.teacher,
                                                                      self.data, self.recipe)}
            self.recipe = self.recipe.with_changes(steps=self.budget["steps"])
        say(f"== {o.model}: dense, as is ({len(self.labels)} test images, stock MNN)")
        self.dense = self.correct(self.user.mnn, "dense")
        say(f"   {_acc_line(self.dense)}")
        self.dense_tuned, self.dense_training = self.dense_reference()
        return [self.one_sparsity(s) for s in o.sparsities]

    def dense_reference(self) -> tuple[np.ndarray, dict]:
        say(f"== dense, fine-tuned by the same recipe ({self.recipe.steps} steps of {self.recipe.batch})")
        student = self.user.torch()
        info = self.timed("fine_tune", fine_tune, student, self.teacher, self.data, self.recipe,
                          progress=self.o.progress, desc="dense fine-tune")
        path = to_mnn(student, self.user.spec, self.tmp, "dense-finetuned")
        correct = self.correct(path, "dense fine-tuned")
        say(f"   {_acc_line(correct)}   ({info['seconds']:.0f} s, {info['cpu_seconds']:.0f} s CPU)")
        return correct, info

    def one_sparsity(self, s: float) -> dict:
        report, oneshot, oneshot_correct = self.one_shot(s)
        masks = converter_masks(oneshot, report, self.teacher)
        student, info, masks = self.prune_and_fine_tune(s, report, oneshot, masks)
        tagged, layers = self.tag(s, student, report.G, masks)
        tuned_correct = self.correct(tagged, f"fine-tuned {outputs.sparsity_tag(s)}")
        say(f"   {_acc_line(tuned_correct)}   ({info['seconds']:.0f} s, {info['cpu_seconds']:.0f} s CPU)")
        plugin = self.plugin_check(tagged, len(layers["tagged_by_detect"]))
        summary = self.summary(s, report, oneshot_correct, tuned_correct, info, layers, plugin, masks)
        files = outputs.write(self.o.out, self.o.model, s, tagged.read_bytes(), summary)
        tuned = summary["results"]["pruned_finetuned"]
        say(f"   drop vs dense {tuned['drop_vs_dense']['points']:+.2f} pt, vs dense fine-tuned "
            f"{tuned['drop_vs_dense_finetuned']['points']:+.2f} pt -> wrote {files[0]} and {files[1].name}")
        return summary

    def one_shot(self, s: float):
        """The converter alone: calibrated pruning at s, measured; its groups become the masks."""
        say(f"== {s:.0%}: one-shot calibrated pruning (converter, {len(self.calibration)} reserved images)")
        oneshot = self.tmp / f"oneshot-{outputs.sparsity_tag(s)}.mnn"
        report = self.timed("convert", _convert, self.user.mnn, oneshot, sparsity=s, group=self.group_size,
                            calibration=self.calibration, format="sparse", progress=False)
        correct = self.correct(oneshot, f"one-shot {outputs.sparsity_tag(s)}")
        say(f"   {_acc_line(correct)}   (G={report.G}, {report.totals()['tagged']} layers pruned)")
        return report, oneshot, correct

    def prune_and_fine_tune(self, s: float, report, oneshot: Path, masks):
        """(student, training info, the masks it ends with)."""
        r = self.recipe
        how = ("from the converter's re-fit weights" if r.start == "calibrated" else
               f"pruned gradually ({r.schedule} schedule)")
        say(f"== {s:.0%}: KD fine-tune to the converter's groups, {how}, {r.steps} steps, bn {r.bn}")
        student = self.user.torch()
        if r.start == "calibrated":
            load_calibrated(student, self.user.mnn, oneshot, report, masks)
        pruning = self.pruning(s, report.G, masks)
        info = self.timed("fine_tune", fine_tune, student, self.teacher, self.data, r, pruning,
                          progress=self.o.progress, desc=f"fine-tune {outputs.sparsity_tag(s)}")
        return student, info, (masks if isinstance(pruning, list) else pruning.final_masks())

    def tag(self, s: float, student, G: int, masks):
        """Export, `convert --detect`, and check it tagged exactly the masked groups."""
        tag = outputs.sparsity_tag(s)
        tuned = to_mnn(student, self.user.spec, self.tmp, f"finetuned-{tag}")
        tagged = self.tmp / f"finetuned-{tag}.sparse.mnn"
        detected = self.timed("convert", _convert, tuned, tagged, detect=True, group=G, progress=False)
        layers = check_detected(tagged, detected, masks, student)
        say(f"   --detect tagged the {len(layers['tagged_by_detect'])} masked layers, zeros as masked")
        return tagged, layers

    def plugin_check(self, tagged: Path, expected_convs: int) -> dict | None:
        n = min(self.o.plugin_check, len(self.images))
        if not n:
            return None
        plugin = self.timed("plugin_check", plugin_vs_stock, tagged, self.o.model, self.images[:n])
        if plugin["plugin_convs"] != expected_convs:   # else "plugin vs stock" compared stock with itself
            raise SparseByteNNError(f"{tagged}: the plugin ran {plugin['plugin_convs']} of the {expected_convs} "
                                    "tagged convs, so it was not checked against stock MNN (is the bridge built "
                                    "for this source tree? `scripts/setup.sh`)")
        say(f"   plugin vs stock MNN on {n} images: max rel. difference {plugin['max_rel_diff']:.1e}, "
            f"{plugin['top1_differing']} top-1 differing, {plugin['plugin_convs']} convs on the plugin")
        return plugin

    def pruning(self, s: float, G: int, masks):
        """The converter's masks (nested / one-shot schedules) or a converter run per stage."""
        if self.recipe.schedule != "converter":
            return masks
        folder = self.tmp / f"stages-{outputs.sparsity_tag(s)}"
        folder.mkdir()
        return ConverterStages(self.user.spec, self.calibration, s, G, folder, [m.module for m in masks])

    def summary(self, s, report, oneshot, tuned, info, layers, plugin, masks) -> dict:
        o, dense, dense_tuned = self.o, self.dense, self.dense_tuned
        results = {
            "dense": accuracy(dense),
            "dense_finetuned": {**accuracy(dense_tuned), "drop_vs_dense": drop(dense, dense_tuned)},
            "oneshot_calibrated": {**accuracy(oneshot), "drop_vs_dense": drop(dense, oneshot)},
            "pruned_finetuned": {**accuracy(tuned), "drop_vs_dense": drop(dense, tuned),
                                 "drop_vs_dense_finetuned": drop(dense_tuned, tuned)},
        }
        worst = max(results["pruned_finetuned"]["drop_vs_dense"]["points"],
                    results["pruned_finetuned"]["drop_vs_dense_finetuned"]["points"])
        goal = GOALS.get(round(s, 4))
        import torch

        from sparsebytenn_converter.mnn_wheel import import_mnn

        return {
            "model": o.model, "sparsity": s, "G": report.G, "target": report.target,
            "user_model": {"mnn": str(self.user.mnn), "sha256": self.user.manifest().get("mnn_sha256"),
                           "recipe": self.user.manifest().get("recipe")},
            "test": {"split": f"Fashion-MNIST test[0:{len(self.labels)}]", "measured_in": "stock MNN"},
            "results": results,
            "goal": {"max_drop_points": goal, "drop_points": round(worst, 3),
                     "definition": "the larger of the drops vs dense and vs dense fine-tuned",
                     "met": None if goal is None else bool(worst <= goal)},
            "recipe": self.recipe.to_dict(), "budget": self.budget,
            "masks": {"source": f"converter groups (calibrated on {len(self.calibration)} reserved training "
                                "images), mapped to the torch order through out_order/in_order",
                      "layers": len(masks), "sparsity_of_pruned_layers": report.totals()["sparsity_after"]},
            "layers": layers, "plugin_vs_stock": plugin,
            "training": {"dense_finetuned": self.dense_training, "pruned_finetuned": info},
            "seconds_so_far": {**self.seconds, "wall": round(time.perf_counter() - self.t0, 1),
                               "cpu": round(time.process_time(), 1),
                               "note": "whole run up to this sparsity (dense reference and earlier sparsities "
                                       "included); per fine-tune: training.*.seconds / cpu_seconds"},
            "machine": {**self.machine_start, "load_average_now": describe(o.threads)["load_average_1_5_15"]},
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "MNN": getattr(import_mnn(), "version", lambda: "?")()},
        }


def target_group() -> int:
    """This machine's G (8 on x86): the fine-tune keeps one G in every layer, since
    `convert --detect` tags one G; per-layer G (--group auto) is for one-shot."""
    from sparsebytenn_converter.options import TARGET_G, host_target

    return TARGET_G[host_target()]


def _convert(src, dst, **kwargs):
    from sparsebytenn_converter import convert

    return convert(src, dst, **kwargs)


def _acc_line(correct: np.ndarray) -> str:
    a = accuracy(correct)
    lo, hi = a["interval95"]
    return f"test accuracy {a['accuracy']:.2%}  (95 % CI {lo:.2%}..{hi:.2%}, {a['images']} images)"
