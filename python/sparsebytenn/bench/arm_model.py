"""Modelled arm64 speed (no ARM hardware here, and qemu timings mean nothing):
llvm-mca from Debian's llvm-19 with -mcpu=neoverse-n1 (LLVM's Neoverse N1 model,
the Cortex-A76-class core of Snapdragon 855-class phones) on

  * our NEON microkernels: cross-compiled from plugin/kernels/src, their hot loops
    and the per-group / per-tile code around them (kernel_asm disassembles);
  * MNN 3.6.1's own NEON loops: sparse MNNPackedSparseMatMulEpx4/Epx1 and dense
    MNNPackedMatMul / MNNPackedMatMulFP16, disassembled at run time from the
    installed aarch64 wheel's _mnncengine .so (nothing of MNN is stored here).

Every MNN loop is checked against the shape we expect (label, fmla count and
arrangement); a different wheel fails with one line naming the .so instead of
modelling some other loop.

What the model ignores: memory (every load hits L1), cache misses, frequency,
branch mispredictions and the code outside the counted blocks (thread hand-off,
MNN's input packing, our call overhead per microkernel call). Cycles, not ms.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import kernel_asm

MCPU = "neoverse-n1"
LABEL = f"arm64 (modelled, llvm-mca {MCPU})"
ITERATIONS = 400   # steady state: llvm-mca's cycles / iterations settle well before this
MNN_SO_GLOB = "_mnncengine.cpython-311-aarch64-linux-gnu.so"
NEON_SRC = kernel_asm.SRC
NEON_F16_SRC = kernel_asm.SRC.parent / "f16_gspmm_neonfp16.cc"
NEON_F16_FLAGS = ("-march=armv8.2-a+fp16", "-DSBNN_HAVE_NEONFP16")   # as plugin/kernels/CMakeLists.txt

# MobileNet-V1 1.0 224's 13 pointwise convs: (H = W, C_in, C_out).
MOBILENET_V1_POINTWISE = [(112, 32, 64), (56, 64, 128), (56, 128, 128), (28, 128, 256), (28, 256, 256),
                          (14, 256, 512)] + [(14, 512, 512)] * 5 + [(7, 512, 1024), (7, 1024, 1024)]
SPARSITIES = (0.3, 0.5, 0.7, 0.9)


class ModelError(RuntimeError):
    pass


def llvm_mca() -> str | None:
    for p in ("llvm-mca-19", "/usr/lib/llvm-19/bin/llvm-mca"):
        if shutil.which(p):
            return shutil.which(p)
    return None


def mnn_aarch64_so() -> Path | None:
    """The installed aarch64 wheel's engine (scripts/arm64root.sh's venv)."""
    from sparsebytenn.paths import home

    found = sorted((home() / "arm64venv" / "lib" / "python3.11" / "site-packages").glob(MNN_SO_GLOB))
    return found[0] if found else None


def available() -> str | None:
    """None when every tool is there, else what is missing."""
    why = kernel_asm.available()
    if why:
        return why
    if llvm_mca() is None:
        return "llvm-mca-19 (apt-get install llvm-19)"
    if mnn_aarch64_so() is None:
        return "the aarch64 MNN wheel (scripts/arm64root.sh ensure)"
    return None


# --- llvm-mca -----------------------------------------------------------------

def _asm_line(ins) -> str:
    _, op, args = ins
    args = args.split("//")[0].strip()
    if kernel_asm._BRANCH.match(op):
        # Branch targets become the block's own label: llvm-mca models the block as
        # a loop whatever the branch says.
        parts = [a.strip() for a in args.split("<")[0].split(",")]
        parts[-1] = ".Lblock"
        args = ", ".join(parts)
    return f"\t{op}\t{args}"


def _mca_totals(text: str, iterations: int) -> dict[str, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".s") as f:
        f.write(text)
        f.flush()
        r = subprocess.run([llvm_mca(), "-mtriple=aarch64-linux-gnu", f"-mcpu={MCPU}",
                            f"-iterations={iterations}", f.name], capture_output=True, text=True)
    if r.returncode != 0:
        raise ModelError(f"llvm-mca failed on the extracted blocks: {r.stderr.strip().splitlines()[0]}")
    out = {}
    for region in re.split(r"\n\[\d+\] Code Region - ", "\n" + r.stdout)[1:]:
        out[region.split("\n", 1)[0].strip()] = int(re.search(r"Total Cycles:\s+(\d+)", region).group(1))
    return out


def mca_cycles(blocks: dict[str, list]) -> dict[str, float]:
    """Steady-state cycles per pass of each block (name -> instructions): llvm-mca
    at N and 2N iterations, one code region per block; the difference over N
    leaves out the pipeline's fill and drain."""
    lines = [".Lblock:"]   # one label: every region's branches point at it (a target only)
    for name, ins in blocks.items():
        if not ins:
            raise ModelError(f"empty block {name!r} (sparsebytenn/bench/arm_model.py)")
        lines += [f"# LLVM-MCA-BEGIN {name}"] + [_asm_line(i) for i in ins] + ["# LLVM-MCA-END"]
    text = "\n".join(lines) + "\n"
    once, twice = _mca_totals(text, ITERATIONS), _mca_totals(text, 2 * ITERATIONS)
    if sorted(once) != sorted(blocks):
        raise ModelError(f"llvm-mca reported regions {sorted(once)}, expected {sorted(blocks)}")
    return {n: (twice[n] - once[n]) / ITERATIONS for n in blocks}


