"""Kernel benchmark: SparseByteNN group-sparse 1x1 convs on MobileNet-V1 shapes,
side by side with peers on the same weights, in one interleaved run.

Run: sparsebytenn bench kernels [--quick] [--json FILE]   (main(argv) here)

Engines (kernel_peers.py says exactly what each time includes):
  sparsebytenn  this project's kernels on MNN's NC8HW8 layout, per x86 ISA
  mnn-dense     MNN 3.6.1's own dense conv (one-conv .mnn, runSession)
  mnn-conv-op   the same conv op alone (MNN's per-op timing, no layout conversions)
  mnn-sparse    MNN 3.6.1's own sparse path (model tagged by MNN's converter)
  xnnpack       XNNPACK's NCHW sparse 1x1 convolution (Debian libXNNPACK, ctypes)
  wasm          this project's wasm32 SIMD128 kernels under node --no-liftoff (1 thread)
  wasm-relaxed  the relaxed-SIMD build (f32x4.relaxed_madd) the same way
  chromium-wasm, chromium-wasm-relaxed
                the two builds in headless Chromium through the ES module (1 thread)
Every engine x thread count lives in its own worker process (thread pools of
different engines never share a process) and the parent asks one worker at a
time for a batch of runs, cycling through all of them every round; each batch
starts with 5 ms of untimed runs (kernel_peers.SETTLE_S: a parked vCPU, cold
caches and a sleeping pool left by the other lanes are not the kernel's time).

Effective GFLOP/s = 2 x nonzero MACs of the weights the engine ran / median
time. max_rel_err = max |y - ref| / max |ref| against a float64 numpy conv.
MNN only tags a layer for its sparse path above 30 % sparsity (blocks of 4), so
at 0.3 mnn-sparse runs the same mask with 1 % more blocks removed (0.31; its
record says so in "sparsity_actual"), and at 0 it is not run.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LAYERS = [  # name, H(=W), C_in, C_out
    ("112x112_32-64", 112, 32, 64),
    ("56x56_128-128", 56, 128, 128),
    ("28x28_256-256", 28, 256, 256),
    ("14x14_512-512", 14, 512, 512),
    ("7x7_1024-1024", 7, 1024, 1024),
]
# The same layers at 96 px input (a quarter of the pixels per side halved): small
# images make small tiles, where the kernels' speed per G differs; by name only.
SMALL_LAYERS = [
    ("48x48_32-64", 48, 32, 64),
    ("24x24_128-128", 24, 128, 128),
    ("12x12_256-256", 12, 256, 256),
    ("6x6_512-512", 6, 512, 512),
    ("3x3_1024-1024", 3, 1024, 1024),
]
# EfficientNet-Lite0's distinct 1x1 convs at 224 px (expand and project layers);
# `--layers efficientnet-lite0` runs them all.
EFFICIENTNET_LITE0_LAYERS = [(f"{hw}x{hw}_{cin}-{cout}", hw, cin, cout) for hw, cin, cout in (
    (112, 32, 16), (112, 16, 96), (56, 96, 24), (56, 24, 144), (56, 144, 24), (28, 144, 40), (28, 40, 240),
    (28, 240, 40), (14, 240, 80), (14, 80, 480), (14, 480, 80), (14, 480, 112), (14, 112, 672),
    (14, 672, 112), (7, 672, 192), (7, 192, 1152), (7, 1152, 192), (7, 1152, 320), (7, 320, 1280))]
LAYER_SETS = {"mobilenet-v1": LAYERS, "efficientnet-lite0": EFFICIENTNET_LITE0_LAYERS, "small": SMALL_LAYERS}
SPARSITIES = (0.0, 0.3, 0.5, 0.7, 0.9)
ENGINES = ("sparsebytenn", "mnn-dense", "mnn-conv-op", "mnn-sparse", "xnnpack", "wasm", "wasm-relaxed",
           "chromium-wasm", "chromium-wasm-relaxed")
# The wasm32 engines: one thread, and the variant ISA each one runs.
WASM_ENGINES = {"wasm": "wasmsimd", "wasm-relaxed": "wasmrelaxedsimd",
                "chromium-wasm": "wasmsimd", "chromium-wasm-relaxed": "wasmrelaxedsimd"}
DEFAULT_ENGINES = tuple(e for e in ENGINES if e != "mnn-conv-op")   # mnn-dense already runs that conv
# Largest max |y - ref| / max |ref| an engine may show against the float64 reference:
# fp32 sums in another order differ by ~1e-6; above this the engine computes
# something else, so its row is marked failed, never timed and left out of ratios.
MAX_REL_ERR = 1e-3
MNN_MIN_SPARSITY = 0.31   # MNN's converter tags blocks of 4 only when sparsity > 0.3


def group_mask(rng, o, i, group_size, sparsity):
    """Exactly round(sparsity * blocks) (G-row group, input channel) blocks removed."""
    groups = -(-o // group_size)
    n = groups * i
    order = rng.permutation(n)
    keep = np.ones(n, bool)
    keep[order[:int(round(sparsity * n))]] = False
    return keep.reshape(groups, i), order


def prune(w, keep, group_size):
    return w * np.repeat(keep, group_size, axis=0)[:w.shape[0], :, None, None]


def build_parser():
    p = argparse.ArgumentParser(
        prog="sparsebytenn bench kernels",
        description="Time the group-sparse conv kernels on MobileNet-V1 1x1 layers (batch 1) against "
                    "MNN's dense and sparse convolutions, XNNPACK's sparse NCHW convolution and the "
                    "project's own WASM build, on the same weights, in one interleaved run.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="output: a table on stdout; --json FILE writes a list of records "
               '{"isa","layer","sparsity","threads","engine","median_ms","gflops_effective","max_rel_err",'
               '"iqr_ms","runs",...}, plus {"isa":"neon","engine":"static-asm","function",'
               '"instructions_per_fma",...} from the NEON inner-loop check (bench/kernel_asm.py), plus '
               '{"engine":"llvm-mca","kind":"loop"|"layer",...} modelled arm64 rows (bench/arm_model.py)\n'
               "inputs: none (random weights pruned in groups of G output channels x 1 input channel, seed 0)\n\n"
               "examples:\n"
               "  sparsebytenn bench kernels --quick\n"
               "  sparsebytenn bench kernels --engines sparsebytenn,mnn-dense --threads 1 --json kernels.json\n"
               "  sparsebytenn bench kernels --isa avx512 --layers 14x14_512-512 --sparsity 0.5,0.9\n")
    p.add_argument("--isa", default="", help="comma list of x86 ISAs for the sparsebytenn engine "
                   "(default: every ISA this CPU runs except ref)")
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES),
                   help=f"comma list from {', '.join(ENGINES)} (default: all but mnn-conv-op)")
    p.add_argument("--group", type=int, default=8, help="G output channels per group (default 8, x86 converter default)")
    p.add_argument("--threads", default="1,2", help="comma list of thread counts (default 1,2; wasm runs 1 only)")
    p.add_argument("--sparsity", default=",".join(str(s) for s in SPARSITIES), help="comma list of fractions")
    p.add_argument("--layers", default="", help="comma list of layer names or sets ("
                   + ", ".join(LAYER_SETS) + "; default mobilenet-v1: "
                   + ", ".join(l[0] for l in LAYERS) + ")")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    p.add_argument("--repeats", type=int, default=5, help="runs per case per round (default 5)")
    p.add_argument("--quick", action="store_true", help="14x14 512->512 only, 5 rounds")
    p.add_argument("--modelled-only", action="store_true",
                   help="print only the static NEON check and the modelled arm64 rows (no timing)")
    p.add_argument("--json", metavar="FILE", help="write the records as a JSON list (temp file + rename)")
    p.add_argument("--force", action="store_true", help="replace the --json file if it exists")
    return p


def _fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    return 1


def _write_json(path, records):
    from sparsebytenn_converter.output_paths import write_all_atomic

    write_all_atomic([(Path(path), json.dumps(records, indent=1).encode())])


def make_cases(layers, sparsities, group_size, workdir, need_mnn_sparse):
    """Case directories with w.npy (OIHW), b.npy, x.npy (NCHW) + float64 reference."""
    rng = np.random.default_rng(0)
    cases = []
    for name, hw, ci, co in layers:
        x = rng.standard_normal((1, ci, hw, hw)).astype(np.float32)
        dense = rng.standard_normal((co, ci, 1, 1)).astype(np.float32)
        b = rng.standard_normal(co).astype(np.float32) * 0.1
        for sp in sparsities:
            keep, order = group_mask(rng, co, ci, group_size, sp)
            variants = [("", sp, keep)]
            if need_mnn_sparse and 0 < sp < MNN_MIN_SPARSITY:
                k2 = keep.reshape(-1).copy()
                k2[order[:int(np.ceil(MNN_MIN_SPARSITY * k2.size))]] = False
                variants.append(("mnn", MNN_MIN_SPARSITY, k2.reshape(keep.shape)))
            for tag, actual, k in variants:
                w = prune(dense, k, group_size)
                d = Path(workdir) / f"{name}_sp{sp:g}{'_' + tag if tag else ''}"
                d.mkdir()
                for n, a in (("w", w), ("b", b), ("x", x)):
                    np.save(d / f"{n}.npy", a)
                ref = np.einsum("oc,nchw->nohw", w[:, :, 0, 0].astype(np.float64), x.astype(np.float64))
                ref += b.astype(np.float64)[None, :, None, None]
                cases.append(dict(layer=name, sparsity=sp, actual=actual, tag=tag, dir=str(d), ref=ref,
                                  macs=int(np.count_nonzero(w)) * hw * hw))
    return cases


@dataclass
class Plan:
    """What one run measures: validated options, and the engines' lanes over the cases."""
    engines: list
    isas: list
    threads: list
    sparsities: list
    layers: list
    rounds: int
    repeats: int
    group_size: int
    missing: dict = field(default_factory=dict)   # engine label -> why it has no (or fewer) rows


