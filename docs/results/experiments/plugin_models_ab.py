"""In one process, 1 thread: stock MNN dense against the plugin on several converted models,
interleaved (100 rounds; per round 2 stock runs, then 6 of each model), with a 95 % bootstrap
interval of the median per-round ratio.
python plugin_models_ab.py DENSE.mnn NAME=CONVERTED.mnn [NAME=CONVERTED.mnn ...]"""
import sys, numpy as np
from sparsebytenn.session import Session
M = sys.argv[1]
models = dict(a.split("=") for a in sys.argv[2:])
st = Session(M, plugin=False, threads=1)
ss = {k: Session(v, plugin=True, threads=1) for k, v in models.items()}
x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
st.run_timed(x, 10, 10)
for s in ss.values(): s.run_timed(x, 10, 10)
r = {k: [] for k in ss}
for i in range(100):
    ts = np.median(st.run_timed(x, 2, 0))
    for k, s in ss.items(): r[k].append(ts / np.median(s.run_timed(x, 6, 0)))
rng = np.random.default_rng(1)
for k, v in r.items():
    v = np.array(v); boots = [np.median(rng.choice(v, len(v))) for _ in range(2000)]
    print(f"{k}: {np.median(v):.2f}x stock MNN dense [95% {np.percentile(boots, 2.5):.2f}-{np.percentile(boots, 97.5):.2f}]",
          ss[k].stats()["plugin_convs_packed"])