def lane_ops(loop) -> int:
    """Scalar multiply-adds per pass: every fmla times its lanes (v.4s: 4, v.8h: 8)."""
    n = 0
    for _, op, args in loop:
        if op in ("fmla", "fmadd"):
            m = re.match(r"v\d+\.(\d+)([hsd])", args)
            n += int(m.group(1)) if m else 1
    return n


# --- blocks -------------------------------------------------------------------

def _not_branch(ins) -> bool:
    return not kernel_asm._BRANCH.match(ins[1]) and ins[1] not in ("ret", "bl", "blr")


def innermost_hot_loop(body):
    """The loop with the most fmla among loops holding no other loop."""
    best = []
    for i in range(len(body)):
        loop = kernel_asm.loop_at(body, i)
        if not loop or any(kernel_asm.loop_at(loop, j) for j in range(len(loop) - 1)):
            continue
        if kernel_asm.fma_count(loop) > kernel_asm.fma_count(best):
            best = loop
    return best


def loop_with(body, mnemonic: str):
    """The smallest backward-branch loop holding `mnemonic`."""
    best = None
    for i in range(len(body)):
        loop = kernel_asm.loop_at(body, i)
        if loop and any(ins[1] == mnemonic for ins in loop) and (best is None or len(loop) < len(best)):
            best = loop
    return best or []


def enclosing_loop(body, inner):
    """The smallest backward-branch loop strictly enclosing `inner`."""
    lo, hi, best = inner[0][0], inner[-1][0], None
    for i in range(len(body)):
        loop = kernel_asm.loop_at(body, i)
        if loop and loop[0][0] <= lo and loop[-1][0] >= hi and len(loop) > len(inner) \
                and (best is None or len(loop) < len(best)):
            best = loop
    return best or []


@dataclass
class Kernel:
    """One kernel's modelled blocks: cycles per hot-loop pass and per overhead pass."""
    name: str
    loop: list
    blocks: dict          # overhead name -> instructions (each run once per its unit)
    cycles: dict | None = None

    @property
    def loop_cycles(self) -> float:
        return self.cycles["loop"]

    @property
    def cycles_per_lane_op(self) -> float:
        return self.loop_cycles / lane_ops(self.loop)


def model(kernels: list[Kernel]) -> None:
    blocks = {}
    for k in kernels:
        blocks[f"{k.name}:loop"] = k.loop
        for b, ins in k.blocks.items():
            blocks[f"{k.name}:{b}"] = ins
    cyc = mca_cycles(blocks)
    for k in kernels:
        k.cycles = {"loop": cyc[f"{k.name}:loop"]} | {b: cyc[f"{k.name}:{b}"] for b in k.blocks}


# --- our NEON kernels ----------------------------------------------------------

@dataclass
class OurSpec:
    name: str       # the variant's name in variants.cc / f16_gspmm_neonfp16.cc
    group: int      # G
    rows: int       # R
    vectors: int    # NV (tile = NV * lanes)
    lanes: int      # pixels per vector = channels per layout block (NC4HW4 fp32, NC8HW8 fp16)
    store_op: str = "st4"    # marks the output block's transpose loop (in run_task)
    unpack_op: str = "ld4"   # marks the input block's transpose loop (in pack_tile)
    direct: bool = False     # groups go from the accumulators into the layout (store_nc)


