"""What each evaluated model buys in speed: the plugin on it vs stock MNN on the dense model.

One interleaved run (bench/measure.py): every model in its own worker process,
timed one at a time in a fresh order each round; a row's speed-up is the median
of its per-round ratios against stock MNN dense, with a 95 % interval over the
rounds. Every plugin row must run all of its tagged convolutions in the plugin, or
it is marked failed rather than timing stock MNN under the plugin's name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bench.measure import Instance, measure, speedup, speedup_interval
from ..bench.stats import median_iqr

DENSE = "sbnn-dense"
DENSE_PLUGIN = "plugin#dense"


def _tagged(path: Path) -> int:
    from sparsebytenn_converter import read_model

    return sum(1 for c in read_model(path).convs if c.sparse and c.sparse.get("sbnn"))


def time_variants(subject, variants, rows: list[dict], cfg, work: Path) -> None:
    """Add speedup_vs_mnn_dense (and its timing facts) to every row, in place."""
    from tqdm import tqdm

    from ..zoo import catalog

    shape = catalog.spec(subject.zoo_name).input_shape
    inputs = {"input": np.random.default_rng(cfg.seed).standard_normal(shape).astype(np.float32)}
    # The dense model through the plugin too: its dense-op kernels alone give a speed-up, and
    # a pruned row is only worth its lost answers for what it adds to that.
    instances = [Instance(DENSE, "mnn-dense", "sparsebytenn.bench.runners:MNNRunner", subject.path,
                          cfg.threads),
                 Instance(DENSE_PLUGIN, "plugin", "sparsebytenn.bench.runners:PluginRunner", subject.path,
                          cfg.threads)]
    tagged = {DENSE_PLUGIN: 0}
    for k, v in enumerate(variants):
        if v.path is None or not Path(v.path).exists():
            continue
        label = f"plugin#{k}"
        tagged[label] = _tagged(v.path)
        instances.append(Instance(label, "plugin", "sparsebytenn.bench.runners:PluginRunner", Path(v.path),
                                  cfg.threads))

    def validate(inst: Instance):
        want = tagged.get(inst.label, 0)
        got = inst.info.get("plugin_convs")
        if inst.engine == "plugin" and got is not None and got != want:
            return f"the plugin ran {got} of the {want} tagged convolutions"
        return None

    (work / "logs").mkdir(exist_ok=True)
    with tqdm(total=len(instances) * (2 + cfg.speed_rounds), desc="timing", disable=not cfg.progress,
              leave=False) as bar:
        measure(instances, inputs, rounds=cfg.speed_rounds, runs=cfg.speed_runs, warmup=3,
                log_dir=work / "logs", seed=cfg.seed, validate=validate, progress=bar)
    by = {i.label: i for i in instances}
    dense = by[DENSE]
    for k, row in enumerate(rows):
        inst = by.get(f"plugin#{k}")
        if k == 0 and dense.ok:
            row["median_ms"] = median_iqr(x for r in dense.rounds for x in r)[0]
            row["speedup_vs_mnn_dense"] = 1.0
            row["timed_engine"] = "stock MNN"
            on_plugin = by[DENSE_PLUGIN]
            if on_plugin.ok and on_plugin.rounds:
                row["plugin_speedup_vs_mnn_dense"] = speedup(dense, on_plugin)
            continue
        if inst is None:
            continue
        row["timed_engine"] = "plugin"
        if not (inst.ok and dense.ok and inst.rounds):
            row["speed_error"] = inst.error or dense.error or "not timed"
            continue
        row["median_ms"] = median_iqr(x for r in inst.rounds for x in r)[0]
        row["speedup_vs_mnn_dense"] = speedup(dense, inst)
        row["speedup_vs_mnn_dense_ci95"] = speedup_interval(dense, inst)
        row["plugin_convs"] = inst.info.get("plugin_convs")

