"""How fast a pruned model will run: a measured kernel table and a measured stock profile.

The kernel table (speed_tables/*.json, written by `sparsebytenn bench speed-table`)
holds the effective GFLOP/s of the plugin's group-sparse 1x1 kernels per group
size G, layer shape and sparsity, 1 thread, on one CPU. A layer's time is
2 x MACs x (1 - s) / GFLOP/s, the GFLOP/s taken from the table's layer with the
nearest output size (and the nearest G in the table), interpolated in sparsity.

The rest of the network is what stock MNN measures: its per-op profile of the
dense model gives the total time T_stock and each pruned layer's stock time, so
the modelled plugin time is T_stock - sum(stock time of the pruned layers) +
sum(their modelled plugin time), and the modelled end-to-end speed-up is
T_stock / that. A model, not a measurement: `sparsebytenn eval --speed` and
`sparsebytenn bench` measure.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelError
from .groups import MIN_TAG_SPARSITY
from .op_profile import profile_ops

TABLES = Path(__file__).parent / "speed_tables"
PROFILE_RUNS = 12


@dataclass
class SpeedTable:
    source: str
    cpu_model: str
    isa: str
    rows: list[dict]                      # {"hw", "G", "sparsity", "gflops"} for the plugin
    groups: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        self.groups = tuple(sorted({int(r["G"]) for r in self.rows}))

    @classmethod
    def load(cls, path) -> "SpeedTable":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            rows = [r for r in d["rows"] if r.get("engine") == "sparsebytenn"]
            if not rows:
                raise ValueError("no sparsebytenn rows")
            for r in rows:
                int(r["hw"]), int(r["G"]), float(r["sparsity"]), float(r["gflops"])
            return cls(str(path), d.get("cpu_model", "?"), d.get("isa", "?"), rows)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: not a speed table ({exc}); write one with "
                             "`sparsebytenn bench speed-table --json FILE`") from None

    def gflops(self, G: int, hw: int, s: float) -> float:
        g = min(self.groups, key=lambda x: (abs(np.log2(x) - np.log2(G)), -x))
        rows = [r for r in self.rows if int(r["G"]) == g]
        sizes = sorted({int(r["hw"]) for r in rows})
        h = min(sizes, key=lambda x: abs(np.log(x) - np.log(max(hw, 1))))
        pts = sorted((float(r["sparsity"]), float(r["gflops"])) for r in rows if int(r["hw"]) == h)
        return float(np.interp(s, [p[0] for p in pts], [p[1] for p in pts]))

    def layer_ms(self, macs: int, G: int, hw: int, s: float) -> float:
        return 2.0 * macs * (1.0 - s) / (self.gflops(G, hw, s) * 1e6)


def host_isa() -> tuple[str, str]:
    """(the x86 ISA the plugin's kernels dispatch to here, the CPU model), from /proc/cpuinfo
    (SPARSEBYTENN_ISA overrides the ISA, as it does the dispatch)."""
    import os

    model, flags = "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = "avx512" if {"avx512f", "avx512bw", "avx512vl"} <= flags else "avx2"
    return os.environ.get("SPARSEBYTENN_ISA", isa), model


def default_table(isa: str, cpu_model: str) -> SpeedTable | None:
    """The shipped table for this ISA, preferring one measured on the same CPU vendor."""
    vendor = "amd" if "amd" in cpu_model.lower() else "intel"
    for name in (f"x86-{isa}-{vendor}.json", f"x86-{isa}-intel.json", f"x86-{isa}-amd.json"):
        if (TABLES / name).is_file():
            return SpeedTable.load(TABLES / name)
    return None


def stock_profile(model_path, input_shape: tuple, runs: int = PROFILE_RUNS) -> dict[str, float]:
    """Stock MNN's per-op time (ms, median over runs, 1 thread) of the model on one input."""
    from .mnn_wheel import import_mnn, quiet

    MNN = import_mnn()
    with quiet():
        interp = MNN.Interpreter(str(model_path))
        session = interp.createSession({"numThread": 1})
    inp = interp.getSessionInput(session)
    x = np.random.default_rng(0).standard_normal((1, *input_shape)).astype(np.float32)
    inp.copyFrom(MNN.Tensor(x.shape, MNN.Halide_Type_Float, x, MNN.Tensor_DimensionType_Caffe))
    if interp.runSession(session) != 0 or interp.runSession(session) != 0:      # warm-up
        raise ModelError(f"{model_path}: stock MNN could not run the model to time it")
    return profile_ops(interp, session, runs)


@dataclass
class TimeModel:
    table: SpeedTable
    stock: dict[str, float]               # op name -> stock ms
    macs: dict[str, int]                  # pruned layer -> multiply-adds per inference
    hw: dict[str, int]                    # pruned layer -> output size (sqrt of pixels)

    @property
    def stock_total(self) -> float:
        return sum(self.stock.values())

    def layer_ms(self, name: str, G: int, s: float) -> float:
        """Below MIN_TAG_SPARSITY a layer is not tagged (prune.py) and stays in stock MNN."""
        if s < MIN_TAG_SPARSITY and name in self.stock:
            return self.stock[name]
        return self.table.layer_ms(self.macs[name], G, self.hw[name], s)

    def total(self, choice: dict[str, tuple[int, float]]) -> float:
        rest = self.stock_total - sum(self.stock.get(n, 0.0) for n in self.macs)
        return rest + sum(self.layer_ms(n, G, s) for n, (G, s) in choice.items())

    def speedup(self, choice: dict[str, tuple[int, float]]) -> float:
        return self.stock_total / self.total(choice)