OUR_F32 = [OurSpec("f32_gspmm_4x16__neon", 4, 4, 4, 4), OurSpec("f32_gspmm_8x12__neon", 8, 8, 3, 4)]
# fp16: 8x8 transposes of 16-bit lanes (trn1/trn2) into the tile rows; the outputs go
# straight from the accumulators into NC8HW8 (the transpose is in the microkernel):
# whole blocks for G=8, half blocks (4 lanes of each pixel, one 64-bit store) for G=4.
OUR_F16 = [OurSpec("f16_gspmm_4x40__neonfp16", 4, 4, 5, 8, "stur", "trn1", direct=True),
           OurSpec("f16_gspmm_8x24__neonfp16", 8, 8, 3, 8, "trn1", "trn1", direct=True)]


def our_kernels(src: Path = NEON_SRC, specs=OUR_F32, vec: str = "VecNeon", flags: tuple = ()) -> list[Kernel]:
    """Per variant: the microkernel's hot loop (one kept entry), the microkernel's
    code outside it (once per group and tile: bias, clamp, stores), the output
    block's transpose loop (per layout block and vector of pixels) and the input
    tile's transpose loop (per layout block and vector of pixels)."""
    funcs = dict(kernel_asm.functions(kernel_asm.disassembly(src, flags)))
    out = []
    for s in specs:
        micro = [b for n, b in funcs.items() if re.search(rf"gspmm_rows<[^,]*{vec}, {s.rows}, {s.vectors}[,>]", n)]
        task = [b for n, b in funcs.items() if re.search(rf"run_task<[^,]*{vec}, {s.group}, {s.rows}, ", n)]
        pack = [b for n, b in funcs.items() if re.search(rf"pack_tile<[^>,]*{vec}[,>]", n)]
        if not (micro and task and pack):
            raise ModelError(f"{src}: no gspmm_rows/run_task/pack_tile for {s.name} in the disassembly")
        loop = kernel_asm.hot_loop(micro[0])
        if kernel_asm.fma_count(loop) != s.rows * s.vectors:
            raise ModelError(f"{src}: {s.name}'s hot loop has {kernel_asm.fma_count(loop)} fmla, "
                             f"expected {s.rows * s.vectors}")
        # The path a MobileNet layer takes through each microkernel (also the tail
        # tile's narrower ones, pick_nv), as the compiler specialises it.
        blocks = {}
        for nv, body in probe_microkernels(src, flags, vec, s).items():
            probe_loop = kernel_asm.hot_loop(body)
            if kernel_asm.fma_count(probe_loop) != s.rows * nv:
                raise ModelError(f"{src}: the probe of gspmm_rows<{vec}, {s.rows}, {nv}> has "
                                 f"{kernel_asm.fma_count(probe_loop)} fmla in its loop, expected {s.rows * nv}")
            if nv < s.vectors:
                blocks[f"loop{nv}"] = probe_loop
            blocks[f"call{nv}" if nv < s.vectors else "call"] = _outside(body, probe_loop)
        # The output transpose sits in store_group, inlined into run_task or not.
        group = [b for n, b in funcs.items() if re.search(rf"store_group<[^>,]*{vec}[,>]", n)]
        store = [i for i in loop_with(task[0], s.store_op) or (group and loop_with(group[0], s.store_op)) or []
                 if _not_branch(i)]
        unpack = [i for i in loop_with(pack[0], s.unpack_op) if _not_branch(i)]
        if not (store and unpack):
            raise ModelError(f"{src}: {s.name}: no output ({s.store_op}) / input ({s.unpack_op}) transpose loop found")
        out.append(Kernel(s.name, loop, {"store": store, "unpack": unpack} | blocks))
        out[-1].spec = s
    return out


PROBE = """#include "{src}"
namespace {{ using E = sbnn::elem_t<sbnn::{vec}>; }}
"""
PROBE_FN = """extern "C" __attribute__((flatten)) void sbnn_probe_{nv}(const E* tile, const int32_t* rows, const E* w,
                                                        int32_t entries, const E* bias, E* out) {{
  if (out == nullptr) __builtin_unreachable();
  sbnn::gspmm_rows<sbnn::{vec}, {r}, {nv}>(tile, rows, w, entries, {g}, bias, 0.0f, 6.0f, {obuf}, {t}, {nc}, {np});
}}
"""


