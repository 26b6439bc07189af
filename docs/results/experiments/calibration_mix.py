"""Experiment (docs/results/experiments/README.md, calibration-mix-30pct.jsonl): ImageNet
MobileNet-V1 `--group auto` at 30 %, calibrated on the other fold's 140 augmented crops plus
MIX 1/f noise images (MIX = 0: the photo protocol as shipped; MIX < 0: data-free), scored
view by view on the held-out fold. Usage: python calibration_mix.py SEED MIX; prints one JSON
row per photo and a total line."""
import json, sys, tempfile
from pathlib import Path

import numpy as np
from sparsebytenn import zoo
from sparsebytenn.fidelity import photo_protocol as pp
from sparsebytenn.fidelity.batch_runner import model_io
from sparsebytenn_converter import convert
from sparsebytenn_converter.noise import pink_noise

seed, mix = int(sys.argv[1]), int(sys.argv[2])
src = zoo.get("mobilenet-v1", progress=False)
io = model_io(Path(src))
inp, out = io["inputs"][0], io["outputs"][0]
parts = pp.folds(pp.installed_photos())
work = Path(tempfile.mkdtemp())
rows = []
for k, scored in enumerate(parts):
    cal = pp.augmented_crops("mobilenet-v1", parts[1 - k], pp.CALIBRATION_CROPS, seed + k)
    if mix > 0:
        cal = np.concatenate([cal, pink_noise(mix, cal.shape[1:], seed=0, low=-1.0, high=1.0).astype(cal.dtype)])
    path = work / f"f{k}.mnn"
    convert(src, path, sparsity=0.3, group="auto", calibration=cal if mix >= 0 else None, progress=False, force=True)
    for p in scored:
        x = pp.ten_crop("mobilenet-v1", p)
        d, q = pp.logits(Path(src), x, inp, out), pp.logits(path, x, inp, out)
        rows.append({"photo": p.name, "fold": k, "agreed": int((d.argmax(1) == q.argmax(1)).sum())})
for r in rows:
    print(json.dumps(r))
print(json.dumps({"seed": seed, "mix": mix, "total": sum(r["agreed"] for r in rows),
                  "fold0": sum(r["agreed"] for r in rows if r["fold"] == 0),
                  "fold1": sum(r["agreed"] for r in rows if r["fold"] == 1)}))
