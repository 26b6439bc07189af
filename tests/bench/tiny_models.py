"""Small real models for the benchmark tests, and a stand-in converter.

The stand-in prunes the model's 1x1 convolutions in groups of 4 output channels
x 1 input channel (lowest L1 first) at the ONNX level with numpy, converts with
MNN's own converter, and for the sparse form tags the layers with MNN's own
`--detectSparseSpeedUp` (so stock MNN really takes its sparse path). It lets the
harness be tested independently of the project's converter.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
from sparsebytenn_converter.mnn_wheel import mnn_sparse_tag, mnnconvert


def make_model(folder: Path, seed: int = 0, size: int = 32, width: int = 64) -> Path:
    """conv3x3 s2 -> two 1x1 convs -> global pool -> fc; writes tiny.onnx and tiny.mnn."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def conv(x, y, cin, cout, k, s):
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, y + ".w"), numpy_helper.from_array(b, y + ".b")])
        nodes.append(helper.make_node("Conv", [x, y + ".w", y + ".b"], [y], name=y,
                                      kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4))
        nodes.append(helper.make_node("Relu", [y], [y + "_relu"], name=y + "_relu"))
        return y + "_relu"

    x = conv("input", "c0", 3, 16, 3, 2)
    x = conv(x, "pw1", 16, width, 1, 1)
    x = conv(x, "pw2", width, width, 1, 1)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flat"))
    fw = (rng.standard_normal((10, width)) * 0.1).astype(np.float32)
    inits += [numpy_helper.from_array(fw, "fc.w"), numpy_helper.from_array(np.zeros(10, np.float32), "fc.b")]
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "tiny.onnx")
    mnnconvert("-f", "ONNX", "--modelFile", str(folder / "tiny.onnx"),
               "--MNNModel", str(folder / "tiny.mnn"))
    return folder / "tiny.mnn"


def prune_groups(w: np.ndarray, sparsity: float, g: int = 4) -> np.ndarray:
    """Zero the lowest-L1 (g output channels x 1 input channel) groups."""
    o, i = w.shape[:2]
    blocks = np.abs(w.reshape(o // g, g, i, -1)).sum(axis=(1, 3))
    k = int(round(sparsity * blocks.size))
    keep = np.ones(blocks.size, bool)
    keep[np.argsort(blocks, axis=None, kind="stable")[:k]] = False
    mask = np.repeat(keep.reshape(o // g, 1, i, 1), g, axis=1).reshape(o, i, 1, 1)
    return (w * mask).astype(np.float32)


def stand_in_converter(in_path, out_path, *, sparsity, format="sparse", progress=False, **_):
    import onnx
    from onnx import numpy_helper

    src = Path(in_path).with_suffix(".onnx")
    model = onnx.load(src)
    inits = {t.name: t for t in model.graph.initializer}
    layers = []
    for node in model.graph.node:
        w = numpy_helper.to_array(inits[node.input[1]]) if node.op_type == "Conv" else None
        if w is None or w.shape[2:] != (1, 1):
            continue
        pruned = prune_groups(w, sparsity)
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(pruned, node.input[1]))
        layers.append(SimpleNamespace(name=node.output[0], kind="conv1x1", G=4, sparsity_before=0.0,
                                      sparsity_after=float((pruned == 0).mean()),
                                      tagged=format == "sparse"))
    out = Path(out_path)
    tmp_onnx = out.with_name(out.name + ".onnx")
    onnx.save(model, tmp_onnx)
    dense = out.with_name(out.name + ".dense.mnn")
    mnnconvert("-f", "ONNX", "--modelFile", str(tmp_onnx), "--MNNModel", str(dense))
    tmp_onnx.unlink()
    if format == "dense":
        dense.replace(out)
    else:
        mnn_sparse_tag(dense, out, oc_block=4)
        dense.unlink()
    return SimpleNamespace(layers=layers, to_dict=lambda: {"layers": [vars(x) for x in layers]})
