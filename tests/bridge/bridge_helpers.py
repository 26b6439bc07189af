"""Helpers shared by the bridge tests (a unique module name: tests/ is not a package)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bridge_models as models  # noqa: E402,F401

from sbnn_testing import require  # noqa: E402,F401  (missing toolchain: fails under CI)

TOL = 1e-4


def rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    assert a.shape == ref.shape
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


def has_module(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def run_python(code: str, env_extra: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh Python (the bridge registers once per process)."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)