def plan_from_args(args) -> Plan | str:
    """The run's plan, or the one-line reason the arguments cannot make one."""
    from sparsebytenn import _kernels as K

    engines = [e for e in args.engines.split(",") if e]
    for e in engines:
        if e not in ENGINES:
            return f"--engines: unknown engine {e!r}; known: {', '.join(ENGINES)}"
    isas = [s for s in args.isa.split(",") if s] or \
        [i for i in dict.fromkeys(v["isa"] for v in K.variants()) if i != "ref" and K.isa_available(i)]
    for isa in isas:
        if not K.isa_available(isa):
            return f"--isa: ISA {isa!r} is not available on this machine/build"
    try:
        threads = [int(t) for t in args.threads.split(",")]
        sparsities = [float(s) for s in args.sparsity.split(",")]
    except ValueError as exc:
        return f"--threads/--sparsity: {exc}"
    if any(not 0 <= s < 1 for s in sparsities) or any(t < 1 for t in threads):
        return "sparsities must be in [0, 1) and thread counts >= 1"
    layers, rounds = LAYERS, args.rounds
    if args.quick:
        layers = [l for l in LAYERS if l[0] == "14x14_512-512"]
        rounds = min(rounds, 5)
    if args.layers:
        known = {l[0]: l for group in LAYER_SETS.values() for l in group}
        names = [n for name in args.layers.split(",")
                 for n in ([l[0] for l in LAYER_SETS[name]] if name in LAYER_SETS else [name])]
        unknown = [n for n in names if n not in known]
        if unknown:
            return f"--layers: unknown {', '.join(unknown)}"
        layers = [known[n] for n in dict.fromkeys(names)]
    return Plan(engines, isas, threads, sparsities, layers, rounds, args.repeats, args.group)


