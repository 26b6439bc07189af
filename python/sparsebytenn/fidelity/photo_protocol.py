"""ImageNet agreement on the installed photos, held out: two folds, ten-crop views.

The 14 photos installed packages ship are split into two fixed folds (alternating
in name order). A pruned model calibrated on augmented crops of one fold is
scored on the other fold's ten-crop views (four corners and the centre of the
256-px resize, each also flipped), then the folds swap and the 140 views are
pooled. Agreement is with the dense model's own answer (there are no labels).
14 correlated photos give direction, never an accuracy: the Wilson interval of
an agreement over 14 photos is about +-25 pt.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import SparseByteNNError
from . import stats
from .batch_runner import BatchRunner

CALIBRATION_CROPS = 140          # augmented crops of the calibration fold
MIN_PHOTOS = 4
SURE = 0.5                       # a view the dense model gives >= 50 % to its top-1 class


@dataclass
class Photo:
    name: str
    path: Path


def installed_photos() -> list[Photo]:
    from .. import zoo

    photos = sorted((Photo(n, p) for n, p, _ in zoo.sample_photos()), key=lambda p: p.name)
    if len(photos) < MIN_PHOTOS:
        raise SparseByteNNError(f"only {len(photos)} installed photos (need {MIN_PHOTOS}; scikit-image, "
                                "darknet, scikit-learn and matplotlib ship them)")
    return photos


def folds(photos: list[Photo]) -> tuple[list[Photo], list[Photo]]:
    return photos[0::2], photos[1::2]


def _normalise(zoo_name: str, crops) -> np.ndarray:
    from ..zoo import catalog

    s = catalog.spec(zoo_name)
    x = np.stack([np.asarray(c, np.float32) for c in crops])
    x = (x - np.asarray(s.mean, np.float32)) / np.asarray(s.std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def ten_crop(zoo_name: str, photo: Photo) -> np.ndarray:
    """(10, 3, S, S): corners and centre of the model's resize, and their mirror images."""
    from PIL import Image

    from ..zoo import catalog
    from ..zoo.images import load_rgb

    s = catalog.spec(zoo_name)
    crop = s.input_shape[-1]
    im = load_rgb(photo.path)
    w, h = im.size
    scale = s.resize / min(w, h)
    im = im.resize((max(crop, round(w * scale)), max(crop, round(h * scale))), Image.BILINEAR)
    w, h = im.size
    boxes = [(0, 0), (w - crop, 0), (0, h - crop), (w - crop, h - crop), ((w - crop) // 2, (h - crop) // 2)]
    views = [im.crop((x, y, x + crop, y + crop)) for x, y in boxes]
    views += [v.transpose(Image.FLIP_LEFT_RIGHT) for v in views]
    return _normalise(zoo_name, views)


def augmented_crops(zoo_name: str, photos: list[Photo], n: int, seed: int) -> np.ndarray:
    """(n, 3, S, S) random-resized crops (8-100 % of the area, aspect 3/4-4/3), half flipped."""
    from PIL import Image

    from ..zoo import catalog
    from ..zoo.images import load_rgb

    crop = catalog.spec(zoo_name).input_shape[-1]
    rng = np.random.default_rng(seed)
    images = [load_rgb(p.path) for p in photos]
    views = []
    for k in range(n):
        im = images[k % len(images)]
        w, h = im.size
        for _ in range(10):
            area = w * h * rng.uniform(0.08, 1.0)
            aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            cw, ch = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
            if cw <= w and ch <= h:
                break
        else:
            cw = ch = min(w, h)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        v = im.crop((x, y, x + cw, y + ch)).resize((crop, crop), Image.BILINEAR)
        if rng.random() < 0.5:
            v = v.transpose(Image.FLIP_LEFT_RIGHT)
        views.append(v)
    return _normalise(zoo_name, views)


def logits(path: Path, x: np.ndarray, input_name: str, output: str) -> np.ndarray:
    run = BatchRunner(path, input_name, [output], 1)
    return np.concatenate([run(x[i:i + 1])[0] for i in range(len(x))])   # some graphs fix batch 1


def agreement(dense: np.ndarray, pruned: np.ndarray) -> dict:
    top1, top5 = stats.topk_agreement(pruned, dense, 5)
    k = int(round(top1 * len(dense)))
    return {"views": len(dense), "top1_agreement": top1,
            "top1_agreement_ci95": list(stats.wilson_interval(k, len(dense))),
            "top5_overlap": top5, "logit_cosine": float(stats.cosine_rows(pruned, dense).mean()),
            "logit_rel_err": float(stats.relative_error_rows(pruned, dense).mean())}


def breakdown(dense: np.ndarray, pruned: np.ndarray, photo_of_view: list[str], fold_of_photo: dict) -> dict:
    """Where the answers changed: per photo (views kept, the dense model's mean top-1
    probability) and split by how sure the dense model was of each view. Flips gather
    on views the dense model itself hardly decides (docs/results/experiments/README.md)."""
    d = np.asarray(dense, np.float64).reshape(len(dense), -1)
    kept = d.argmax(1) == np.asarray(pruned).reshape(len(pruned), -1).argmax(1)
    p = np.exp(d - d.max(1, keepdims=True))
    top1 = p.max(1) / p.sum(1)
    names = np.asarray(photo_of_view)
    per_photo = []
    for name in dict.fromkeys(photo_of_view):
        m = names == name
        per_photo.append({"photo": name, "fold": fold_of_photo[name], "views": int(m.sum()),
                          "agreed": int(kept[m].sum()), "dense_top1_prob": round(float(top1[m].mean()), 3)})
    sure = top1 >= SURE
    split = {"threshold": SURE}
    for key, m in (("sure", sure), ("unsure", ~sure)):
        split[key] = {"views": int(m.sum()), "agreed": int(kept[m].sum())}
    return {"per_photo": per_photo, "by_dense_confidence": split}


def held_out_agreement(zoo_name: str, dense_path: Path, build: Callable[[np.ndarray | None, Path], None],
                       work: Path, *, calibrated: bool, seed: int = 0, crops: int = CALIBRATION_CROPS) -> dict:
    """Pooled agreement over both folds. build(calibration inputs or None, out path) writes
    the pruned model; with calibrated=False it is built once, without inputs."""
    from .batch_runner import model_io

    io = model_io(dense_path)
    inp, out = io["inputs"][0], io["outputs"][0]
    photos = installed_photos()
    parts = folds(photos)
    dense_l, pruned_l = [], []
    once = None
    view_photo: list[str] = []      # the photo of every scored view, in order
    for k, scored in enumerate(parts):
        views = [ten_crop(zoo_name, p) for p in scored]
        view_photo += [p.name for p, v in zip(scored, views) for _ in range(len(v))]
        x = np.concatenate(views)
        dense_l.append(logits(dense_path, x, inp, out))
        path = work / f"fold{k}.mnn"
        if calibrated:
            build(augmented_crops(zoo_name, parts[1 - k], crops, seed + k), path)
        elif once is None:
            build(None, path)
            once = path
        pruned_l.append(logits(path if calibrated else once, x, inp, out))
    res = agreement(np.concatenate(dense_l), np.concatenate(pruned_l))
    res.update(breakdown(np.concatenate(dense_l), np.concatenate(pruned_l), view_photo,
                         {p.name: k for k, part in enumerate(parts) for p in part}))
    res["photos"] = [p.name for p in photos]
    res["folds"] = [[p.name for p in f] for f in parts]
    res["calibration_crops_per_fold"] = crops if calibrated else 0
    return res
