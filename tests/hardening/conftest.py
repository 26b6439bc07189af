"""Fixtures for the hardening tests: tiny real models (dense and converter-sparse)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "bridge"))  # bridge_models: MNN's converter
from sbnn_testing import require  # noqa: E402


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """(dense .mnn, converter-sparse .mnn) of a 3-conv net, a few KB each."""
    require(importlib.util.find_spec("MNN") is not None and importlib.util.find_spec("_tools") is not None,
            "the MNN==3.6.1 wheel (pip install MNN==3.6.1)")
    require(importlib.util.find_spec("onnx") is not None, "the onnx package (pip install onnx)")
    import hardening_models

    folder = tmp_path_factory.mktemp("tiny")
    dense = hardening_models.build_dense(folder)
    return dense, hardening_models.build_sparse(dense, folder / "tiny.sparse.mnn")
