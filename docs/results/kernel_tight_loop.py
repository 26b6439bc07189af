"""Back-to-back timing of one 14x14 512->512 group-sparse conv (G = 8, AVX-512, NC8HW8)
through the bindings: wall and thread-CPU time per call, median / min / 25th percentile,
1 and 2 threads. Shows the VM's bimodal per-call time and the 2-thread scaling without
the interleaved benchmark's cold pools. Run: .venv/bin/python docs/results/kernel_tight_loop.py
"""
import time, numpy as np, sparsebytenn._kernels as K
rng = np.random.default_rng(0)
O = I = 512; H = W = 14
w = rng.standard_normal((O, I, 1, 1)).astype(np.float32)
for s in (0.0, 0.5, 0.9):
    ww = w.copy().reshape(O // 8, 8, I)
    keep = rng.random((O // 8, 1, I)) >= s
    ww = (ww * keep).reshape(O, I, 1, 1).astype(np.float32)
    nnz = int(keep.sum()) * 8
    pc = K.PackedConv(ww, np.zeros(O, np.float32), 8, isa="avx512")
    x = rng.standard_normal((I // 8, 1, H, W, 8)).astype(np.float32)
    y = np.zeros((O // 8, 1, H, W, 8), np.float32)
    for t in (1, 2):
        for _ in range(50): pc.run(x, pack=8, threads=t, out=y)
        ts = []; cs = []
        for _ in range(400):
            t0 = time.perf_counter(); c0 = time.thread_time()
            pc.run(x, pack=8, threads=t, out=y)
            ts.append(time.perf_counter() - t0); cs.append(time.thread_time() - c0)
        ts = np.array(ts); g = 2 * nnz * H * W
        print(f"s={s} T={t}: wall median {np.median(ts)*1e3:.3f} ms ({g/np.median(ts)/1e9:.0f} GF/s), min {ts.min()*1e3:.3f} ({g/ts.min()/1e9:.0f}), p25 {np.percentile(ts,25)*1e3:.3f}; thread cpu median {np.median(cs)*1e3:.3f}")
