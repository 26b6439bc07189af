"""Which group size a layer pruned in small groups at 90 % runs fastest packed in, against
what sbnn_gsparse_fastest_group picks (AVX-512, 1 thread, the kernels alone, MNN's NC8HW8
layout; the shapes of the MobileNet-V1 layers --group auto pruned in G=1/2/4 at 90 %).
python repack_at_90.py"""
import time, numpy as np
from sparsebytenn import _kernels as K
from sparsebytenn.bench.kernel_bench import group_mask, prune
rng = np.random.default_rng(0)
for hw, ci, co, G in ((112, 32, 64, 2), (56, 128, 128, 2), (28, 128, 256, 1), (14, 512, 512, 4), (7, 1024, 1024, 4)):
    w = rng.standard_normal((co, ci, 1, 1)).astype(np.float32)
    keep, _ = group_mask(rng, co, ci, G, 0.9)
    w = prune(w, keep, G).astype(np.float32)
    x = rng.standard_normal(((ci + 7) // 8, 1, hw, hw, 8)).astype(np.float32)
    y = np.zeros(((co + 7) // 8, 1, hw, hw, 8), np.float32)
    fast = K.fastest_group(w, G, "avx512")
    res = {}
    for r in range(7):
        for g in (G, 4, 8, 16):
            if g < G: continue
            pc = K.PackedConv(w, None, g, isa="avx512")
            for _ in range(5): pc.run(x, pack=8, out=y)
            t0 = time.perf_counter()
            for _ in range(50): pc.run(x, pack=8, out=y)
            res.setdefault(g, []).append((time.perf_counter() - t0) / 50 * 1e3)
    print(f"{hw}x{hw} {ci}->{co} pruned G={G} at 90 %: fastest_group picks {fast};", "  ".join(f"packed G={g}: {np.median(v):.3f} ms" for g, v in sorted(res.items())))
