"""Runners with known behaviour, to test the timing method without real engines.

They run inside the benchmark's worker processes (this folder is on the
workers' sys.path because it is on the test process's)."""
from __future__ import annotations

import os
import signal
import time

import numpy as np

from sparsebytenn.bench.worker import EngineUnavailable


class Sleeper:
    """Takes options["ms"] per inference and returns options["value"] (default 1.0)."""

    def __init__(self, path, threads, options, inputs):
        self.ms = float(options.get("ms", 1.0))
        self.value = float(options.get("value", 1.0))
        self.crash_after = options.get("crash_after")  # inferences before a SIGSEGV
        self.count = 0
        self.info = {"pid": os.getpid()}

    def infer(self):
        self.count += 1
        if self.crash_after is not None and self.count > self.crash_after:
            os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(self.ms / 1e3)
        return {"out": np.full(4, self.value, np.float32)}


class CrashOnLoad:
    def __init__(self, path, threads, options, inputs):
        os._exit(3)


class RaiseOnLoad:
    def __init__(self, path, threads, options, inputs):
        raise RuntimeError("this engine cannot read the model")


class Missing:
    def __init__(self, path, threads, options, inputs):
        raise EngineUnavailable("the fake library is not installed")
