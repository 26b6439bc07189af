"""A two-term model of the group-sparse kernels' time, fitted to a shipped speed table:
time per output pixel = a(G) x stored weights + b(G) x output channels, per G by least
squares relative to each row (every layer and sparsity of the table). The second term is
what a G < 8 pack pays per output channel for its bias, clamp and scattered stores into
NC8HW8 (G = 8 on AVX-512 stores straight from the accumulators), which the one-term model
of sbnn_gsparse_fastest_group (stored weights x a per-G cost from the 30-70 % rows) leaves
out. python group_cost_fit.py [avx512|avx2]"""
import json
import sys
from pathlib import Path

import numpy as np

isa = sys.argv[1] if len(sys.argv) > 1 else "avx512"
root = Path(__file__).resolve().parents[3]
table = json.loads((root / f"converter/sparsebytenn_converter/speed_tables/x86-{isa}-intel.json").read_text())
rows = [r for r in table["rows"] if r.get("engine") == "sparsebytenn"]
fits = {}
for G in (1, 2, 4, 8, 16):
    A, y = [], []
    for r in rows:
        if int(r["G"]) != G:
            continue
        hw, io = r["layer"].split("_")
        I, O = map(int, io.split("-"))
        s = float(r["sparsity"])
        stored = O * I * (1 - s)                          # kept MACs per pixel, as pruned in G
        A.append([stored, O])
        y.append(2 * stored / (float(r["gflops"]) * 1e9))  # seconds per output pixel
    A, y = np.array(A), np.array(y)
    coef, *_ = np.linalg.lstsq(A / y[:, None], np.ones_like(y), rcond=None)
    err = np.abs(A @ coef / y - 1)
    fits[G] = coef
    print(f"{isa} G={G:2d}: a={coef[0]:.3e} s, b={coef[1]:.3e} s, rows {len(y)}, "
          f"median |relative error| {np.median(err):.2f}, max {err.max():.2f}")
a8 = fits[8][0]
print("a(G)/a(8):", {G: round(float(c[0] / a8), 3) for G, c in fits.items()})
print("b(G)/a(8) (stored-weight equivalents per output channel):", {G: round(float(c[1] / a8), 1) for G, c in fits.items()})
