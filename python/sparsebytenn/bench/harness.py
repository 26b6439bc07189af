"""`sparsebytenn bench` as a function: models x thread counts x sparsities x engines."""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError
from . import machine as machine_info
from .engines import DEFAULT_ENGINES, ENGINES
from .measure import Instance, measure, speedup, speedup_interval
from .prepare import ModelSource, prepare_variants, resolve_model
from .stats import amdahl_ideal, median_iqr, pruned_share, round_medians
from .worker import Worker, WorkerError

# engines whose per-op MNN profile is taken (a few untimed runs each, after warm-up)
PROFILED_ENGINES = {"mnn-dense", "mnn-pruned-dense", "mnn-sparse", "plugin", "plugin-nodw"}
QUICK = {"sparsities": (0.3, 0.5, 0.7, 0.9), "threads": (1,), "rounds": 5, "runs": 5, "warmup": 3}
FULL = {"sparsities": (0.3, 0.5, 0.7, 0.9), "threads": (1, 2), "rounds": 15, "runs": 10, "warmup": 5}


@dataclass
class BenchConfig:
    models: list[str]
    sparsities: tuple[float, ...] = FULL["sparsities"]
    threads: tuple[int, ...] = FULL["threads"]
    engines: tuple[str, ...] = tuple(DEFAULT_ENGINES)
    rounds: int = FULL["rounds"]
    runs: int = FULL["runs"]
    warmup: int = FULL["warmup"]
    tolerance: float = 1e-3
    seed: int = 0
    onnx: str | None = None
    input_shape: tuple[int, ...] | None = None
    converter: object = None            # callable like sparsebytenn.convert (None: the real one)
    converter_options: dict = field(default_factory=dict)
    cache_dir: Path | None = None
    profile_runs: int = 5
    progress: bool = True

    def validate(self) -> None:
        unknown = [e for e in self.engines if e not in ENGINES]
        if unknown:
            raise SparseByteNNError(f"--engines: unknown engine(s) {', '.join(unknown)}; "
                                    f"known: {', '.join(ENGINES)}")
        bad = [s for s in self.sparsities if not 0.0 <= s < 1.0]
        if bad:
            raise SparseByteNNError(f"--sparsity: {', '.join(f'{s:g}' for s in bad)} out of range: "
                                    "a sparsity is a fraction in [0, 1), e.g. 0.5 for 50 %")
        if any(t < 1 for t in self.threads):
            raise SparseByteNNError("--threads: thread counts must be >= 1")
        if self.rounds < 1 or self.runs < 1 or self.warmup < 0:
            raise SparseByteNNError("--rounds and --runs must be >= 1, --warmup >= 0")
        from sparsebytenn_converter.options import ConvertOptions

        ConvertOptions.of(sparsity=0.5, **self.converter_options)   # e.g. a G without kernels


def _pct(s: float) -> str:
    return f"{s * 100:g}%"


def model_inputs(src: ModelSource, shape_override, seed: int, log_dir: Path) -> dict:
    """A fixed random input (seeded) with the model's own input names and shapes."""
    w = Worker(f"probe-{src.name}", log_dir)
    try:
        shapes = w.call("load", "sparsebytenn.bench.runners:InputProbe", str(src.path), 1, {},
                        None, timeout=120)["inputs"]
    except WorkerError as exc:
        raise SparseByteNNError(f"{src.path}: stock MNN cannot load this model: {exc}") from None
    finally:
        w.stop()
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        if shape_override is not None and len(shapes) == 1:
            shape = list(shape_override)
        elif src.input_shape and len(shapes) == 1 and any(d <= 0 for d in shape):
            shape = list(src.input_shape)
        if any(d <= 0 for d in shape):
            raise SparseByteNNError(f"{src.path}: input {name!r} has a dynamic shape {shape}; "
                                    "give one with --input-shape 1,3,224,224")
        out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


def build_instances(src: ModelSource, variants, threads: int, engines) -> list[Instance]:
    """Dense engines first, then per sparsity the pruned engines (the table's order)."""
    out = []
    for name in engines:
        spec = ENGINES[name]
        if not spec.pruned:
            path, why = (src.path, "") if spec.model == "original" else (src.onnx, src.onnx_note)
            out.append(Instance(name, name, spec.factory, path, threads, None,
                                spec.reference if spec.reference in engines else None,
                                error=why))
    for s, v in variants.items():
        for name in engines:
            spec = ENGINES[name]
            if spec.pruned:
                path = v.dense if spec.model == "pruned-dense" else v.sparse
                ref = f"{spec.reference}@{_pct(s)}" if spec.reference in engines else None
                inst = Instance(f"{name}@{_pct(s)}", name, spec.factory, path, threads, s, ref,
                                error=v.error)
                if path is None and v.error:
                    inst.fail(v.error)  # the conversion itself failed: a failure, not a gap
                out.append(inst)
    return out


def with_references(engines) -> list[str]:
    """The engines asked for plus those their outputs are checked against, in ENGINES order."""
    need = set(engines)
    for e in engines:
        while ENGINES[e].reference:
            e = ENGINES[e].reference
            need.add(e)
    return [e for e in ENGINES if e in need]


def _plugin_check(variants):
    def validate(inst: Instance):
        if not inst.engine.startswith("plugin") or "plugin_convs" not in inst.info:
            return None
        tagged = [ly for ly in variants[inst.sparsity].layers if ly.get("tagged")]
        ran = inst.info["plugin_convs"]
        if ran != len(tagged):
            return (f"the plugin ran {ran} of the {len(tagged)} tagged convolutions, stock MNN the rest "
                    "(timing it would time stock MNN under the plugin's name)")
        return None
    return validate


