"""Experiment (docs/results/experiments/README.md): ImageNet MobileNet-V1 calibrated --group auto at 30 %: which group set / crop count
keeps the most photo answers at the modelled 1.3x floor. Agreement only (speed: model)."""
import sys, json, tempfile, time
from pathlib import Path
import numpy as np
from sparsebytenn import zoo
from sparsebytenn.fidelity import photo_protocol as pp
from sparsebytenn_converter import convert, options

src = zoo.get("mobilenet-v1", progress=False)
variants = {"g16-2_c140": ((16, 8, 4, 2), 140), "g16-1_c140": ((16, 8, 4, 2, 1), 140),
            "g16-2_c420": ((16, 8, 4, 2), 420)}
out = []
for arg in sys.argv[1:]:            # NAME or NAME:SEED (the calibration crops' seed, default 0)
    name, _, seed = arg.partition(":")
    seed = int(seed or 0)
    groups, crops = variants[name]
    options.AUTO_GROUPS["x86"] = groups
    facts = {}
    def build(calib, path):
        r = convert(src, path, sparsity=0.3, group="auto", calibration=calib, progress=False, force=True)
        facts.setdefault("modelled", []).append(r.allocation["modelled_speedup"])
        facts.setdefault("G", []).append([v["G"] for v in r.allocation["layers"].values()])
        facts.setdefault("s", []).append([round(v["sparsity"], 3) for v in r.allocation["layers"].values()])
    t0 = time.time()
    res = pp.held_out_agreement("mobilenet-v1", Path(src), build, Path(tempfile.mkdtemp()), calibrated=True, crops=crops,
                                 seed=seed)
    row = dict(variant=name, seed=seed, top1=res["top1_agreement"], ci=res["top1_agreement_ci95"], cos=res["logit_cosine"],
               seconds=round(time.time() - t0), **facts)
    print(json.dumps(row), flush=True)
