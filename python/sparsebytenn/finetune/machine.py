"""What a run's times mean: the CPU, how busy the machine was, how many threads."""
from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def auto_threads() -> int:
    """The cores nobody else is using (at least 1): on a busy machine torch's threads
    wait for each other (measured here: 2 threads 5x slower than 1 under load 12)."""
    cores = os.cpu_count() or 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, cores - int(round(busy))))


def describe(threads: int) -> dict:
    return {"cpu_model": cpu_model(), "cores": os.cpu_count(), "torch_threads": threads,
            "load_average_1_5_15": load_average()}
