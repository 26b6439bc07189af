"""How fast a pruned model will run: a measured kernel table and a measured stock profile.

The kernel table (speed_tables/*.json, written by `sparsebytenn bench speed-table`)
holds, from one interleaved run on one CPU (1 thread), the effective GFLOP/s of the
plugin's group-sparse 1x1 kernels per group size G, layer shape and sparsity, and
stock MNN's dense GFLOP/s on the same layer shapes (its conv op alone, timed by MNN's
per-op callbacks as the profile below times it: a one-conv session's layout
conversions would make stock look slower than it is inside a model). Its use is a ratio: a pruned
layer runs in (1 - s) x stock GFLOP/s / plugin GFLOP/s of stock MNN's time for it,
both taken from the table's layer with the nearest output size (and the nearest G
in the table), interpolated in sparsity.

Stock MNN's per-op profile of the dense model, measured on this machine once per
model (then cached, so the same command writes the same file: stock_profile),
gives the total time T_stock and each pruned layer's stock time, so the modelled
plugin time is T_stock - sum(stock time of the pruned layers) + sum(their stock time
x the ratio), and the modelled end-to-end speed-up is T_stock / that. Where the plugin
also runs the depthwise convs and the convs with few input channels (x86,
SPARSEBYTENN_DWCONV / SPARSEBYTENN_DCONV), their stock time is divided by the table's
measured speed-up for that kind (stock MNN / plugin over MobileNet-V1's depthwise
layers, and over its first conv, same machine as the table); a candidate 1x1 layer left
dense is priced at the table's 0 % ratio where the plugin's dense 1x1 convs are the
faster (SPARSEBYTENN_PWCONV). Pricing the
plugin as a ratio to a stock time measured in the same run as the plugin's keeps
the model independent of how fast this machine happens to be today: an absolute
kernel time from the table against a live profile moved the modelled speed-up by
~6 % whenever the machine ran faster or slower than when the table was written,
and --group auto then bought the difference with sparsity. A model, not a
measurement: `sparsebytenn eval --speed` and `sparsebytenn bench` measure.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache_home import cache_home
from .digest import sha256_of
from .errors import ModelError
from .groups import MIN_TAG_SPARSITY
from .mnn_wheel import MNNSession, import_mnn
from .op_profile import profile_ops

TABLES = Path(__file__).parent / "speed_tables"
PROFILE_RUNS = 20


@dataclass
class SpeedTable:
    source: str
    cpu_model: str
    isa: str
    rows: list[dict]                      # {"hw", "G", "sparsity", "gflops"} for the plugin
    stock_rows: list[dict]                # {"hw", "gflops"}: stock MNN's dense conv op, same run
    # Stock MNN's time over the plugin's for each dense kind it also runs on x86
    # (DENSE_KINDS: "depthwise", "direct_conv"); 1.0 for a kind the table did not measure.
    dense_speedup: dict[str, float] = field(default_factory=dict)
    groups: tuple[int, ...] = field(init=False)
    costs: dict[int, tuple[float, float]] = field(init=False)    # G -> (a, b): fit_group_costs

    def __post_init__(self):
        self.groups = tuple(sorted({int(r["G"]) for r in self.rows}))
        self.costs = fit_group_costs(self.rows)

    @classmethod
    def load(cls, path) -> "SpeedTable":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            rows = [r for r in d["rows"] if r.get("engine") == "sparsebytenn"]
            stock = [r for r in d["rows"] if r.get("engine") == "mnn-conv-op"]
            if not rows or not stock:
                raise ValueError("no " + ("sparsebytenn" if not rows else "mnn-conv-op") + " rows")
            for r in rows:
                int(r["hw"]), int(r["cin"]), int(r["cout"]), int(r["G"]), float(r["sparsity"]), float(r["gflops"])
            for r in stock:
                int(r["hw"]), float(r["gflops"])
            dense = {}
            for kind in DENSE_KINDS:
                got = [float(r["mnn_over_plugin"]) for r in d["rows"] if r.get("engine") == kind]
                if any(not 0.1 <= x <= 10 for x in got):
                    raise ValueError(f"{kind} mnn_over_plugin {got} out of range")
                if got:
                    dense[kind] = got[0]
            return cls(str(path), d.get("cpu_model", "?"), d.get("isa", "?"), rows, stock, dense)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: not a speed table ({exc}); write one with "
                             "`sparsebytenn bench speed-table --json FILE`") from None

    def speedup_of(self, kind: str) -> float:
        """Stock MNN's time over the plugin's for the dense ops of `kind` (1.0: not measured)."""
        return self.dense_speedup.get(kind, 1.0)

    def gflops(self, G: int, hw: int, s: float) -> float:
        g = min(self.groups, key=lambda x: (abs(np.log2(x) - np.log2(G)), -x))
        rows = [r for r in self.rows if int(r["G"]) == g]
        sizes = sorted({int(r["hw"]) for r in rows})
        h = min(sizes, key=lambda x: abs(np.log(x) - np.log(max(hw, 1))))
        pts = sorted((float(r["sparsity"]), float(r["gflops"])) for r in rows if int(r["hw"]) == h)
        return float(np.interp(s, [p[0] for p in pts], [p[1] for p in pts]))

    def stock_gflops(self, hw: int) -> float:
        """Stock MNN's dense GFLOP/s on the table's layer with the nearest output size."""
        sizes = sorted({int(r["hw"]) for r in self.stock_rows})
        h = min(sizes, key=lambda x: abs(np.log(x) - np.log(max(hw, 1))))
        return float(np.median([float(r["gflops"]) for r in self.stock_rows if int(r["hw"]) == h]))

    def group_cost(self, G: int) -> tuple[float, float]:
        """(a, b): the kernels' time per output pixel with G is a x stored weights + b x output
        channels, in units of G=8's a (the nearest G in the table). b is what a G < 8 pack pays
        per output channel for its scattered stores into NC8HW8, which G = 8 writes straight
        from its accumulators (Intel AVX-512 table: 34-40 stored weights' worth for G = 1-4, 12 for G = 8)."""
        return self.costs[min(self.costs, key=lambda x: (abs(np.log2(x) - np.log2(G)), -x))]

    def packing_group(self, G: int, fan_in: int, kept) -> int:
        """The group size the plugin packs a layer pruned in groups of G with: of G and the table's
        larger groups G divides, the least a x kept(g) x fan_in + b per output channel, where
        kept(g) is the fraction of g-groups with a weight kept (their zeros are stored) and fan_in
        the layer's input channels x taps. sbnn_gsparse_fastest_group has the same rule, with the
        fits of the shipped tables compiled in."""
        wider = [g for g in self.groups if g > G and g % G == 0]
        return min([G] + wider, key=lambda g: (self.group_cost(g)[0] * kept(g) * fan_in + self.group_cost(g)[1], g))

    def ratio(self, G: int, hw: int, s: float) -> float:
        """The plugin's time for a layer at (G, s) over stock MNN's dense time for it."""
        return (1.0 - s) * self.stock_gflops(hw) / self.gflops(G, hw, s)


def fit_group_costs(rows: list[dict]) -> dict[int, tuple[float, float]]:
    """Per G: (a, b) with time per output pixel = a x stored weights + b x output channels, by
    least squares relative to each row (every layer and sparsity of the table), both in units
    of G=8's a (of the smallest G's when the table has no G=8). A row stores cin x cout x
    (1 - sparsity) weights per pixel and runs 2 x that in gflops x 1e9 FLOP/s."""
    fits = {}
    for G in sorted({int(r["G"]) for r in rows}):
        mine = [r for r in rows if int(r["G"]) == G]
        if any(float(r["gflops"]) <= 0 for r in mine):
            raise ValueError(f"G={G} has a row of 0 GFLOP/s")
        A = np.array([[int(r["cin"]) * int(r["cout"]) * (1.0 - float(r["sparsity"])), int(r["cout"])] for r in mine])
        y = 2.0 * A[:, 0] / (np.array([float(r["gflops"]) for r in mine]) * 1e9)
        coef = np.linalg.lstsq(A / y[:, None], np.ones_like(y), rcond=None)[0]
        fits[G] = (max(float(coef[0]), 1e-30), max(float(coef[1]), 0.0))
    unit = fits[8][0] if 8 in fits else fits[min(fits)][0]
    return {G: (a / unit, b / unit) for G, (a, b) in fits.items()}


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


# The dense ops the bridge may take over from MNN on x86 (plugin/mnn_bridge/
# measured_execution.h), with their variables: under auto (the default) it offers them
# to its kernels on these ISAs and keeps each op only where ours measures faster.
# The depthwise and direct convs are priced by one measured ratio per kind (the speed
# tables' rows of that engine); the dense 1x1 convs ("pointwise") per layer, from the
# tables' own s = 0 rows at POINTWISE_GROUP, as the bridge packs them.
DENSE_KINDS = {"depthwise": "SPARSEBYTENN_DWCONV", "direct_conv": "SPARSEBYTENN_DCONV"}
TAKEOVER_KINDS = {**DENSE_KINDS, "pointwise": "SPARSEBYTENN_PWCONV"}
POINTWISE_GROUP = 8         # plugin/mnn_bridge/pointwise_execution.cc, kDenseGroup
DENSE_ISAS = ("avx512", "avx2")
# Convs with at most this many input channels are the direct conv kernels'
# (SBNN_DCONV_MAX_IN_CHANNELS, plugin/kernels/include/sparsebytenn/dconv.h).
DIRECT_CONV_MAX_IN_CHANNELS = 16


def plugin_takes(kind: str, isa: str) -> bool:
    """Whether the bridge offers the dense ops of `kind` to its kernels here (its variable
    on|off, else auto: the avx512 and avx2 kernels). The time model takes the table's
    measured ratio for all of them (a machine where MNN wins some under auto would be
    priced a little optimistically)."""
    mode = os.environ.get(TAKEOVER_KINDS[kind], "auto")
    return mode == "on" or (mode != "off" and isa in DENSE_ISAS)


def dense_ops(model, kind: str, stock: dict[str, float]) -> tuple[str, ...]:
    """The ops of `model` (a read_model Model) the bridge would take as `kind` and the
    stock profile names: every depthwise conv, every plain dense conv with few input
    channels (a first conv), or every plain dense 1x1 conv with more (pointwise); a pruned
    one is priced as a pruned layer instead."""
    def takes(c) -> bool:
        if kind == "depthwise":
            return c.is_depthwise
        if not (c.type == "Convolution" and c.conv_groups == 1 and c.storage == "dense"):
            return False
        if kind == "direct_conv":
            return c.in_channels <= DIRECT_CONV_MAX_IN_CHANNELS
        return c.in_channels > DIRECT_CONV_MAX_IN_CHANNELS and tuple(c.kernel) == (1, 1)
    return tuple(c.name for c in model.convs if takes(c) and c.name in stock)


def default_table(isa: str, cpu_model: str) -> SpeedTable | None:
    """The shipped table for this ISA, preferring one measured on the same CPU vendor."""
    vendor = "amd" if "amd" in cpu_model.lower() else "intel"
    for name in (f"x86-{isa}-{vendor}.json", f"x86-{isa}-intel.json", f"x86-{isa}-amd.json"):
        if (TABLES / name).is_file():
            return SpeedTable.load(TABLES / name)
    return None


def stock_profile(model_path, input_shape: tuple, runs: int = PROFILE_RUNS) -> tuple[dict[str, float], str]:
    """Stock MNN's per-op time (ms, least of `runs`, 1 thread) of the model on one input,
    and where it came from. Measured once per model file, input shape, CPU model and MNN
    version, then kept under cache_home()/stock-profiles: the allocation depends on it,
    and a fresh profile per conversion made the same command write different files
    (MobileNet-V1 --group auto: 3 of 3 conversions chose differently)."""
    MNN = import_mnn()
    key = json.dumps([sha256_of(model_path), list(input_shape), host_isa()[1], MNN.version(), runs])
    cached = cache_home() / "stock-profiles" / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")
    try:
        d = json.loads(cached.read_text())
        if d.get("key") == key and d["ms"] and all(isinstance(v, float) for v in d["ms"].values()):
            return d["ms"], f"measured {d['date']}, cached in {cached}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    ms = _measure_stock_profile(model_path, input_shape, runs)
    date = datetime.datetime.now().isoformat(timespec="seconds")
    try:                    # written whole or not at all; a cache that cannot be written is no error
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "date": date, "ms": ms}))
        os.replace(tmp, cached)
    except OSError:
        pass
    return ms, f"measured {date}"


