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


def same_pads(size, k, s, d):
    """ONNX SAME_UPPER pads of one axis: (before, after), the odd pixel after."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def numpy_conv(x, w, b, stride, dilation, pads, act=None):
    """float64 conv of x (N, C, H, W): w (O, C, kh, kw) dense, or (C, 1, kh, kw) depthwise;
    pads (top, left, bottom, right) or "SAME_UPPER"; act None, "relu" or "relu6"."""
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = w.shape[2:]
    if pads == "SAME_UPPER":
        (t, bt), (lf, rt) = same_pads(x.shape[2], kh, sh, dh), same_pads(x.shape[3], kw, sw, dw)
        pads = (t, lf, bt, rt)
    top, left, bottom, right = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (xp.shape[2] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[3] - (kw - 1) * dw - 1) // sw + 1
    depthwise = w.shape[1] == 1 and x.shape[1] > 1
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            if depthwise:
                y += patch * w[None, :, 0, i, j, None, None]
            else:
                y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j].astype(np.float64))
    y += b[None, :, None, None]
    if act == "relu":
        y = np.maximum(y, 0)
    elif act == "relu6":
        y = np.clip(y, 0, 6)
    return y


def conv_chain(folder: Path, stem: str, layers: list, input_shape) -> tuple[Path, callable]:
    """A chain of ONNX Conv nodes converted by MNN's own converter: (.mnn, float64 numpy
    forward(x) for any input size). layers: (name, w, b, stride, dilation, pads (top,
    left, bottom, right) or "SAME_UPPER", activation None / "relu" / "relu6"); w of
    shape (C, 1, kh, kw) for a depthwise conv of C channels, else (O, I, kh, kw)."""
    from onnx import helper, numpy_helper

    nodes, inits = [], []
    cur, channels = "input", input_shape[1]
    for name, w, b, (sh, sw), (dh, dw), pads, act in layers:
        group = channels if w.shape[1] == 1 and channels > 1 else 1
        attrs = dict(kernel_shape=list(w.shape[2:]), strides=[sh, sw], dilations=[dh, dw], group=group)
        if pads == "SAME_UPPER":
            attrs["auto_pad"] = "SAME_UPPER"
        else:
            attrs["pads"] = list(pads)
        inits += [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]
        nodes.append(helper.make_node("Conv", [cur, f"{name}_w", f"{name}_b"], [f"{name}_out"], name=name, **attrs))
        cur = models.activation(nodes, inits, f"{name}_out", name, act)
        channels = w.shape[0]
    onnx_path, path = folder / f"{stem}.onnx", folder / f"{stem}.mnn"
    models.save_onnx(nodes, inits, cur, input_shape, onnx_path)
    models.mnnconvert("-f", "ONNX", "--modelFile", onnx_path, "--MNNModel", path)

    def forward(x):
        y = x
        for _, w, b, stride, dilation, pads, act in layers:
            y = numpy_conv(y, w, b, stride, dilation, pads, act)
        return y

    return path, forward


def module_forward(mnn, path: Path, x: np.ndarray, backend, threads: int) -> np.ndarray:
    """One inference of `path` through MNN's Module API on `backend` (an MNN forward type
    or the bridge's), NCHW in and out."""
    rt = mnn.nn.create_runtime_manager(({"backend": backend, "numThread": threads},))
    module = mnn.nn.load_module_from_file(str(path), ["input"], ["output"], runtime_manager=rt)
    y = module.forward(mnn.expr.const(x, list(x.shape), mnn.expr.NCHW))
    return np.array(mnn.expr.convert(y, mnn.expr.NCHW).read(), dtype=np.float32)


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


TRIALS = 6   # runs after a resize that time ours against MNN's own execution (measured_execution.h)


def check_auto_margins(bridge, monkeypatch, path, x, forward, kind: str, var: str, count: int, threads: int):
    """Under auto each op of `kind` runs ours and MNN's own execution in its first TRIALS
    runs and keeps the faster; the margin (`var`_MARGIN) forces each branch (a huge one
    leaves all `count` ops to MNN with a note each, a tiny one keeps them all), with AVX2
    and AVX-512, and the outputs stay stock MNN's (within TOL plus MNN's own error vs
    `forward`) throughout."""
    from sparsebytenn import Session

    monkeypatch.setenv(var, "auto")
    stock = Session(path, plugin=False, threads=threads).run(x)["output"]
    stock_err = rel_err(stock, forward(x))     # MNN's Winograd convs are ~1e-4 off float64
    for isa in ("avx2", "avx512"):
        monkeypatch.setenv("SPARSEBYTENN_ISA", isa)
        for margin, after in (("1e9", 0), ("1e-9", count)):
            monkeypatch.setenv(f"{var}_MARGIN", margin)
            sess = Session(path, plugin=True, threads=threads)
            taken = []
            for _ in range(TRIALS + 2):
                before = bridge.thread_dense_runs(kind)
                assert rel_err(sess.run(x)["output"], stock) <= TOL + stock_err
                taken.append(bridge.thread_dense_runs(kind) - before)
            assert taken == [count] * TRIALS + [after] * 2, (isa, margin, taken)
            notes = sess.dense_fallbacks(kind)
            assert len(notes) == count - after and all(f"{var}_MARGIN=1e+09" in n for n in notes), notes


def check_module_api(bridge, mnn, monkeypatch, path, x, forward, kind: str, var: str, count: int):
    """With `var`=on, MNN's Module API (not only sessions) runs all `count` ops of `kind` in
    the plugin, 1 and 2 threads, within TOL of stock MNN (plus MNN's own error vs float64)."""
    monkeypatch.setenv(var, "on")
    for threads in (1, 2):
        ref = module_forward(mnn, path, x, "CPU", threads)
        before = bridge.thread_dense_runs(kind)
        out = module_forward(mnn, path, x, bridge.BRIDGE_TYPE, threads)
        assert bridge.thread_dense_runs(kind) - before == count, threads
        exact = forward(x)
        assert rel_err(out, exact) <= 1e-5 and rel_err(out, ref) <= TOL + rel_err(ref, exact), threads


def check_forced_off(monkeypatch, path, x, kind: str, var: str):
    """`var`=off: the plugin creates no op of `kind` and gives stock MNN's outputs bit for bit."""
    from sparsebytenn import Session

    monkeypatch.setenv(var, "off")
    sess = Session(path, plugin=True)
    out = sess.run(x)["output"]
    st = sess.stats()
    assert st["plugin_ops"]["sparse_conv"] == st["plugin_ops"][kind] == 0, st
    assert st["plugin_ops_created"][kind] == 0, st
    np.testing.assert_array_equal(out, Session(path, plugin=False).run(x)["output"])


def check_auto_off_without_simd(monkeypatch, path, x, kind: str, var: str):
    """auto with the scalar ref kernels: MNN keeps every op of `kind`, none is even tried
    (ARM and WASM builds have no SIMD kernels for the dense takeovers either)."""
    from sparsebytenn import Session

    monkeypatch.setenv(var, "auto")
    monkeypatch.setenv("SPARSEBYTENN_ISA", "ref")
    sess = Session(path, plugin=True)
    sess.run(x)
    st = sess.stats()
    assert st["plugin_ops"][kind] == 0 and st["plugin_ops_created"][kind] == 0, st
