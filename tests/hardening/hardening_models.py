"""Tiny real .mnn models for the hardening tests (a few KB each, built in seconds).

The dense model comes from an ONNX graph (onnx.helper) converted by MNN's own
converter; the sparse one is the project's converter output of it (sparse metadata,
MNN's float-sparse weight coding), i.e. the two kinds of file users feed the tools.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sparsebytenn_converter.mnn_wheel import mnnconvert

INPUT_SHAPE = (1, 4, 8, 8)
# (name, in, out, kernel, pad, relu)
LAYERS = [("conv_a", 4, 8, 3, 1, True), ("conv_b", 8, 16, 1, 0, True), ("conv_c", 16, 8, 1, 0, False)]




def build_dense(folder: Path, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, cur = [], [], "input"
    for name, cin, cout, k, pad, relu in LAYERS:
        w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]
        nodes.append(helper.make_node("Conv", [cur, f"{name}_w", f"{name}_b"], [f"{name}_out"], name=name,
                                      kernel_shape=[k, k], pads=[pad] * 4))
        cur = f"{name}_out"
        if relu:
            nodes.append(helper.make_node("Relu", [cur], [f"{name}_relu"], name=f"{name}_relu"))
            cur = f"{name}_relu"
    nodes.append(helper.make_node("Identity", [cur], ["output"]))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                           list(INPUT_SHAPE))],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path, out = folder / "tiny.onnx", folder / "tiny.mnn"
    onnx.save(model, str(onnx_path))
    mnnconvert("-f", "ONNX", "--modelFile", onnx_path, "--MNNModel", out, "--bizCode", "test")
    assert out.is_file() and out.stat().st_size > 0, "MNN's converter wrote nothing"
    return out


def build_sparse(dense: Path, out: Path) -> Path:
    """The project's converter output: every conv pruned 50 % in groups of 4 and tagged."""
    from sparsebytenn_converter import convert

    convert(dense, out, sparsity=0.5, group=4, target="arm64", skip=["none"], plain=True, progress=False, force=True)
    return out