def _measure_stock_profile(model_path, input_shape: tuple, runs: int) -> dict[str, float]:
    m = MNNSession(model_path, threads=1)
    x = np.random.default_rng(0).standard_normal((1, *input_shape)).astype(np.float32)
    m.run(x)                                                    # warm-up, status checked
    m.run(x)
    return profile_ops(m, x, runs, stat=np.min)    # kept for good: the undisturbed time


@dataclass
class TimeModel:
    table: SpeedTable
    stock: dict[str, float]               # op name -> stock ms (this machine: stock_profile)
    macs: dict[str, int]                  # pruned layer -> multiply-adds per inference
    hw: dict[str, int]                    # pruned layer -> output size (sqrt of pixels)
    fan_in: dict[str, int]                # pruned layer -> input channels x taps (how it packs)
    stock_source: str = "given"           # where the stock profile came from (stock_profile)
    # dense kind -> the ops of it the plugin runs (their stock time / the table's ratio)
    dense: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def stock_total(self) -> float:
        return sum(self.stock.values())

    def stock_ms(self, name: str) -> float:
        """The layer's stock time from the profile; a layer the profile does not name
        (MNN merged or renamed the op) from the table's stock GFLOP/s."""
        if name in self.stock:
            return self.stock[name]
        return 2.0 * self.macs[name] / (self.table.stock_gflops(self.hw[name]) * 1e6)

    def layer_ms(self, name: str, G: int, s: float) -> float:
        """Below MIN_TAG_SPARSITY a layer is not tagged (prune.py): stock MNN runs it, or the
        plugin as a dense 1x1 conv where its kernels at 0 % are the faster (the bridge
        measures each op and keeps the faster)."""
        if s < MIN_TAG_SPARSITY:
            if name in self.dense.get("pointwise", ()):
                return self.stock_ms(name) * min(1.0, self.table.ratio(POINTWISE_GROUP, self.hw[name], 0.0))
            return self.stock_ms(name)
        return self.stock_ms(name) * self.packed_ratio(name, G, s)

    def packed_ratio(self, name: str, G: int, s: float) -> float:
        """The table's ratio for a layer pruned in groups of G as the plugin packs it: in G or in
        a larger group G' that stores the zeros of partly kept ones, as the table's packing rule
        chooses (the bridge's, sbnn_gsparse_fastest_group: a G=1 layer at 30 % runs about 2x
        faster as G=8). Units pruned independently leave a G' group empty with probability
        s ** (G' / G)."""
        g = self.table.packing_group(G, self.fan_in[name], lambda g: 1.0 - s ** (g // G))
        return self.table.ratio(g, self.hw[name], s ** (g // G))

    @property
    def rest_ms(self) -> float:
        """Everything but the pruned layers, in the plugin: stock times, those of the dense
        ops it runs divided by the table's measured speed-up for their kind (none for the
        pointwise kind: a dense 1x1 conv outside the candidates, e.g. a skipped classifier,
        is priced at stock time)."""
        rest = self.stock_total - sum(self.stock.get(n, 0.0) for n in self.macs)
        for kind, ops in self.dense.items():
            ms = sum(self.stock.get(n, 0.0) for n in ops if n not in self.macs)
            rest += ms / self.table.speedup_of(kind) - ms
        return rest

    def total(self, choice: dict[str, tuple[int, float]]) -> float:
        return self.rest_ms + sum(self.layer_ms(n, G, s) for n, (G, s) in choice.items())

    def speedup(self, choice: dict[str, tuple[int, float]]) -> float:
        return self.stock_total / self.total(choice)
