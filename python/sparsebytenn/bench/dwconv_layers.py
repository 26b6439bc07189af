"""Per-layer time of every depthwise conv of a model (or, with --kind direct_conv, of
every conv the direct conv kernels take: few input channels, the first conv; with
--kind pointwise, of every dense 1x1 conv the group-sparse kernels take): MNN's
own execution vs the bridge's kernels (AVX-512 and AVX2), from MNN's per-op profile.

    python -m sparsebytenn.bench.dwconv_layers mobilenet-v1 --rounds 15 --json r.json --markdown r.md
    python -m sparsebytenn.bench.dwconv_layers mobilenet-v1 --kind direct_conv
    python -m sparsebytenn.bench.dwconv_layers mobilenet-v1 --kind pointwise

One process, three sessions of the same model at the same thread count: the bridge
with the kind's variable off (SPARSEBYTENN_DWCONV / SPARSEBYTENN_DCONV /
SPARSEBYTENN_PWCONV: MNN runs those ops), and with it on under SPARSEBYTENN_ISA=avx512 and =avx2 (the variables are read
when a session is created). Each round profiles the three in a fresh random order
(`runs` inferences each, per-op medians); per layer the result is the median over
rounds of the time and of the per-round ratio MNN / ours. What auto does in the
bridge (plugin/mnn_bridge/measured_execution.cc) follows from these ratios.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
from pathlib import Path

import numpy as np

# The dense ops the bridge may take over: their variable and MNN's op type.
KINDS = {"depthwise": ("SPARSEBYTENN_DWCONV", "ConvolutionDepthwise"),
         "direct_conv": ("SPARSEBYTENN_DCONV", "Convolution"),
         "pointwise": ("SPARSEBYTENN_PWCONV", "Convolution")}


def configs(kind: str) -> dict[str, dict]:
    var, op_type = KINDS[kind]
    # the other kinds of the same MNN op type stay MNN's: the ops a session ran in the
    # plugin are then this kind's (direct and pointwise convs are both "Convolution")
    others = {v: "off" for k, (v, t) in KINDS.items() if k != kind and t == op_type}
    return {"mnn": {**others, var: "off"}, "avx512": {**others, var: "on", "SPARSEBYTENN_ISA": "avx512"},
            "avx2": {**others, var: "on", "SPARSEBYTENN_ISA": "avx2"}}


@contextlib.contextmanager
def _env(values: dict):
    old = {k: os.environ.get(k) for k in [v for v, _ in KINDS.values()] + ["SPARSEBYTENN_ISA"]}
    os.environ.pop("SPARSEBYTENN_ISA", None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _op_shapes(session, x, ops: set[str]) -> dict[str, str]:
    """op name -> "C x H x W -> H' x W'" (input and output tensor shapes), for `ops`."""
    shapes: dict[str, str] = {}

    def before(tensors, op):
        if op.getName() in ops:
            shapes[op.getName()] = "x".join(map(str, tensors[0].getShape()[1:]))
        return True

    def after(tensors, op):
        if op.getName() in shapes:
            shapes[op.getName()] += " -> " + "x".join(map(str, tensors[0].getShape()[2:]))
        return True

    session.run_with_callbacks(x, before, after)
    return shapes


def measure(model: Path, threads: int, rounds: int, runs: int, seed: int = 0,
            isas: tuple[str, ...] = ("avx512", "avx2"), kind: str = "depthwise") -> dict:
    """isas: the kernels' ISAs to time against MNN (each must run on this CPU); kind: KINDS."""
    from .. import plugin
    from ..session import Session
    from .machine import describe, load_average

    if plugin.enable() != plugin.BRIDGE_TYPE:
        raise SystemExit(f"the bridge is not available: {plugin.status().reason}")
    machine = describe()
    x = np.random.default_rng(seed).standard_normal((1, 3, 224, 224)).astype(np.float32)
    sessions = {}
    var, op_type = KINDS[kind]
    for name, env in configs(kind).items():
        if name != "mnn" and name not in isas:
            continue
        with _env(env):
            s = Session(model, plugin=True, threads=threads)
        s.run(x)
        if name == "mnn" and s.stats()["plugin_ops"][kind]:
            raise SystemExit(f"{var}=off did not leave the {kind} ops to MNN")
        sessions[name] = s
    taken = sessions[isas[0]].op_table(x)   # the ops of the kind our kernels ran
    shapes = _op_shapes(sessions["mnn"], x, {n for n, r in taken.items() if r["type"] == op_type and r["plugin"]})
    if not shapes:
        raise SystemExit(f"{model}: the bridge ran no {kind} op of it")
    ref = sessions["mnn"].run(x)
    for name, s in sessions.items():   # the bridge's outputs are MNN's (checked, not assumed)
        out = s.run(x)
        for k in ref:
            err = float(np.abs(out[k] - ref[k]).max() / max(1e-30, float(np.abs(ref[k]).max())))
            if err > 1e-4:
                raise SystemExit(f"{name}: output {k} differs from MNN's by {err:.2e} (relative)")
        for _ in range(3):
            s.run(x)
    rng = random.Random(seed)
    per_round: dict[str, list[dict[str, float]]] = {n: [] for n in sessions}
    for _ in range(rounds):
        order = list(sessions)
        rng.shuffle(order)
        for name in order:
            per_round[name].append(sessions[name].profile(x, runs))
    layers = []
    for op, shape in shapes.items():
        row = {"op": op, "shape": shape}
        for name in sessions:
            row[f"{name}_ms"] = round(statistics.median(r[op] for r in per_round[name]), 4)
        for name in isas:
            row[f"mnn_over_{name}"] = round(statistics.median(
                m[op] / o[op] for m, o in zip(per_round["mnn"], per_round[name]) if o[op] > 0), 3)
        layers.append(row)
    totals = {}
    for name in sessions:
        totals[f"{name}_ms"] = round(statistics.median(sum(r[op] for op in shapes) for r in per_round[name]), 4)
    for name in isas:
        totals[f"mnn_over_{name}"] = round(statistics.median(
            sum(m[op] for op in shapes) / sum(o[op] for op in shapes)
            for m, o in zip(per_round["mnn"], per_round[name])), 3)
    machine["load_average_after"] = load_average()
    return {"model": str(model), "kind": kind, "threads": threads, "rounds": rounds, "runs_per_round": runs,
            "machine": machine, "layers": layers, "total": totals,
            "command": " ".join(["python -m sparsebytenn.bench.dwconv_layers"] + sys.argv[1:])}


