"""A/B of the bench's pairing (measure.py of commits 1cb981e-b0e0475: every batch right after a short batch
of mnn-dense, the ratio against that batch) against ratios of batches of the same round, by the
width of the 95 % interval over 20 rounds: MobileNet-V1 at 90 % G=8, 1 and 2 threads, the two
methods alternating. Runs at commits 1cb981e-b0e0475 only: python pairing_ab.py REPEATS"""
import sys, json, numpy as np
from sparsebytenn.bench import harness
from sparsebytenn.bench.harness import BenchConfig, run_bench
orig = harness.measure
def unpaired(*a, **k):
    k.pop("anchor", None); k.pop("anchor_runs", None)
    return orig(*a, **k)
out = []
for rep in range(int(sys.argv[1])):
    for mode in ("paired", "unpaired"):
        harness.measure = orig if mode == "paired" else unpaired
        cfg = BenchConfig(["mobilenet-v1"], sparsities=(0.9,), threads=(1, 2), engines=("mnn-dense", "plugin"),
                          rounds=20, progress=False, converter_options={"group": 8})
        r = run_bench(cfg)
        for row in r["results"]:
            if row["engine"] == "plugin":
                ci = row["speedup_vs_mnn_dense_ci95"]
                print(mode, row["threads"], round(row["speedup_vs_mnn_dense"], 2), [round(x, 2) for x in ci], "width", round(ci[1] - ci[0], 2), flush=True)