def make_lanes(plan: Plan, cases: list, wasm_paths: dict) -> list[dict]:
    """One lane per (engine, isa, threads): the worker that runs it and the cases it runs.
    wasm_paths: relaxed? -> the wasm32 module."""
    lanes = []
    for e in plan.engines:
        for t in plan.threads:
            if e in WASM_ENGINES and t != 1:
                continue
            for isa in (plan.isas if e == "sparsebytenn" else [WASM_ENGINES[e]] if e in WASM_ENGINES else ["native"]):
                mine = []
                for i, c in enumerate(cases):
                    if e == "mnn-sparse":
                        if c["sparsity"] == 0 or (c["tag"] == "" and any(
                                d["tag"] == "mnn" and d["layer"] == c["layer"] and d["sparsity"] == c["sparsity"]
                                for d in cases)):
                            continue
                    elif c["tag"]:
                        continue
                    mine.append(i)
                opts = {"group_size": plan.group_size}
                if e == "sparsebytenn":
                    opts["isa"] = isa
                if e == "mnn-sparse":
                    opts["sparse"] = True
                if e == "mnn-conv-op":
                    opts["op_only"] = True
                if e in WASM_ENGINES:
                    relaxed = WASM_ENGINES[e] == "wasmrelaxedsimd"
                    opts.update(wasm=wasm_paths.get(relaxed), isa=isa, relaxed=relaxed)
                lanes.append(dict(engine=e, isa=isa, threads=t, opts=opts, cases=mine))
    return lanes