# MobileNet-V1's depthwise shapes (C, H = W, stride), all 3x3 with pads 1 (TF-style
# stride 2 in the zoo model pads (0, 0, 1, 1); the cost is the same).
MOBILENET_V1_DW = [(32, 112, 1), (64, 112, 2), (128, 56, 1), (128, 56, 2), (256, 28, 1), (256, 28, 2),
                   (512, 14, 1), (512, 14, 2), (1024, 7, 1)]


# The direct conv kernels' shapes: (O, I, H = W, k, stride): MobileNet-V1's and
# EfficientNet-Lite0's stem, EfficientNet-Lite0's 16-input 1x1 expand conv.
STEMS = [(32, 3, 224, 3, 2), (96, 16, 112, 1, 1)]


def _kernel_cases(kind: str, rng):
    """(label, weights, NC8HW8 input, stride, pads, FLOPs) per shape of `kind`."""
    if kind == "depthwise":
        for c, h, stride in MOBILENET_V1_DW:
            oh = (h + 2 - 3) // stride + 1
            yield (f"{c}x{h}x{h} s{stride}", rng.standard_normal((c, 1, 3, 3)).astype(np.float32),
                   rng.standard_normal((c // 8, 1, h, h, 8)).astype(np.float32), stride, [1, 1, 1, 1], 2 * 9 * c * oh * oh)
    else:
        for o, i, h, k, stride in STEMS:
            p = (k - 1) // 2
            oh = (h + 2 * p - k) // stride + 1
            yield (f"{i}->{o} {k}x{k} {h}x{h} s{stride}", rng.standard_normal((o, i, k, k)).astype(np.float32),
                   rng.standard_normal((-(-i // 8), 1, h, h, 8)).astype(np.float32), stride, [p] * 4,
                   2 * o * i * k * k * oh * oh)


def kernel_rows(rounds: int, runs: int, seed: int = 0, kind: str = "depthwise") -> list[dict]:
    """The variant table's ISAs of `kind` (depthwise: MobileNet-V1's shapes; direct_conv:
    STEMS), kernels alone (sparsebytenn._kernels.DwConv / Dconv, NC8HW8, ReLU6, 1
    thread): ms and GFLOP/s, interleaved."""
    import time

    from .. import _kernels as K

    table, make = (K.dw_variants(), K.DwConv) if kind == "depthwise" else (K.dconv_variants(), K.Dconv)
    isas = [i for i in dict.fromkeys(v["isa"] for v in table) if K.isa_available(i) and i != "ref"]
    rng = np.random.default_rng(seed)
    rows = []
    for label, w, x, stride, pads, flops in _kernel_cases(kind, rng):
        convs = {isa: make(w, None, 0.0, 6.0, isa) for isa in isas}
        outs = {isa: cv.run(x, stride=(stride, stride), padding=pads) for isa, cv in convs.items()}
        times = {isa: [] for isa in isas}
        order = list(isas)
        for _ in range(rounds):
            random.Random(len(rows)).shuffle(order)
            for isa in order:
                t = time.perf_counter()
                for _ in range(runs):
                    convs[isa].run(x, stride=(stride, stride), padding=pads, out=outs[isa])
                times[isa].append((time.perf_counter() - t) / runs * 1e3)
        row = {"shape": label, "variant": {i: convs[i].variant_for(stride, stride) for i in isas}}
        for isa in isas:
            ms = statistics.median(times[isa])
            row[f"{isa}_ms"], row[f"{isa}_gflops"] = round(ms, 4), round(flops / ms / 1e6, 1)
        rows.append(row)
    return rows


def markdown(r: dict) -> str:
    m = r["machine"]
    what = {"depthwise": "Depthwise convs", "direct_conv": "Direct convs (few input channels)",
            "pointwise": "Dense 1x1 convs"}[r.get("kind", "depthwise")]
    lines = [f"# {what}, MNN's execution vs the bridge's kernels ({Path(r['model']).name}, "
             f"{r['threads']} thread(s))", "",
             f"CPU: {m['cpu_model']} ({', '.join(m['cpu_flags'])}); load average before "
             f"{m['load_average_before']}, after {m['load_average_after']}; {r['rounds']} interleaved rounds x "
             f"{r['runs_per_round']} runs; MNN {m['versions']['MNN']}.", "",
             f"Command: `{r['command']}`", "",
             "| op | input -> output | MNN ms | AVX-512 ms | AVX2 ms | MNN / AVX-512 | MNN / AVX2 |",
             "|---|---|---|---|---|---|---|"]
    for ly in r["layers"]:
        lines.append(f"| {ly['op']} | {ly['shape']} | {ly['mnn_ms']:.3f} | {ly['avx512_ms']:.3f} | "
                     f"{ly['avx2_ms']:.3f} | {ly['mnn_over_avx512']:.2f} | {ly['mnn_over_avx2']:.2f} |")
    t = r["total"]
    lines.append(f"| **all** | | {t['mnn_ms']:.3f} | {t['avx512_ms']:.3f} | {t['avx2_ms']:.3f} | "
                 f"{t['mnn_over_avx512']:.2f} | {t['mnn_over_avx2']:.2f} |")
    if r.get("kernels"):
        isas = [k[:-3] for k in r["kernels"][0] if k.endswith("_ms")]
        cls = "DwConv" if r.get("kind", "depthwise") == "depthwise" else "Dconv"
        lines += ["", f"Kernels alone (sparsebytenn._kernels.{cls}, NC8HW8, ReLU6, 1 thread; ms, GFLOP/s):", "",
                  "| shape | " + " | ".join(f"{i} variant | {i} ms | {i} GFLOP/s" for i in isas) + " |",
                  "|---|" + "---|---|---|" * len(isas)]
        for k in r["kernels"]:
            lines.append(f"| {k['shape']} | " + " | ".join(
                f"{k['variant'][i]} | {k[i + '_ms']:.3f} | {k[i + '_gflops']}" for i in isas) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help=".mnn file or zoo name (e.g. mobilenet-v1)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--runs", type=int, default=5, help="inferences profiled per session per round")
    ap.add_argument("--kind", choices=sorted(KINDS), default="depthwise", help="which ops (default depthwise)")
    ap.add_argument("--kernels", action="store_true",
                    help="also time the kernels alone (depthwise: MobileNet-V1's shapes; direct_conv: the stems)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    a = ap.parse_args(argv)
    if a.kernels and a.kind == "pointwise":
        ap.error("--kernels: the 1x1 kernels alone are `sparsebytenn bench kernels --sparsity 0` (their variant table)")
    model = Path(a.model)
    if not model.is_file():
        from .. import zoo

        model = zoo.get(a.model)
    r = measure(model, a.threads, a.rounds, a.runs, kind=a.kind)
    if a.kernels:
        r["kernels"] = kernel_rows(a.rounds, a.runs * 4, kind=a.kind)
    text = markdown(r)
    print(text)
    if a.json:
        a.json.write_text(json.dumps(r, indent=1) + "\n")
    if a.markdown:
        a.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
