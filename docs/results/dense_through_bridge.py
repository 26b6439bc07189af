"""Unconverted zoo models through the bridge (no tagged conv: only the wrapping
runtime) vs stock MNN: outputs bitwise equal, per-round median time ratios of 15
interleaved rounds. Run: python docs/results/dense_through_bridge.py"""
import statistics

import numpy as np

from sparsebytenn import zoo
from sparsebytenn.session import Session

for name in ["mobilenet-v1", "efficientnet-lite0"]:
    path = zoo.get(name, progress=False)
    x = np.random.default_rng(0).standard_normal(tuple(zoo.info(name)["input_shape"])).astype(np.float32)
    for threads in (1, 2):
        stock, bridge = Session(path, plugin=False, threads=threads), Session(path, plugin=True, threads=threads)
        a, b = stock.run(x), bridge.run(x)
        assert bridge.stats()["plugin_convs"] == 0
        assert all(np.array_equal(a[k], b[k]) for k in a)
        ratios = []
        for r in range(15):  # alternate which engine goes first
            order = [stock, bridge] if r % 2 == 0 else [bridge, stock]
            ms = {id(s): statistics.median(s.run_timed(x, repeats=10, warmup=2)) for s in order}
            ratios.append(ms[id(stock)] / ms[id(bridge)])
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        print(f"{name} {threads}T: stock/bridge per-round median ratio {statistics.median(ratios):.3f} "
              f"(IQR {q1:.3f}-{q3:.3f})")
