"""Fixtures the converter tests share."""
from __future__ import annotations

import importlib.util

import pytest

from helpers import build_test_model
from sbnn_testing import require


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """The small test network of helpers.build_test_model (torch -> ONNX -> MNN's converter),
    built once per test module; tests only read it."""
    require(importlib.util.find_spec("torch") is not None and importlib.util.find_spec("onnx") is not None,
            "torch and onnx (scripts/setup.sh installs them) to build the test model")
    return build_test_model(tmp_path_factory.mktemp("small") / "small.mnn")
