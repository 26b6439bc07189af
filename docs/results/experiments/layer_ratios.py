"""Experiment (README.md here): per pruned layer, the speed table's ratio (plugin / stock MNN) against the one
measured in whole sessions (MNN's per-op profile, 1 thread). python layer_ratios.py ZOO_MODEL SPARSITY OUT.mnn [BLOCKS]."""
import sys, json, numpy as np
from pathlib import Path
import sparsebytenn
from sparsebytenn import zoo
from sparsebytenn_converter import convert
from sparsebytenn_converter.speed_model import default_table, host_isa, stock_profile
name, sp, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
src = zoo.get(name, progress=False)
if not Path(out).exists():
    rep = convert(src, out, sparsity=sp, progress=False, force=True)
    json.dump(rep.allocation, open(out + ".alloc.json", "w"))
alloc = json.load(open(out + ".alloc.json"))
isa, cpu = host_isa()
table = default_table(isa, cpu)
shape = tuple(zoo.info(name)["input_shape"])
stock_prof, _ = stock_profile(src, shape[1:])
x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
P = sparsebytenn.Session(out, plugin=True, threads=1)
S = sparsebytenn.Session(src, plugin=False, threads=1)
for s in (P, S): s.run_timed(x, 20)
acc = {"p": {}, "s": {}}
for b in range(int(sys.argv[4]) if len(sys.argv) > 4 else 5):
    for k, v in P.profile(x, 20).items(): acc["p"].setdefault(k, []).append(v)
    for k, v in S.profile(x, 20).items(): acc["s"].setdefault(k, []).append(v)
med = {w: {k: float(np.median(v)) for k, v in d.items()} for w, d in acc.items()}
hw_of = {}
tot_model = tot_meas = tot_stock = 0
print(f"{'layer':28s} G    s   hw  stock  model  meas  mod/st meas/st")
HW = {96: [48, 24, 24, 12, 12, 6, 6, 6, 6, 6, 6, 3, 3], 224: [112, 56, 56, 28, 28, 14, 14, 14, 14, 14, 14, 7, 7]}[shape[-1]]
from sparsebytenn_converter.speed_model import POINTWISE_GROUP
for i, (lname, v) in enumerate(alloc["layers"].items()):
    G, s = v["G"], v["sparsity"]
    hw = HW[i]
    r = table.ratio(G, hw, s) if s >= 0.05 else min(1.0, table.ratio(POINTWISE_GROUP, hw, 0.0))
    v["modelled_ms"] = stock_prof.get(lname, float("nan")) * r
    st = stock_prof.get(lname, float("nan"))
    mp = med["p"].get(lname, float("nan"))
    ms = med["s"].get(lname, float("nan"))
    print(f"{lname[-28:]:28s} {G:2d} {s:5.3f} {hw:3d} {ms:6.3f} {v.get('modelled_ms', float('nan')):6.3f} {mp:6.3f} {mp/ms:6.2f}  model_ratio {v['modelled_ms']/stock_prof.get(lname, float('nan')):5.2f}")
print("totals: plugin", round(sum(med['p'].values()), 3), "stock", round(sum(med['s'].values()), 3),
      "ratio", round(sum(med['s'].values()) / sum(med['p'].values()), 3), "modelled", alloc.get("modelled_speedup"))
print(json.dumps({k: v for k, v in alloc.items() if k != "layers"})[:600])
