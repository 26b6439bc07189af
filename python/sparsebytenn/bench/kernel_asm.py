"""Static check of the NEON microkernels, since NEON speed cannot be measured
here (qemu timings mean nothing): cross-compile plugin/kernels/src/f32_gspmm_neon.cc
with the same flags as the aarch64 build, disassemble it with
aarch64-linux-gnu-objdump and, for every gspmm_rows<VecNeon, R, NV> microkernel,
find its inner loop (the backward branch enclosing the most fmla) and count
instructions per FMA. Deterministic, so a test can bound it.

Needs the repository sources (not part of the wheel) and g++-aarch64-linux-gnu.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "plugin" / "kernels" / "src" / "f32_gspmm_neon.cc"
CXX = "aarch64-linux-gnu-g++"
OBJDUMP = "aarch64-linux-gnu-objdump"
# The kernels' own flags (plugin/kernels/CMakeLists.txt) on the aarch64 baseline.
FLAGS = ["-std=c++17", "-O3", "-fno-math-errno", "-DSBNN_HAVE_NEON"]

_FUNC = re.compile(r"^[0-9a-f]+ <(.*)>:$")
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
_BRANCH = re.compile(r"^(b\.\w+|cbn?z|tbn?z|b)$")


def available() -> str | None:
    """None when the tools are there, else what is missing."""
    missing = [t for t in (CXX, OBJDUMP) if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} (apt-get install g++-aarch64-linux-gnu binutils-aarch64-linux-gnu)"
    if not SRC.exists():
        return f"{SRC} (the repository sources)"
    return None


@functools.lru_cache(maxsize=8)
def disassembly(src: Path = SRC, flags: tuple = ()) -> str:
    """objdump -d of src compiled as the aarch64 build compiles it (once per process)."""
    with tempfile.TemporaryDirectory() as d:
        return disassemble(Path(d), src, flags)


def disassemble(workdir: Path, src: Path = SRC, flags: tuple = ()) -> str:
    obj = workdir / (src.stem + ".o")
    subprocess.run([CXX, *FLAGS, *flags, "-I", str(src.parent.parent / "include"), "-I", str(src.parent), "-c",
                    str(src), "-o", str(obj)], check=True, capture_output=True, text=True)
    return subprocess.run([OBJDUMP, "-d", "-C", "--no-show-raw-insn", str(obj)], check=True,
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


def loop_at(body, i):
    """The instructions from the target of the backward branch body[i] to it, or None."""
    addr, op, args = body[i]
    if not _BRANCH.match(op):
        return None
    target = re.match(r"([0-9a-f]+)\b", args.split("<")[0].split(",")[-1].strip())
    if not target or int(target.group(1), 16) > addr:
        return None
    t = int(target.group(1), 16)
    return [ins for ins in body if t <= ins[0] <= addr]


def fma_count(loop) -> int:
    return sum(1 for ins in loop if ins[1] in ("fmla", "fmadd"))


def hot_loop(body):
    """The backward-branch loop holding the most fmla (the first, i.e. innermost, on
    a tie), as (address, mnemonic, operands) rows; [] when there is none."""
    best = []
    for i in range(len(body)):
        loop = loop_at(body, i)
        if loop and fma_count(loop) > fma_count(best):
            best = loop
    return best


def inner_loop(body):
    """(instructions, fmla count, stack accesses = spills) of the backward-branch
    loop holding the most fmla."""
    loop = hot_loop(body)
    return len(loop), fma_count(loop), sum(1 for ins in loop if "[sp" in ins[2])


def neon_inner_loops() -> list[dict]:
    """One record per NEON microkernel: rows R, vectors NV, loop instructions, FMAs, instructions/FMA."""
    out = []
    for name, body in functions(disassembly()):
        m = re.search(r"gspmm_rows<[^,]*VecNeon, (\d+), (\d+)[,>]", name)
        if not m:
            continue
        n, f, spills = inner_loop(body)
        out.append(dict(function=f"gspmm_rows<VecNeon, {m.group(1)}, {m.group(2)}>", rows=int(m.group(1)),
                        vectors=int(m.group(2)), loop_instructions=n, fmas=f, stack_accesses=spills,
                        instructions_per_fma=(n / f) if f else None))
    out.sort(key=lambda r: (r["rows"], r["vectors"]))
    return out


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
