"""Fixtures for the MNN bridge tests: test models built with MNN's own converter,
the enabled bridge."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bridge_helpers import has_module, models, require  # noqa: E402


@pytest.fixture(scope="session")
def mnn():
    require(has_module("MNN") and has_module("_tools"), "the MNN==3.6.1 wheel (pip install MNN==3.6.1)")
    import MNN
    return MNN


@pytest.fixture(scope="session")
def bridge(mnn):
    """The enabled bridge (registered and armed after its probe)."""
    from sparsebytenn import plugin

    require(plugin._find_library_or_none() is not None,
            f"{plugin.LIB_NAME} (pip install -e . --no-build-isolation builds it)")
    backend = plugin.enable()
    assert backend == plugin.BRIDGE_TYPE, f"bridge not enabled: {plugin.status().reason}"
    return plugin


@pytest.fixture(scope="session")
def small_models(tmp_path_factory, mnn):
    """(dense-pruned .mnn, tagged .mnn, names of tagged convs, numpy weights) of a 6-conv test net."""
    require(has_module("onnx"), "the onnx package (pip install onnx)")
    folder = tmp_path_factory.mktemp("bridge_models")
    dense, sparse, params = models.build_models(folder, sparsity=0.6)
    tagged = models.tagged_convs(models.to_json(sparse, folder / "sparse.json"))
    assert len(tagged) == 5, tagged  # all group-1 convs; the depthwise one is not a Convolution
    return dense, sparse, tagged, params