def load_and_check(lanes: list, cases: list, workdir: Path, plan: Plan, live: list) -> None:
    """Start every lane's worker, run each case once against the float64 reference
    (errors above MAX_REL_ERR are never timed) and warm up the rest."""
    from tqdm import tqdm

    from .worker import Worker, WorkerError

    for lane in tqdm(lanes, desc="loading engines", file=sys.stderr):
        w = Worker(f"{lane['engine']}-{lane['isa']}-t{lane['threads']}", workdir)
        lane["worker"], lane["runs"], lane["info"], lane["err"] = w, {}, {}, {}
        live.append(w)
        try:
            w.call("load", "sparsebytenn.bench.kernel_peers:MultiCaseRunner", None, lane["threads"],
                   dict(lane["opts"], engine=lane["engine"], dirs=[cases[i]["dir"] for i in lane["cases"]]),
                   None, timeout=600)
            for k, i in enumerate(lane["cases"]):
                y, info = w.call("call", "infer", (k,), timeout=300)
                ref = cases[i]["ref"]
                lane["err"][i] = float(np.abs(y - ref).max() / max(1e-30, float(np.abs(ref).max())))
                lane["info"][i] = info
                lane["runs"][i] = []
                if not lane["err"][i] <= MAX_REL_ERR:   # NaN too
                    continue
                w.call("call", "time_runs", (k, 2))  # warm-up
        except WorkerError as exc:
            print(f"note: {lane['engine']} ({lane['threads']} thread(s)) skipped: {exc}", file=sys.stderr)
            plan.missing[f"{lane['engine']} ({lane['threads']} thread(s))"] = f"not run: {exc}"
            lane["cases"] = []


def time_interleaved(lanes: list, plan: Plan) -> None:
    """plan.rounds rounds; each asks every (lane, case) for plan.repeats runs, in a fresh order."""
    from tqdm import tqdm

    items = [(li, k, i) for li, lane in enumerate(lanes) for k, i in enumerate(lane["cases"])
             if lane["err"][i] <= MAX_REL_ERR]
    rnd = random.Random(0)
    for _ in tqdm(range(plan.rounds), desc="rounds", file=sys.stderr):
        rnd.shuffle(items)  # a different interleaving every round
        for li, k, i in items:
            lane = lanes[li]
            ms = lane["worker"].call("call", "time_runs", (k, plan.repeats), timeout=300)
            lane["runs"][i].extend(ms)
            time.sleep(0.001)  # let the last engine's spinning workers go idle


