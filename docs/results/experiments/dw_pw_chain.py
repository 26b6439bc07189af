"""Two-thread scaling of a chain of depthwise + 1x1 pairs, the kernels alone (issue 15).

python dw_pw_chain.py SPARSITY HW C [BLOCKS]
Five (3x3 depthwise C, ReLU6) -> (1x1 C->C at SPARSITY in G=8 groups, ReLU6) pairs on an
HWxHW image, batch 1, AVX-512, through the Python bindings: "chain" runs the ten ops
back to back, each reading the tensor the one before wrote; "isolated" repeats each op
on fixed buffers. With pw-row-bands.patch applied, SBNN_NOBAND=1 turns its band split
off, and blocks of 20 chains alternate it, so both halves see the same machine.
"""
import os
import sys
import time

import numpy as np

from sparsebytenn import _kernels as K
from sparsebytenn.bench.kernel_bench import group_mask, prune

sp, hw, C = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
blocks = int(sys.argv[4]) if len(sys.argv) > 4 else 30
rng = np.random.default_rng(0)
ops = []
for _ in range(5):
    ops.append(("dw", K.DwConv(rng.standard_normal((C, 1, 3, 3)).astype(np.float32), None, 0.0, 6.0, isa="avx512")))
    keep, _ = group_mask(rng, C, C, 8, sp)
    w = prune(rng.standard_normal((C, C, 1, 1)).astype(np.float32), keep, 8).astype(np.float32)
    ops.append(("pw", K.PackedConv(w, None, 8, 0.0, 6.0, isa="avx512")))
bufs = [rng.standard_normal(((C + 7) // 8, 1, hw, hw, 8)).astype(np.float32) for _ in range(2)]


def run_op(op, threads, src, dst):
    kind, o = op
    if kind == "dw":
        o.run(src, padding=[1, 1, 1, 1], pack=8, threads=threads, out=dst)
    else:
        o.run(src, pack=8, threads=threads, out=dst)


def chain(threads, n):
    t0 = time.perf_counter()
    for _ in range(n):
        for i, op in enumerate(ops):
            run_op(op, threads, bufs[i % 2], bufs[1 - i % 2])
    return (time.perf_counter() - t0) / n * 1e3


def isolated(threads, n):
    total = 0.0
    for op in ops:
        t0 = time.perf_counter()
        for _ in range(n):
            run_op(op, threads, bufs[0], bufs[1])
        total += (time.perf_counter() - t0) / n * 1e3
    return total


res = {}
for b in range(blocks):
    for mode in ("band", "noband"):
        if mode == "noband":
            os.environ["SBNN_NOBAND"] = "1"
        else:
            os.environ.pop("SBNN_NOBAND", None)
        for threads in (1, 2):
            for name, f in (("chain", chain), ("isolated", isolated)):
                f(threads, 3)
                res.setdefault((mode, name, threads), []).append(f(threads, 20))
for k, v in sorted(res.items()):
    print(k, round(float(np.median(v)), 4), "ms")
for mode in ("band", "noband"):
    for name in ("chain", "isolated"):
        print(mode, name, "2-thread scaling",
              round(float(np.median(res[(mode, name, 1)]) / np.median(res[(mode, name, 2)])), 2))