def probe_microkernels(src: Path, flags: tuple, vec: str, s) -> dict:
    """nv -> the instructions of gspmm_rows<vec, R, nv> specialised (inlined into a
    probe function with constant arguments) for the path a MobileNet layer takes:
    ReLU6 clamp, whole vectors of pixels, output to the [G][T] block or, for direct
    variants, straight into the layout; the compiler drops the other paths."""
    text = PROBE.format(src=src, vec=vec)
    for nv in range(1, s.vectors + 1):
        text += PROBE_FN.format(nv=nv, vec=vec, r=s.rows, g=s.group, t=s.vectors * s.lanes, np=nv * s.lanes,
                                obuf="static_cast<E*>(nullptr)" if s.direct else "out",
                                nc="out" if s.direct else "static_cast<E*>(nullptr)")
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / "probe.cc"
        probe.write_text(text)
        funcs = dict(kernel_asm.functions(kernel_asm.disassemble(
            Path(d), probe, (*flags, "-I", str(src.parent), "-I", str(src.parent.parent / "include")))))
    out = {}
    for nv in range(1, s.vectors + 1):
        if f"sbnn_probe_{nv}" not in funcs:
            raise ModelError(f"{src}: probe sbnn_probe_{nv} of {s.name} missing from its disassembly")
        out[nv] = funcs[f"sbnn_probe_{nv}"]
    return out


def _outside(body, loop):
    """A function's instructions outside its hot loop, branches left out."""
    inside = {i[0] for i in loop}
    return [i for i in body if i[0] not in inside and _not_branch(i)]