def rows_for(model: str, threads: int, instances: list[Instance], variants) -> list[dict]:
    by = {i.label: i for i in instances}
    dense = by.get("mnn-dense")
    profile = dense.profile if dense is not None and dense.ok else None
    rows = []
    for inst in instances:
        row = {"model": model, "sparsity": inst.sparsity, "threads": threads, "engine": inst.engine,
               "median_ms": None, "iqr_ms": None, "speedup_vs_mnn_dense": None,
               "speedup_vs_mnn_sparse": None, "ideal_speedup": None,
               "status": inst.status, "error": inst.error or None,
               "samples": sum(len(r) for r in inst.rounds), "max_output_error": inst.max_error}
        for k in ("plugin_convs", "plugin_depthwise", "plugin_direct_convs", "plugin_pointwise", "backend_type", "engine_version"):
            if k in inst.info:
                row[k] = inst.info[k]
        if inst.sparsity is not None:
            layers = variants[inst.sparsity].pruned_layers()
            row["pruned_layers"] = len(layers)
            if profile:
                row["ideal_speedup"] = amdahl_ideal(profile, layers)
                row["pruned_time_share"] = pruned_share(profile, layers)
        if inst.ok and inst.rounds:
            row["median_ms"], row["iqr_ms"] = median_iqr(x for r in inst.rounds for x in r)
            row["round_medians_ms"] = round_medians(inst.rounds)
            if dense is not None and dense.ok:
                row["speedup_vs_mnn_dense"] = speedup(dense, inst)
                row["speedup_vs_mnn_dense_ci95"] = speedup_interval(dense, inst)
            sparse = by.get(f"mnn-sparse@{_pct(inst.sparsity)}") if inst.sparsity is not None else None
            if sparse is not None and sparse.ok:
                row["speedup_vs_mnn_sparse"] = speedup(sparse, inst)
                row["speedup_vs_mnn_sparse_ci95"] = speedup_interval(sparse, inst)
        rows.append(row)
    return rows


def run_bench(cfg: BenchConfig, log_dir: Path | None = None, timeline: list | None = None) -> dict:
    """Run the whole benchmark; returns {"machine": {...}, "results": [...], "warnings": [...]}."""
    cfg.validate()
    from tqdm import tqdm

    engines = with_references(cfg.engines)

    sources = [resolve_model(m, cfg.onnx) for m in cfg.models]
    machine = machine_info.describe()
    machine["settings"] = {"rounds": cfg.rounds, "runs_per_round": cfg.runs, "warmup": cfg.warmup,
                           "tolerance": cfg.tolerance, "seed": cfg.seed,
                           "timed_unit": "one inference: copy inputs in, run, copy outputs out"}
    notes = [f"{e} added: the engines asked for are checked against it"
             for e in engines if e not in cfg.engines]
    notes += [f"{s.name}: onnxruntime not run: {s.onnx_note}" for s in sources
              if "onnxruntime" in engines and s.onnx is None]
    formats = {ENGINES[e].model.replace("pruned-dense", "dense") for e in engines
               if ENGINES[e].pruned}
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="sbnn-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    rows, profiles, op_tables, conversions = [], {}, {}, {}
    t0 = time.time()
    for src in sources:
        with tqdm(total=len(cfg.sparsities) * len(formats), desc=f"converting {src.name}",
                  disable=not cfg.progress or not formats, leave=False) as bar:
            variants = prepare_variants(src, cfg.sparsities, formats, cfg.converter,
                                        cfg.converter_options, cfg.cache_dir, bar)
        conversions[src.name] = {f"{s:g}": v.layers for s, v in variants.items()}
        for v in variants.values():
            if v.error:
                notes.append(f"{src.name} at {_pct(v.sparsity)}: {v.error}")
        inputs = model_inputs(src, cfg.input_shape, cfg.seed, log_dir)
        for threads in cfg.threads:
            instances = build_instances(src, variants, threads, engines)
            n = len(instances)
            with tqdm(total=n * (2 + cfg.rounds), desc=f"{src.name} {threads}T",
                      disable=not cfg.progress, leave=False) as bar:
                measure(instances, inputs, rounds=cfg.rounds, runs=cfg.runs, warmup=cfg.warmup,
                        log_dir=log_dir, tolerance=cfg.tolerance, seed=cfg.seed,
                        profile=PROFILED_ENGINES, profile_runs=cfg.profile_runs,
                        validate=_plugin_check(variants), progress=bar, timeline=timeline)
            rows += rows_for(src.name, threads, instances, variants)
            per_engine = {i.label: i.profile for i in instances if i.ok and i.profile}
            if per_engine:
                profiles[f"{src.name}@{threads}T"] = per_engine
            tables = {i.label: i.op_table for i in instances if i.ok and i.op_table}
            if tables:
                op_tables[f"{src.name}@{threads}T"] = tables
    machine["load_average_after"] = machine_info.load_average()
    machine["wall_time_s"] = round(time.time() - t0, 1)
    machine["worker_logs"] = str(log_dir)
    return {"machine": machine, "results": rows,
            "warnings": machine_info.noise_warnings(machine, rows), "notes": notes,
            "profiles_ms": profiles, "op_tables": op_tables, "conversions": conversions}
