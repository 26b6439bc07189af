"""Shared test helpers (import with `from sbnn_testing import require`; tests/ is on pytest's pythonpath).

`require(cond, why)`: a test that needs a toolchain or package that is missing
FAILS under CI (CI=true) and is skipped with the reason printed elsewhere, so a
missing install step can never turn CI green by skipping.
"""
import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, why: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required for CI but missing: {why}", pytrace=False)
    pytest.skip(f"missing: {why}")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"`{name}` is not on PATH (scripts/setup.sh installs it)")
    return path