def our_layer_cycles(k: Kernel, hw: int, cin: int, cout: int, sparsity: float) -> float:
    """Counted from gspmm_task.h's run_task for a contiguous 1x1 conv in NC4HW4 (fp32)
    or NC8HW8 (fp16): per tile, the input's channel blocks are transposed into rows;
    per (tile, group), the microkernel runs once per kept entry and its output is
    transposed back, block by block. An image's last tile runs the microkernel with
    just the vectors it needs."""
    s = k.spec
    tile = s.vectors * s.lanes
    groups = math.ceil(cout / s.group)
    entries = (1 - sparsity) * cin                  # kept input channels per group
    blocks_in = math.ceil(cin / s.lanes)            # channel blocks of the input (P = lanes)
    blocks_out = max(1, s.group // s.lanes)

    def one_tile(nv):
        loop, call = (k.loop_cycles, k.cycles["call"]) if nv == s.vectors else \
            (k.cycles[f"loop{nv}"], k.cycles[f"call{nv}"])
        per_group = entries * loop + call + (0 if s.direct else blocks_out * nv * k.cycles["store"])
        return blocks_in * nv * k.cycles["unpack"] + groups * per_group

    full, rest = divmod(hw, tile)
    return full * one_tile(s.vectors) + (one_tile(math.ceil(rest / s.lanes)) if rest else 0)


# --- MNN's loops, from the installed wheel --------------------------------------

@dataclass
class MnnSpec:
    name: str
    symbol: str
    hot: str                 # label the hot loop starts at
    fmla: int                # fmla in the hot loop
    arrangement: str         # of every fmla's accumulator
    overhead: list           # label ranges [from, to) of per-tile code; to None = outer loop end
    pixels: int              # per tile
    channels: int            # output channels per tile
    steps: int               # K steps per hot-loop pass


MNN_LOOPS = [
    # Sparse: per 16-pixel tile and 4-channel block; one kept (block, input channel) per pass.
    MnnSpec("mnn_sparse_epx4", "MNNPackedSparseMatMulEpx4", "loop_e16h4l1", 16, "4s",
            [("loop_e16h4", "loop_e16h4l1"), ("loop_e16h4l1_end", None)], 16, 4, 1),
    # Dense GEMM: 12 pixels x 8 (fp32) / 16 (fp16) channels per tile, two K steps per
    # pass; the first K step (fmul) and an odd last one are counted as hot-loop steps.
    MnnSpec("mnn_dense_f32", "MNNPackedMatMul", "LoopL2", 48, "4s", [("LoopH", "LoopL2"), ("LoopLEnd", None)],
            12, 8, 2),
    MnnSpec("mnn_dense_f16", "MNNPackedMatMulFP16", "LoopL2", 48, "8h", [("LoopH", "LoopL2"), ("LoopLEnd", None)],
            12, 16, 2),
]


def _tool(name: str) -> str:
    return "aarch64-linux-gnu-" + name


def mnn_kernels(so: Path | None = None) -> list[Kernel]:
    so = so or mnn_aarch64_so()
    if so is None or not Path(so).exists():
        raise ModelError("aarch64 MNN wheel not found (run scripts/arm64root.sh ensure)")
    nm = subprocess.run([_tool("nm"), "-n", str(so)], capture_output=True, text=True)
    if nm.returncode != 0:
        raise ModelError(f"{so}: nm failed: {nm.stderr.strip()[:200]}")
    syms = []
    for line in nm.stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "tT":
            syms.append((int(p[0], 16), p[2]))
    out = []
    for spec in MNN_LOOPS:
        starts = [i for i, (_, n) in enumerate(syms) if n == spec.symbol]
        if not starts:
            raise ModelError(f"{so}: no symbol {spec.symbol} (not the MNN 3.6.1 aarch64 wheel?)")
        i = starts[0]
        # The function runs to the next symbol that is another function (MNN* / C++),
        # across its own local labels.
        j = next((k for k in range(i + 1, len(syms)) if re.match(r"(MNN|_Z)", syms[k][1])), None)
        if j is None:
            raise ModelError(f"{so}: cannot find the end of {spec.symbol}")
        labels = {n: a for a, n in syms[i:j]}
        d = subprocess.run([_tool("objdump"), "-d", "--no-show-raw-insn", f"--start-address={syms[i][0]:#x}",
                            f"--stop-address={syms[j][0]:#x}", str(so)], capture_output=True, text=True)
        body = [(int(m.group(1), 16), m.group(2), m.group(3)) for m in map(kernel_asm._INSN.match,
                                                                           d.stdout.splitlines()) if m]
        loop = innermost_hot_loop(body)
        arr = {re.match(r"v\d+\.(\w+)", a).group(1) for _, o, a in loop if o == "fmla"}
        if not loop or loop[0][0] != labels.get(spec.hot) or kernel_asm.fma_count(loop) != spec.fmla \
                or arr != {spec.arrangement}:
            raise ModelError(f"{so}: {spec.symbol}'s hot loop is not the expected {spec.fmla} x fmla "
                             f".{spec.arrangement} at {spec.hot} (found {kernel_asm.fma_count(loop)} at "
                             f"{loop[0][0] if loop else 0:#x}, arrangements {sorted(arr)}): a different MNN build")
        outer = enclosing_loop(body, loop)
        if not outer:
            raise ModelError(f"{so}: {spec.symbol}: no loop around {spec.hot}")
        over = []
        for a, b in spec.overhead:
            if a not in labels or (b is not None and b not in labels):
                raise ModelError(f"{so}: {spec.symbol} has no label {a if a not in labels else b}")
            lo, hi = labels[a], labels[b] if b is not None else outer[-1][0] + 1
            over += [ins for ins in outer if lo <= ins[0] < hi and _not_branch(ins) and ins[1] != "fmul"]
        k = Kernel(spec.name, loop, {"tile": over})
        k.spec = spec
        out.append(k)
    return out


def mnn_layer_cycles(k: Kernel, hw: int, cin: int, cout: int, sparsity: float) -> float:
    """MNN's remainder pixels run other (narrower) loops; they are charged here at the
    full loop's cost per pixel, i.e. a fraction of a tile (in MNN's favour)."""
    s = k.spec
    tiles = hw / s.pixels * math.ceil(cout / s.channels)
    dense = s.name.startswith("mnn_dense")
    passes = cin / s.steps if dense else (1 - sparsity) * cin
    return tiles * (passes * k.loop_cycles + k.cycles["tile"])


# --- the report ---------------------------------------------------------------

def _cache_key(layers, sparsities) -> str:
    """Everything the records depend on: our sources and this module, the wheel's
    engine, the tools' versions and the layer list."""
    h = hashlib.sha256(repr((layers, sparsities, MCPU, ITERATIONS)).encode())
    src = NEON_SRC.parent
    for f in sorted([*src.glob("*.h"), *src.glob("*.cc"), *src.parent.glob("include/*/*.h"),
                     Path(__file__), Path(kernel_asm.__file__)]):
        h.update(f.name.encode() + f.read_bytes())
    h.update(Path(mnn_aarch64_so()).read_bytes())
    for tool in (llvm_mca(), kernel_asm.CXX):
        h.update(subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.encode())
    return h.hexdigest()[:20]


def records(layers=MOBILENET_V1_POINTWISE, sparsities=SPARSITIES, use_cache=True) -> list[dict]:
    """Per-loop records (cycles per FMA lane-op) and per-(layer, sparsity) records
    (modelled cycles per kernel, speed-up over MNN's dense fp32 and fp16 GEMM).
    Deterministic, so kept in build/arm-model/ under a key of all its inputs;
    use_cache=False recomputes (and refreshes the entry)."""
    cache = kernel_asm.ROOT / "build" / "arm-model" / f"{_cache_key(layers, sparsities)}.json"
    if use_cache and cache.exists():
        return json.loads(cache.read_text())
    out = _records(layers, sparsities)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(cache)
    return out


def _records(layers, sparsities) -> list[dict]:
    ours = our_kernels() + our_kernels(NEON_F16_SRC, OUR_F16, "VecNeonFp16", NEON_F16_FLAGS)
    mnn = mnn_kernels()
    model(ours + mnn)
    base = {"engine": "llvm-mca", "label": LABEL, "llvm_mca": llvm_mca_version(), "mcpu": MCPU}
    out = []
    for k in ours + mnn:
        out.append(base | {"kind": "loop", "kernel": k.name, "loop_instructions": len(k.loop),
                           "fmla": kernel_asm.fma_count(k.loop), "lane_ops": lane_ops(k.loop),
                           "loop_cycles": k.loop_cycles, "cycles_per_lane_op": k.cycles_per_lane_op,
                           "overhead_cycles": {b: c for b, c in k.cycles.items() if b != "loop"}})
    for hwsz, cin, cout in layers:
        for sp in sparsities:
            cyc = {k.name: our_layer_cycles(k, hwsz * hwsz, cin, cout, sp) for k in ours}
            cyc |= {k.name: mnn_layer_cycles(k, hwsz * hwsz, cin, cout, sp) for k in mnn}
            out.append(base | {"kind": "layer", "layer": f"{hwsz}x{hwsz}_{cin}-{cout}", "sparsity": sp,
                               "cycles": cyc})
    return out


def llvm_mca_version() -> str:
    r = subprocess.run([llvm_mca(), "--version"], capture_output=True, text=True)
    m = re.search(r"LLVM version (\S+)", r.stdout)
    return m.group(1) if m else "?"


def format_report(recs: list[dict]) -> str:
    loops = [r for r in recs if r["kind"] == "loop"]
    lines = [f"{LABEL}: hot loops (llvm-mca {loops[0]['llvm_mca']}, -mcpu={MCPU}; modelled, not measured)",
             f"  {'kernel':24} {'insns':>5} {'fmla':>4} {'lane-ops':>8} {'cycles':>7} {'cyc/lane-op':>11}"]
    for r in loops:
        lines.append(f"  {r['kernel']:24} {r['loop_instructions']:5d} {r['fmla']:4d} {r['lane_ops']:8d} "
                     f"{r['loop_cycles']:7.2f} {r['cycles_per_lane_op']:11.4f}")
    layer = [r for r in recs if r["kind"] == "layer"]
    names = list(layer[0]["cycles"])
    lines.append(f"{LABEL}: MobileNet-V1 pointwise convs, {len(layer) // len({r['sparsity'] for r in layer})} "
                 "layers summed, "
                 "kilocycles (inner loops + per-group / per-tile code; memory ignored)")
    lines.append(f"  {'sparsity':>8} " + " ".join(f"{n:>22}" for n in names))
    for sp in sorted({r["sparsity"] for r in layer}):
        tot = {n: sum(r["cycles"][n] for r in layer if r["sparsity"] == sp) for n in names}
        lines.append(f"  {sp:8.2f} " + " ".join(f"{tot[n] / 1e3:22.0f}" for n in names))
    lines.append("  speed-up = mnn_dense_f32 (or _f16) cycles / kernel cycles; the model ignores memory, cache misses "
                 "and frequency")
    for sp in sorted({r["sparsity"] for r in layer}):
        tot = {n: sum(r["cycles"][n] for r in layer if r["sparsity"] == sp) for n in names}
        parts = [f"{n} {tot['mnn_dense_f32'] / tot[n]:.2f}x" for n in names
                 if n.startswith("f32_") or n == "mnn_sparse_epx4"]
        parts += [f"{n} {tot['mnn_dense_f16'] / tot[n]:.2f}x vs f16 dense" for n in names if n.startswith("f16_")]
        lines.append(f"  {sp:.2f}: " + ", ".join(parts))
    return "\n".join(lines)


if __name__ == "__main__":
    why = available()
    if why:
        raise SystemExit(f"error: missing {why}")
    print(format_report(records()))