def records_of(lanes: list, cases: list) -> list[dict]:
    """One record per (lane, case): median, IQR and effective GFLOP/s, or status failed."""
    records = []
    for lane in lanes:
        for i in lane["cases"]:
            c, ms = cases[i], np.array(lane["runs"][i])
            rec = dict(isa=lane["isa"], layer=c["layer"], sparsity=c["sparsity"], threads=lane["threads"],
                       engine=lane["engine"], status="failed", median_ms=None, gflops_effective=None,
                       max_rel_err=lane["err"][i], iqr_ms=None, runs=0)
            if lane["err"][i] <= MAX_REL_ERR:
                med = float(np.median(ms))
                q1, q3 = np.percentile(ms, [25, 75])
                rec.update(status="ok", median_ms=med, gflops_effective=2 * c["macs"] / med / 1e6,
                           iqr_ms=float(q3 - q1), runs=int(ms.size))
            if c["actual"] != c["sparsity"]:
                rec["sparsity_actual"] = c["actual"]
            rec.update({k: v for k, v in lane["info"][i].items() if k in ("variant", "runtime", "layout")})
            records.append(rec)
    return records


def neon_records() -> list[dict]:
    """The NEON inner-loop check (static: disassembly) and the modelled arm64 rows
    (llvm-mca, bench/arm_model.py), printed; a part whose tools are missing is
    skipped with a note. A wheel whose loops are not the expected ones raises."""
    from . import arm_model, kernel_asm

    why = kernel_asm.available()
    if why:
        print(f"note: NEON inner-loop check and {arm_model.LABEL} rows skipped: missing {why}")
        return []
    neon = kernel_asm.neon_inner_loops()
    print(kernel_asm.format_neon_table(neon))
    out = [dict(isa="neon", engine="static-asm", **r) for r in neon]
    why = arm_model.available()
    if why:
        print(f"note: {arm_model.LABEL} rows skipped: missing {why}")
        return out
    recs = arm_model.records()
    print(arm_model.format_report(recs))
    return out + [dict(isa="neon", **r) for r in recs]


def main(argv=None):
    args = build_parser().parse_args(argv)
    from sparsebytenn.errors import SparseByteNNError
    from sparsebytenn_converter.output_paths import check_outputs

    from .kernel_peers import build_wasm

    try:  # before minutes of timing, not after
        check_outputs([("--json", args.json, None)], force=args.force)
    except SparseByteNNError as exc:
        return _fail(str(exc))
    if args.modelled_only:
        from .arm_model import ModelError

        try:
            records = neon_records()
        except ModelError as exc:
            return _fail(str(exc))
        if args.json:
            _write_json(args.json, records)
        return 0
    plan = plan_from_args(args)
    if isinstance(plan, str):
        return _fail(plan)
    wasm_paths = {}
    wasm_engines = [e for e in plan.engines if e in WASM_ENGINES]
    if wasm_engines:
        try:
            wasm_paths = {False: str(build_wasm(False)), True: str(build_wasm(True))}
        except Exception as exc:  # a missing toolchain drops the engines, says why
            for e in wasm_engines:
                print(f"note: {e} engine skipped: {exc}", file=sys.stderr)
                plan.missing[e] = f"not run: {exc}"
                plan.engines.remove(e)

    with tempfile.TemporaryDirectory(prefix="sbnn-kbench-") as work:
        cases = make_cases(plan.layers, plan.sparsities, plan.group_size, work, "mnn-sparse" in plan.engines)
        lanes, live = make_lanes(plan, cases, wasm_paths), []
        try:
            load_and_check(lanes, cases, Path(work), plan, live)
            time_interleaved(lanes, plan)
        finally:
            for w in live:
                w.stop()
        records = records_of(lanes, cases)
    print(format_table(records))
    print(format_notes(records, plan.engines, plan.threads, plan.sparsities, plan.missing))
    try:
        records += neon_records()
    except Exception as exc:  # the timed rows above stay valid; say why the model is missing
        print(f"sparsebytenn: error: modelled arm64 rows: {exc}", file=sys.stderr)
        failed_model = True
    else:
        failed_model = False
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  (cores: {os.cpu_count()})")
    if args.json:
        _write_json(args.json, records)
    failed = [r for r in records if r.get("status") == "failed"]
    if failed:
        print(f"sparsebytenn: error: {len(failed)} row(s) FAILED: outputs off the float64 reference by more than "
              f"{MAX_REL_ERR:g} (relative), not timed: "
              + ", ".join(f"{_label(r)} {r['layer']} {r['sparsity']:g}" for r in failed), file=sys.stderr)
        return 1
    return 1 if failed_model else 0


