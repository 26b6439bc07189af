"""What the numbers were measured on, and whether the machine was quiet enough."""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

INTERESTING_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                     "avx512_vnni", "avx512_bf16", "asimd", "asimddp", "sve")


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "cpu model") and model in ("", platform.machine()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    have = set(value.split())
                    flags = [fl for fl in INTERESTING_FLAGS if fl in have]
    except OSError:
        pass
    return model, flags


def kernels_isa() -> str | None:
    """The ISA the SparseByteNN kernels dispatch to here (None if the package was
    installed without its compiled part)."""
    try:
        from .. import _kernels
    except ImportError:
        return None
    return str(_kernels.default_isa())


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe() -> dict:
    from .. import __version__

    model, flags = _cpuinfo()
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = list(range(os.cpu_count() or 1))
    return {
        "cpu_model": model,
        "cpu_flags": flags,
        "kernels_isa": kernels_isa(),
        "isa_override": os.environ.get("SPARSEBYTENN_ISA"),
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "load_average_before": load_average(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {"sparsebytenn": __version__, "MNN": _version("MNN"),
                     "onnxruntime": _version("onnxruntime"), "numpy": _version("numpy")},
    }


def noise_warnings(machine: dict, rows: list[dict], iqr_limit: float = 0.10) -> list[str]:
    """Reasons not to trust this run's numbers (printed and stored in the JSON)."""
    warnings = []
    ncpu = len(machine.get("cpus_available") or []) or 1
    load = machine.get("load_average_before")
    if load and load[0] > 0.5:
        warnings.append(f"the machine was busy before the run (1-min load average {load[0]:.2f} "
                        f"on {ncpu} CPU(s)): other work competes with the engines")
    for threads in sorted({r["threads"] for r in rows}):
        if threads > ncpu:
            warnings.append(f"{threads} threads asked for but only {ncpu} CPU(s) available")
    wide = [r for r in rows if r.get("median_ms") and r["iqr_ms"] / r["median_ms"] > iqr_limit]
    if wide:
        worst = max(wide, key=lambda r: r["iqr_ms"] / r["median_ms"])
        warnings.append(f"{len(wide)} result(s) have an IQR wider than {iqr_limit:.0%} of the median "
                        f"(worst: {worst['engine']} at {worst['threads']} thread(s), "
                        f"{worst['iqr_ms'] / worst['median_ms']:.0%}): the machine is noisy; "
                        "use more rounds or a quieter machine")
    return warnings
