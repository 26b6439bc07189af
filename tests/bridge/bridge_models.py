"""Small test models for the bridge, built independently of the code under test:
ONNX graphs (onnx.helper) with block-pruned weights, converted and sparse-tagged
by MNN's own converter (`--detectSparseSpeedUp`, SIMD_OC blocks of 4)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sparsebytenn_converter.mnn_wheel import mnn_sparse_tag, mnnconvert  # noqa: F401  (re-exported)


def block_prune(w: np.ndarray, sparsity: float, g: int, rng) -> np.ndarray:
    """Zero the lowest-L1 blocks of g output channels x 1 input channel (all taps)."""
    o, i = w.shape[:2]
    full = (o // g) * g
    blocks = np.abs(w[:full]).reshape(o // g, g, i, -1).sum(axis=(1, 3))
    k = int(round(sparsity * blocks.size))
    keep = np.ones(blocks.size, bool)
    keep[np.argsort(blocks.ravel(), kind="stable")[:k]] = False
    mask = np.repeat(keep.reshape(o // g, i), g, axis=0)
    out = w.copy()
    out[:full] *= mask[:, :, None, None]
    if o > full:  # tail rows: zero elementwise at the same rate
        tail = out[full:]
        thr = np.quantile(np.abs(tail), sparsity)
        tail[np.abs(tail) <= thr] = 0
    return out


# (name, in, out, k, stride, pad, act, depthwise)
LAYERS = [
    ("conv_a", 16, 32, 3, 1, 1, "relu", False),
    ("conv_b", 32, 36, 1, 1, 0, None, False),
    ("dw_c", 36, 36, 3, 1, 1, "relu", True),
    ("conv_d", 36, 24, 3, 2, 1, "relu6", False),
    ("conv_e", 24, 20, 1, 1, 0, None, False),
    ("conv_f", 20, 40, 5, 1, 2, "relu", False),
]
INPUT_SHAPE = (1, 16, 15, 15)


def build_onnx(path: Path, sparsity: float, seed: int = 0, g: int = 4) -> list:
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, params = [], [], []
    cur = "input"
    for name, cin, cout, k, s, p, act, dw in LAYERS:
        shape = (cout, 1 if dw else cin, k, k)
        w = rng.standard_normal(shape).astype(np.float32) * np.sqrt(2.0 / (shape[1] * k * k))
        if not dw and sparsity > 0:
            w = block_prune(w, sparsity, g, rng)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        params.append((w, b, s, p, act, dw))
        inits += [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]
        out = f"{name}_out"
        nodes.append(helper.make_node("Conv", [cur, f"{name}_w", f"{name}_b"], [out], name=name,
                                      kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p],
                                      group=cin if dw else 1))
        cur = activation(nodes, inits, out, name, act)
    save_onnx(nodes, inits, cur, INPUT_SHAPE, path)
    return params


def activation(nodes: list, inits: list, cur: str, name: str, act: str | None) -> str:
    """Appends Relu / Clip(0, 6) nodes after tensor `cur` for act "relu" / "relu6" (None:
    nothing); returns the tensor the next node reads."""
    from onnx import helper, numpy_helper

    if act == "relu":
        nodes.append(helper.make_node("Relu", [cur], [f"{name}_relu"], name=f"{name}_relu"))
        return f"{name}_relu"
    if act == "relu6":
        inits += [numpy_helper.from_array(np.array(0, np.float32), f"{name}_lo"),
                  numpy_helper.from_array(np.array(6, np.float32), f"{name}_hi")]
        nodes.append(helper.make_node("Clip", [cur, f"{name}_lo", f"{name}_hi"], [f"{name}_clip"]))
        return f"{name}_clip"
    return cur


def save_onnx(nodes: list, inits: list, last: str, input_shape, path: Path) -> None:
    """A one-input graph of `nodes` ending in tensor `last` (renamed "output"), opset 13."""
    import onnx
    from onnx import TensorProto, helper

    nodes = nodes + [helper.make_node("Identity", [last], ["output"])]
    graph = helper.make_graph(nodes, Path(path).stem, [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                    list(input_shape))],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def numpy_forward(params, x: np.ndarray) -> np.ndarray:
    """float64 reference of the LAYERS net (NCHW)."""
    y = x.astype(np.float64)
    for w, b, s, p, act, dw in params:
        n, c, h, wd = y.shape
        o, _, k, _ = w.shape
        yp = np.pad(y, ((0, 0), (0, 0), (p, p), (p, p)))
        oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
        cols = np.empty((n, c, k, k, oh, ow))
        for i in range(k):
            for j in range(k):
                cols[:, :, i, j] = yp[:, :, i:i + s * oh:s, j:j + s * ow:s]
        if dw:
            out = np.einsum("ncijhw,cij->nchw", cols, w[:, 0].astype(np.float64))
        else:
            out = np.einsum("ncijhw,ocij->nohw", cols, w.astype(np.float64))
        y = out + b[None, :, None, None]
        if act == "relu":
            y = np.maximum(y, 0)
        elif act == "relu6":
            y = np.clip(y, 0, 6)
    return y


def build_models(folder: Path, sparsity: float = 0.6, seed: int = 0) -> tuple[Path, Path, list]:
    """(dense-pruned .mnn, sparse-tagged .mnn, weights for numpy_forward)."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path, dense, sparse = (folder / n for n in ("m.onnx", "dense.mnn", "sparse.mnn"))
    params = build_onnx(onnx_path, sparsity, seed)
    mnnconvert("-f", "ONNX", "--modelFile", onnx_path, "--MNNModel", dense)
    mnn_sparse_tag(dense, sparse, oc_block=4)
    assert dense.is_file() and sparse.is_file()
    return dense, sparse, params


def to_json(model: Path, out: Path) -> dict:
    mnnconvert("-f", "MNN", "--modelFile", model, "--JsonFile", out)
    return json.loads(out.read_text())


def from_json(net: dict, json_path: Path, out: Path) -> None:
    json_path.write_text(json.dumps(net))
    mnnconvert("-f", "JSON", "--modelFile", json_path, "--MNNModel", out)


def tagged_convs(net: dict) -> list[str]:
    """Names of Convolution ops (group 1) carrying sparse metadata, from MNN's own JSON dump."""
    names = []
    for op in net["oplists"]:
        main = op.get("main") or {}
        if op.get("type") == "Convolution" and isinstance(main, dict) and main.get("sparseParameter"):
            names.append(op["name"])
    return names
