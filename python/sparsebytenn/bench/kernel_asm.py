"""Static check of the microkernels' inner loops: compile an ISA's
plugin/kernels/src/f32_gspmm_<isa>.cc with the build's flags, disassemble it
and, for every gspmm_rows<Vec, R, NV> microkernel, find its inner loop (the
backward branch enclosing the most FMAs) and count instructions per FMA and
stack accesses (spilled accumulators). NEON speed cannot be measured here (qemu
timings mean nothing); on AVX2 all 16 ymm registers are taken by the 4 x 3
microkernel, where one live value too many makes GCC spill every entry.
Deterministic, so a test can bound it.

Needs the repository sources (not part of the wheel) and the ISA's g++/objdump.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SRC_DIR = ROOT / "plugin" / "kernels" / "src"


@dataclass(frozen=True)
class Target:
    vec: str            # the Vec traits struct in gspmm_rows<Vec, R, NV>
    src: Path
    cxx: str
    objdump: str
    flags: tuple        # the kernels' own flags (plugin/kernels/CMakeLists.txt)
    branch: re.Pattern  # conditional / unconditional branch mnemonics
    fma: tuple          # FMA mnemonics
    stack: str          # substring of an operand addressing the stack
    install: str        # how to get the tools


NEON = Target("VecNeon", SRC_DIR / "f32_gspmm_neon.cc", "aarch64-linux-gnu-g++", "aarch64-linux-gnu-objdump",
              ("-std=c++17", "-O3", "-fno-math-errno", "-DSBNN_HAVE_NEON"),
              re.compile(r"^(b\.\w+|cbn?z|tbn?z|b)$"), ("fmla", "fmadd"), "[sp",
              "apt-get install g++-aarch64-linux-gnu binutils-aarch64-linux-gnu")
AVX2 = Target("VecAvx2", SRC_DIR / "f32_gspmm_avx2.cc", "g++", "objdump",
              ("-std=c++17", "-O3", "-fno-math-errno", "-mavx2", "-mfma", "-DSBNN_HAVE_AVX2"),
              re.compile(r"^j\w+$"), ("vfmadd231ps", "vfmadd213ps", "vfmadd132ps"), "(%rsp",
              "apt-get install g++ binutils")
# The aarch64 build's names (bench/arm_model.py compiles its probes with them).
SRC, CXX, OBJDUMP, FLAGS = NEON.src, NEON.cxx, NEON.objdump, list(NEON.flags)
_BRANCH = NEON.branch

_FUNC = re.compile(r"^[0-9a-f]+ <(.*)>:$")
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")


def available(target: Target = NEON) -> str | None:
    """None when the tools are there, else what is missing."""
    missing = [t for t in (target.cxx, target.objdump) if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} ({target.install})"
    if not target.src.exists():
        return f"{target.src} (the repository sources)"
    return None


@functools.lru_cache(maxsize=8)
def disassembly(src: Path | None = None, flags: tuple = (), target: Target = NEON) -> str:
    """objdump -d of src (default: the target's kernels) compiled as its build compiles
    it, plus flags (once per process)."""
    with tempfile.TemporaryDirectory() as d:
        return disassemble(Path(d), src, flags, target)


def disassemble(workdir: Path, src: Path | None = None, flags: tuple = (), target: Target = NEON) -> str:
    src = target.src if src is None else src
    obj = workdir / (src.stem + ".o")
    subprocess.run([target.cxx, *target.flags, *flags, "-I", str(src.parent.parent / "include"), "-I",
                    str(src.parent), "-c", str(src), "-o", str(obj)], check=True, capture_output=True, text=True)
    return subprocess.run([target.objdump, "-d", "-C", "--no-show-raw-insn", str(obj)], check=True,
                          capture_output=True, text=True).stdout


def functions(text: str):
    name, body = None, []
    for line in text.splitlines():
        m = _FUNC.match(line.strip())
        if m:
            if name:
                yield name, body
            name, body = m.group(1), []
            continue
        m = _INSN.match(line)
        if m and name:
            body.append((int(m.group(1), 16), m.group(2), m.group(3)))
    if name:
        yield name, body


def loop_at(body, i, target: Target = NEON):
    """The instructions from the target of the backward branch body[i] to it, or None."""
    addr, op, args = body[i]
    if not target.branch.match(op):
        return None
    to = re.match(r"([0-9a-f]+)\b", args.split("<")[0].split(",")[-1].strip())
    if not to or int(to.group(1), 16) > addr:
        return None
    t = int(to.group(1), 16)
    return [ins for ins in body if t <= ins[0] <= addr]


def fma_count(loop, target: Target = NEON) -> int:
    return sum(1 for ins in loop if ins[1] in target.fma)


def hot_loop(body, target: Target = NEON):
    """The backward-branch loop holding the most FMAs (the first, i.e. innermost, on
    a tie), as (address, mnemonic, operands) rows; [] when there is none."""
    best = []
    for i in range(len(body)):
        loop = loop_at(body, i, target)
        if loop and fma_count(loop, target) > fma_count(best, target):
            best = loop
    return best


def inner_loop(body, target: Target = NEON):
    """(instructions, FMA count, stack accesses = spills) of the backward-branch
    loop holding the most FMAs."""
    loop = hot_loop(body, target)
    return len(loop), fma_count(loop, target), sum(1 for ins in loop if target.stack in ins[2])


def inner_loops(target: Target) -> list[dict]:
    """One record per microkernel of the target: rows R, vectors NV, loop instructions, FMAs, instructions/FMA."""
    out = []
    for name, body in functions(disassembly(target=target)):
        m = re.search(rf"gspmm_rows<[^,]*{target.vec}, (\d+), (\d+)[,>]", name)
        if not m:
            continue
        n, f, spills = inner_loop(body, target)
        out.append(dict(function=f"gspmm_rows<{target.vec}, {m.group(1)}, {m.group(2)}>", rows=int(m.group(1)),
                        vectors=int(m.group(2)), loop_instructions=n, fmas=f, stack_accesses=spills,
                        instructions_per_fma=(n / f) if f else None))
    out.sort(key=lambda r: (r["rows"], r["vectors"]))
    return out


def neon_inner_loops() -> list[dict]:
    return inner_loops(NEON)


def avx2_inner_loops() -> list[dict]:
    return inner_loops(AVX2)


def format_neon_table(records: list[dict]) -> str:
    lines = ["NEON inner loops (static, aarch64-linux-gnu-g++ -O3; per kept entry):",
             f"  {'microkernel':32} {'insns':>5} {'fmla':>5} {'insns/FMA':>9} {'spills':>6}"]
    for r in records:
        per = f"{r['instructions_per_fma']:.2f}" if r["instructions_per_fma"] else "-"
        lines.append(f"  {r['function']:32} {r['loop_instructions']:5d} {r['fmas']:5d} {per:>9} {r['stack_accesses']:6d}")
    return "\n".join(lines)


if __name__ == "__main__":
    why = available()
    if why:
        raise SystemExit(f"error: missing {why}")
    print(format_neon_table(neon_inner_loops()))
