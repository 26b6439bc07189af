"""Does sbnn_gsparse_fastest_group pick the fastest packing? Layers pruned in groups of G (1 or
2) at 67-90 %, from a small test model's narrow 1x1 convs to MobileNet-V1's 14x14 512->512,
timed packed in every G' >= G (kernels alone, 1 thread, medians of 7 interleaved batches); prints
the group the plugin picks and how far it is from the fastest.
python group_choice_check.py [avx512|avx2]"""
import sys
import time

import numpy as np

from sparsebytenn import _kernels as K
from sparsebytenn.bench.kernel_bench import group_mask, prune

isa = sys.argv[1] if len(sys.argv) > 1 else "avx512"
rng = np.random.default_rng(0)
CASES = ((32, 16, 32, 1, 0.67), (32, 32, 32, 1, 0.68), (16, 45, 40, 1, 0.67), (56, 32, 64, 1, 0.8),
         (56, 64, 128, 1, 0.9), (56, 64, 128, 2, 0.9), (28, 128, 128, 1, 0.9), (28, 256, 256, 1, 0.9),
         (14, 512, 512, 1, 0.9), (14, 512, 512, 2, 0.9))
for hw, ci, co, G, s in CASES:
    w = rng.standard_normal((co, ci, 1, 1)).astype(np.float32)
    keep, _ = group_mask(rng, co, ci, G, s)
    w = prune(w, keep, G).astype(np.float32)
    x = rng.standard_normal(((ci + 7) // 8, 1, hw, hw, 8)).astype(np.float32)
    y = np.zeros(((co + 7) // 8, 1, hw, hw, 8), np.float32)
    picked = K.fastest_group(w, G, isa)
    times = {}
    for _ in range(7):
        for g in (1, 2, 4, 8, 16):
            if g < G:
                continue
            pc = K.PackedConv(w, None, g, isa=isa)
            for _ in range(5):
                pc.run(x, pack=8, out=y)
            t0 = time.perf_counter()
            for _ in range(30):
                pc.run(x, pack=8, out=y)
            times.setdefault(g, []).append((time.perf_counter() - t0) / 30 * 1e3)
    med = {g: float(np.median(v)) for g, v in times.items()}
    best = min(med, key=med.get)
    print(f"{hw}x{hw} {ci}->{co} G={G} at {s:.0%}: picks G={picked}, {med[picked] / med[best]:.2f}x the fastest "
          f"(G={best}); ms", " ".join(f"{g}:{m:.3f}" for g, m in sorted(med.items())), flush=True)
