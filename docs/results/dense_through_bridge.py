"""Unconverted zoo models through the bridge (no tagged conv: only the wrapping
runtime) vs stock MNN: outputs bitwise equal, per-round median time ratios of 15
interleaved rounds. Run: python docs/results/dense_through_bridge.py"""
import numpy as np, statistics, sys
from sparsebytenn.session import Session
from sparsebytenn import zoo
for name in ["mobilenet-v1", "efficientnet-lite0"]:
    p = zoo.get(name, progress=False)
    x = np.random.default_rng(0).standard_normal(tuple(zoo.info(name)["input_shape"])).astype(np.float32)
    for threads in (1, 2):
        stock, plug = Session(p, plugin=False, threads=threads), Session(p, plugin=True, threads=threads)
        a, b = stock.run(x), plug.run(x)
        assert plug.stats()["plugin_convs"] == 0
        k = list(a)[0]; assert np.array_equal(a[k], b[k])
        ratios = []
        for r in range(15):
            order = [stock, plug] if r % 2 == 0 else [plug, stock]
            t = {id(s): statistics.median(s.run_timed(x, repeats=10, warmup=2)) for s in order}
            ratios.append(t[id(stock)] / t[id(plug)])
        print(name, threads, "stock/bridge per-round median ratio", round(statistics.median(ratios), 3),
              "IQR", [round(q, 3) for q in statistics.quantiles(ratios, n=4)[::2]])