def format_notes(records, engines, threads, sparsities, missing):
    """What each peer column is, and every peer that is missing or partial, with why."""
    lines = []
    for e, isa in WASM_ENGINES.items():
        runtimes = sorted({r.get("runtime", "") for r in records if r["engine"] == e} - {""})
        if e in engines and runtimes:
            what = "SIMD128 (mul + add)" if isa == "wasmsimd" else "relaxed-SIMD (f32x4.relaxed_madd)"
            lines.append(f"{e}: the wasm32 {what} build timed inside {', '.join(runtimes)}, "
                         "NC4HW4 layout, 1 thread only (no threads in the wasm build)")
    if "mnn-sparse" in engines:
        if 0.0 in sparsities:
            lines.append("mnn-sparse at sparsity 0: not run (MNN's converter tags a conv for its sparse path "
                         "only above 30 % sparsity)")
        if any(0 < s < MNN_MIN_SPARSITY for s in sparsities):
            lines.append(f"mnn-sparse below {MNN_MIN_SPARSITY:g}: run on the same mask with extra blocks removed "
                         f"to {MNN_MIN_SPARSITY:g} (JSON: sparsity_actual)")
    for name, why in missing.items():
        lines.append(f"MISSING {name}: {why}")
    if any(r.get("status") == "failed" for r in records):
        lines.append(f"FAILED: outputs off the float64 reference by more than {MAX_REL_ERR:g} (relative); "
                     "such rows are not timed and not in the ratios")
    return "\n".join("note: " + l for l in lines)


def _label(r):
    return r["engine"] if r["engine"] != "sparsebytenn" else f"sbnn-{r['isa']}"


def format_table(records):
    """Rows: layer x sparsity x threads; columns: engines, `ms (GFLOP/s)`."""
    cols = list(dict.fromkeys(_label(r) for r in records))
    rows = {}
    for r in records:
        rows.setdefault((r["layer"], r["sparsity"], r["threads"]), {})[_label(r)] = r
    head = f"{'layer':15} {'sp':>4} {'thr':>3} " + " ".join(f"{c:>19}" for c in cols) + "  best sbnn vs mnn-dense"
    lines = [head, "-" * len(head)]
    for (layer, sp, t), row in rows.items():
        cells = []
        for c in cols:
            r = row.get(c)
            cells.append(f"{'-':>19}" if not r else f"{'FAILED ' + format(r['max_rel_err'], '.1e'):>19}"
                         if r.get("status") == "failed" else f"{r['median_ms']:8.3f} ({r['gflops_effective']:6.1f})")
        row = {k: r for k, r in row.items() if r.get("status") != "failed"}
        ours = [r["median_ms"] for k, r in row.items() if k.startswith("sbnn-")]
        base = row.get("mnn-dense")
        ratio = f"{base['median_ms'] / min(ours):6.2f}x" if ours and base else ""
        lines.append(f"{layer:15} {sp:4.2f} {t:3d} " + " ".join(cells) + "  " + ratio)
    lines.append("cells: median ms (effective GFLOP/s = 2 x nonzero MACs / median time)")
    return "\n".join(lines)

