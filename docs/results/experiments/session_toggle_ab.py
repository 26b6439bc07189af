"""A/B of a kernel change inside one MNN session: blocks of 20 inferences alternate with the
environment variable the patched kernels read (SBNN_NOSHARE: pw-shared-boundaries.patch;
pw-row-bands.patch reads SBNN_NOBAND, the same script with that name), so both halves see the
same machine. python session_toggle_ab.py MODEL.mnn THREADS BLOCKS"""
import sys, os, numpy as np
from sparsebytenn.session import Session
model, thr, blocks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = Session(model, plugin=True, threads=thr)
x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
s.run_timed(x, 20, 10)
res = {"share": [], "static": []}
for b in range(blocks):
    for mode in ("share", "static") if b % 2 == 0 else ("static", "share"):
        if mode == "static": os.environ["SBNN_NOSHARE"] = "1"
        else: os.environ.pop("SBNN_NOSHARE", None)
        s.run_timed(x, 2, 0)
        res[mode].append(float(np.median(s.run_timed(x, 20, 0))))
b, nb = np.array(res["share"]), np.array(res["static"])
print(model, thr, "share", round(np.median(b), 3), "static", round(np.median(nb), 3), "per-block ratio", round(float(np.median(b / nb)), 3))
