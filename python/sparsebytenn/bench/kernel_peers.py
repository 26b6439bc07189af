"""Engines the kernel benchmark times one 1x1 convolution layer on, each inside
its own worker process (sparsebytenn.bench.worker): thread pools of different
engines never live in one process while another engine is timed.

Runner(path, threads, options, inputs): `path` is the case directory holding
w.npy (OIHW), b.npy and x.npy (NCHW); `.time_runs(n)` -> per-run ms measured
inside the worker; `.infer()` -> output as NCHW float32 for the error check.

What each engine's time includes:
  sparsebytenn  sbnn_gsparse_run on MNN's NC8HW8 layout (input and output in
                that layout, output array and workspace allocated once and reused,
                as the MNN bridge does; includes the binding's call overhead).
  mnn-dense     Interpreter.runSession of a one-conv .mnn (NCHW input, MNN
                converts to its NC4HW4 layout -- pack 8 on the AVX2 wheel --, runs
                the Convolution, converts back to NCHW). Both layout conversions
                are included (see build_mnn_conv for why ONNX -> MNN).
  mnn-conv-op   the same session's Convolution op alone, timed by MNN's per-op
                callbacks (runSessionWithCallBackInfo): no layout conversions,
                as the converter's stock profile of a whole model times it (the
                speed table prices the plugin against this).
  mnn-sparse    the same model tagged by MNN's own converter
                (--detectSparseSpeedUp, SIMD_OC blocks of 4): MNN's sparse path.
  xnnpack       xnn_run_operator of xnn_create_convolution2d_nchw_f32 (NCHW in
                and out; 1x1 NCHW convolutions run XNNPACK's sparse SpMM kernels).
  wasm          the wasm32 SIMD128 build, single thread, timed inside
                `node --no-liftoff` (TurboFan) by plugin/kernels/wasm/bench_runner.mjs.
  wasm-relaxed  the relaxed-SIMD build (f32x4.relaxed_madd), the same way, with
                node's --experimental-wasm-relaxed-simd.
  chromium-wasm, chromium-wasm-relaxed
                the same two builds in headless Chromium (Debian's), loaded and
                run by the ES module plugin/web/sparsebytenn.mjs on buffers inside
                the module's memory (plan(): no copies), NC4HW4, one thread; the
                page (plugin/web/bench_page.mjs) times each run with
                performance.now() (cross-origin isolated: 5 us resolution).
"""
from __future__ import annotations

import atexit
import ctypes
import json
import shutil
import tempfile
import subprocess
import time
from pathlib import Path

import numpy as np
from sparsebytenn_converter.mnn_wheel import MNNSession, mnn_sparse_tag, mnnconvert

from .worker import EngineUnavailable

ROOT = Path(__file__).resolve().parents[3]


def _timed(fn, n):
    ms = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        ms.append((time.perf_counter_ns() - t0) / 1e6)
    return ms


def _load_case(path):
    d = Path(path)
    return np.load(d / "w.npy"), np.load(d / "b.npy"), np.load(d / "x.npy")


def to_nc(x, p):
    """NCHW -> MNN's CPU layout (ceil(C/P), N, H, W, P)."""
    n, c, h, w = x.shape
    blocks = -(-c // p)
    buf = np.zeros((blocks * p, n, h, w), np.float32)
    buf[:c] = x.transpose(1, 0, 2, 3)
    return np.ascontiguousarray(buf.reshape(blocks, p, n, h, w).transpose(0, 2, 3, 4, 1))


def from_nc(y, c):
    blocks, n, h, w, p = y.shape
    return y.transpose(0, 4, 1, 2, 3).reshape(blocks * p, n, h, w)[:c].transpose(1, 0, 2, 3)


class SbnnRunner:
    def __init__(self, path, threads, options, inputs):
        from sparsebytenn import _kernels as K
        w, b, x = _load_case(path)
        isa = options.get("isa", "")
        if isa and not K.isa_available(isa):
            raise EngineUnavailable(f"ISA {isa} not available here")
        self.pc = K.PackedConv(w, b, options.get("group_size", 8), isa=isa)
        self.o, self.threads, self.x = w.shape[0], threads, to_nc(x, 8)
        self.y = np.zeros((-(-self.o // 8),) + self.x.shape[1:4] + (8,), np.float32)
        self.info = {"variant": self.pc.info["variant"], "layout": "NC8HW8"}

    def _run(self):
        return self.pc.run(self.x, pack=8, threads=self.threads, out=self.y)

    def time_runs(self, n):
        return _timed(self._run, n)

    def infer(self):
        return from_nc(self._run(), self.o).copy()


def build_mnn_conv(path, w, b, hw, workdir):
    """One-conv .mnn (NCHW input -> Convolution -> NCHW output) with the weights
    inside the Convolution op, as in a converted network.

    MNN.expr's F.conv2d(F.const(...)) saves the weights as a separate input of
    the conv (MNN then re-packs them on every run: ~10x slower than a real
    model), so the layer is written as a one-node ONNX graph and converted by
    MNN's own converter, the way the zoo's MobileNet-V1 is built."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    o, i = w.shape[:2]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[1, 1])], "conv1x1",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, i, hw, hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, o, hw, hw])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    src = Path(workdir) / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(src))
    mnnconvert("-f", "ONNX", "--modelFile", src, "--MNNModel", path)


def is_tagged_sparse(path):
    """MNN's sparse metadata names its args; the key appears only in tagged models."""
    return b"sparseBlockOC" in Path(path).read_bytes()


def tag_sparse_with_mnn(path_dense, path_sparse):
    """MNN's own converter marks the conv for its sparse path (blocks of 4 output channels)."""
    mnn_sparse_tag(path_dense, path_sparse, oc_block=4)
    return is_tagged_sparse(path_sparse)


class MNNConvRunner:
    """Stock MNN 3.6.1 CPU backend on a one-conv model; options["sparse"] selects MNN's sparse path.
    Loaded, fed and read through the one stock-MNN runner (mnn_wheel.MNNSession); the timed
    unit is runSession alone, its status checked after the timed runs."""

    def __init__(self, path, threads, options, inputs):
        w, b, x = _load_case(path)
        d = Path(path)
        model = d / "mnn_dense.mnn"
        if not model.exists():
            build_mnn_conv(model, w, b, x.shape[2], d)
        tagged = False
        if options.get("sparse"):
            dense = model
            model = d / "mnn_sparse.mnn"
            if not model.exists():
                tag_sparse_with_mnn(dense, model)
            tagged = is_tagged_sparse(model)
            if not tagged:
                raise EngineUnavailable("MNN's converter did not tag the conv as sparse "
                                        "(it needs sparsity > 0.3 in blocks of 4)")
        self.mnn = MNNSession(model, threads=int(threads), backend="CPU")
        self.info = {"mnn_version": self.mnn.mnn_version, "tagged_sparse": tagged}
        self.mnn.set_inputs(x)
        self.shape = (1, w.shape[0], x.shape[2], x.shape[3])
        self.op_only = bool(options.get("op_only"))
        self._status = 0

    def _run(self):
        self._status = self._status or self.mnn.interp.runSession(self.mnn.session)

    def _conv_op_ms(self) -> float:
        """One run; the Convolution op's own time (its layout conversions are Raster ops)."""
        t = {}

        def begin(tensors, op):
            if op.getType() == "Convolution":
                t["start"] = time.perf_counter_ns()
            return True

        def end(tensors, op):
            if op.getType() == "Convolution":
                t["ms"] = (time.perf_counter_ns() - t["start"]) / 1e6
            return True

        self.mnn.run_with_callbacks(None, begin, end)
        if "ms" not in t:
            raise RuntimeError("MNN did not run a Convolution op in the one-conv model")
        return t["ms"]

    def time_runs(self, n):
        if self.op_only:
            return [self._conv_op_ms() for _ in range(n)]
        self._status = 0
        ms = _timed(self._run, n)
        self.mnn.check(self._status)      # a failed run is never reported as a time
        return ms

    def infer(self):
        self.mnn.invoke()
        return next(iter(self.mnn.outputs().values())).reshape(self.shape)


class XnnpackRunner:
    """XNNPACK (Debian libXNNPACK.so.0) NCHW 1x1 convolution = its sparse SpMM path."""

    def __init__(self, path, threads, options, inputs):
        try:
            xnn = ctypes.CDLL("libXNNPACK.so.0")
            ptp = ctypes.CDLL("libpthreadpool.so.0")
        except OSError as e:
            raise EngineUnavailable(f"libXNNPACK.so.0 / libpthreadpool.so.0 not found ({e}); "
                                    "apt-get install libxnnpack-dev libpthreadpool-dev")
        w, b, x = _load_case(path)
        o, i = w.shape[:2]
        self.w = np.ascontiguousarray(w.reshape(o, i))
        self.b = np.ascontiguousarray(b)
        self.x = np.ascontiguousarray(x)
        self.y = np.zeros((1, o) + x.shape[2:], np.float32)
        self.xnn, self.ptp = xnn, ptp
        if xnn.xnn_initialize(None) != 0:
            raise EngineUnavailable("xnn_initialize failed (CPU not supported?)")
        ptp.pthreadpool_create.restype = ctypes.c_void_p
        ptp.pthreadpool_create.argtypes = [ctypes.c_size_t]
        self.pool = ctypes.c_void_p(ptp.pthreadpool_create(threads)) if threads > 1 else ctypes.c_void_p()
        op = ctypes.c_void_p()
        u32, sz, fp = ctypes.c_uint32, ctypes.c_size_t, ctypes.c_void_p
        xnn.xnn_create_convolution2d_nchw_f32.argtypes = [u32] * 11 + [sz] * 4 + [fp, fp, ctypes.c_float,
                                                                                ctypes.c_float, u32, ctypes.c_void_p]
        st = xnn.xnn_create_convolution2d_nchw_f32(
            0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, i, o, i, o, self.w.ctypes.data, self.b.ctypes.data,
            float("-inf"), float("inf"), 0, ctypes.byref(op))
        if st != 0:
            raise RuntimeError(f"xnn_create_convolution2d_nchw_f32 failed with status {st}")
        self.op = op
        xnn.xnn_setup_convolution2d_nchw_f32.argtypes = [fp, sz, sz, sz, fp, fp, fp]
        st = xnn.xnn_setup_convolution2d_nchw_f32(op, 1, x.shape[2], x.shape[3], self.x.ctypes.data,
                                                  self.y.ctypes.data, self.pool)
        if st != 0:
            raise RuntimeError(f"xnn_setup_convolution2d_nchw_f32 failed with status {st}")
        xnn.xnn_run_operator.argtypes = [fp, fp]
        self.info = {"library": "libXNNPACK.so.0 (Debian)", "threads": threads}

    def _run(self):
        if self.xnn.xnn_run_operator(self.op, self.pool) != 0:
            raise RuntimeError("xnn_run_operator failed")

    def time_runs(self, n):
        return _timed(self._run, n)

    def infer(self):
        self._run()
        return self.y.copy()


WASM_BUILD = ROOT / "build" / "kernels-wasm32-clang19"
WASM_MODULE = WASM_BUILD / "plugin" / "kernels" / "sbnn_kernels_wasm.wasm"
WASM_RELAXED_MODULE = WASM_BUILD / "plugin" / "kernels" / "sbnn_kernels_wasm_relaxed.wasm"
NODE_RUNNER = ROOT / "plugin" / "kernels" / "wasm" / "bench_runner.mjs"
WASM_CLANG = "clang++-19"   # cmake/toolchains/wasm32-wasi.cmake


def build_wasm(relaxed: bool = False):
    """The wasm32-wasi reactor modules, built here (the bench, the tests and the ES
    module use this one recipe): SIMD128 only, or with the relaxed-SIMD variants."""
    if shutil.which(WASM_CLANG) is None:
        raise EngineUnavailable(f"{WASM_CLANG} (wasm32-wasi) not installed")
    if not (WASM_BUILD / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(WASM_BUILD), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                        f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'cmake/toolchains/wasm32-wasi.cmake'}",
                        "-DSBNN_BUILD_PYTHON=OFF", "-DSBNN_BUILD_MNN_BRIDGE=OFF"],
                       check=True, capture_output=True, text=True)
    subprocess.run(["cmake", "--build", str(WASM_BUILD), "--target", "sbnn_kernels_wasm",
                    "sbnn_kernels_wasm_relaxed", "-j2"], check=True, capture_output=True, text=True)
    return WASM_RELAXED_MODULE if relaxed else WASM_MODULE


class WasmNodeRunner:
    """The wasm32 kernels in node (TurboFan via --no-liftoff); node times the runs.
    options: wasm (the module), isa, relaxed (adds --experimental-wasm-relaxed-simd)."""

    def __init__(self, path, threads, options, inputs):
        node = shutil.which("node")
        if node is None:
            raise EngineUnavailable("node not installed")
        wasm = Path(options.get("wasm") or WASM_MODULE)
        if not wasm.exists():
            raise EngineUnavailable(f"{wasm} not built")
        w, b, x = _load_case(path)
        d = Path(path)
        for name, a in (("w", w), ("b", b), ("x", to_nc(x, 4))):
            np.ascontiguousarray(a, np.float32).tofile(d / f"{name}.f32")
        self.o, self.hw = w.shape[0], x.shape[2]
        flags = ["--no-liftoff"] + (["--experimental-wasm-relaxed-simd"] if options.get("relaxed") else [])
        self.proc = subprocess.Popen([node, *flags, "--no-warnings", str(NODE_RUNNER), str(wasm)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._ask(cmd="load", dir=str(d), o=int(w.shape[0]), i=int(w.shape[1]), hw=int(self.hw),
                              group=int(options.get("group_size", 8)), isa=options.get("isa", "wasmsimd"))
        version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        self.info["runtime"] = f"node {version} {' '.join(flags)}"
        self.dir = d

    def _ask(self, **msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("node runner exited")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"node runner: {reply['error']}")
        return reply

    def time_runs(self, n):
        return self._ask(cmd="time", n=int(n))["ms"]

    def infer(self):
        out = self.dir / "y.f32"
        self._ask(cmd="output", path=str(out))
        y = np.fromfile(out, np.float32).reshape(-(-self.o // 4), 1, self.hw, self.hw, 4)
        return from_nc(y, self.o)

    def __del__(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(5)
        except Exception:
            pass


WEB_DIR = ROOT / "plugin" / "web"
BENCH_HTML = b"""<!doctype html><meta charset="utf-8"><title>sparsebytenn kernel benchmark</title>
<script type="module">
  import { serve } from "/bench_page.mjs";
  serve(location.origin + "/").catch((e) =>
    fetch("/reply", { method: "POST", body: JSON.stringify({ error: "page: " + e }) }));
</script>"""


class _ChromiumSession:
    """One headless Chromium and its loopback server per worker process (every
    case of a lane runs in the same page); ended when the worker exits."""
    _current = None

    @classmethod
    def get(cls):
        if cls._current is None:
            cls._current = cls()
        return cls._current

    def __init__(self):
        from .browser import LoopbackServer, chromium_path, chromium_version, start_chromium

        if chromium_path() is None:
            raise EngineUnavailable("chromium not installed (scripts/setup.sh installs Debian's chromium)")
        for m in (WASM_MODULE, WASM_RELAXED_MODULE):
            if not m.exists():
                raise EngineUnavailable(f"{m} not built")
        self.server = LoopbackServer().__enter__()
        self.server.routes.update({"/bench.html": BENCH_HTML, "/bench_page.mjs": WEB_DIR / "bench_page.mjs",
                                   "/sparsebytenn.mjs": WEB_DIR / "sparsebytenn.mjs",
                                   "/simd.wasm": WASM_MODULE, "/relaxed.wasm": WASM_RELAXED_MODULE})
        self.profile = tempfile.mkdtemp(prefix="sbnn-chromium-")
        self.proc = start_chromium(self.server.base + "bench.html", self.profile)
        self.version = chromium_version()
        self.next_id = 0
        atexit.register(self.close)

    def close(self):
        from .browser import end_group

        try:
            self.server.ask({"cmd": "quit"}, timeout=5)
        except Exception:
            pass
        end_group(self.proc)
        self.server.__exit__(None, None, None)
        shutil.rmtree(self.profile, ignore_errors=True)


class ChromiumWasmRunner:
    """The wasm32 kernels in headless Chromium through the ES module (options: relaxed)."""

    def __init__(self, path, threads, options, inputs):
        self.s = _ChromiumSession.get()
        w, b, x = _load_case(path)
        self.id, self.s.next_id = self.s.next_id, self.s.next_id + 1
        for name, a in (("w", w), ("b", b), ("x", to_nc(x, 4))):
            self.s.server.routes[f"/case/{self.id}/{name}.f32"] = np.ascontiguousarray(a, np.float32).tobytes()
        self.o, self.hw = w.shape[0], x.shape[2]
        build = "relaxed" if options.get("relaxed") else "simd128"
        self.info = self.s.server.ask(dict(cmd="load", id=self.id, o=int(w.shape[0]), i=int(w.shape[1]),
                                           hw=int(self.hw), group=int(options.get("group_size", 8)), build=build),
                                      timeout=120)
        if not self.info.get("isolated"):
            raise RuntimeError("the benchmark page is not cross-origin isolated (coarse performance.now())")
        self.info["runtime"] = f"{self.s.version} --headless"

    def time_runs(self, n):
        return self.s.server.ask(dict(cmd="time", id=self.id, n=int(n)))["ms"]

    def infer(self):
        self.s.server.ask(dict(cmd="output", id=self.id))
        y = np.frombuffer(self.s.server.posted.pop(f"/out/{self.id}"), np.float32)
        return from_nc(y.reshape(-(-self.o // 4), 1, self.hw, self.hw, 4), self.o)


RUNNERS = {
    "sparsebytenn": SbnnRunner,
    "mnn-dense": MNNConvRunner,
    "mnn-conv-op": MNNConvRunner,
    "mnn-sparse": MNNConvRunner,
    "xnnpack": XnnpackRunner,
    "wasm": WasmNodeRunner,
    "wasm-relaxed": WasmNodeRunner,
    "chromium-wasm": ChromiumWasmRunner,
    "chromium-wasm-relaxed": ChromiumWasmRunner,
}


# Untimed runs at the start of every batch, for this long. Between two batches of one
# lane the others run, and on this project's 2-vCPU VM a lane of 1-thread engines leaves
# the second vCPU idle long enough to be parked: a 2-thread kernel's first runs after
# that waited for it (the 112x112 layer at 90 %: 0.39 ms per run at 2 threads, slower
# than 1 thread, in batches of 5 among 1-thread lanes; 0.13-0.18 ms in batches of 40 or
# among 2-thread lanes only, 2026-12-07 23:08 UTC).
SETTLE_S = 0.005


class MultiCaseRunner:
    """One engine, one thread count, many cases (options["dirs"]) in one worker."""

    def __init__(self, path, threads, options, inputs):
        cls = RUNNERS[options["engine"]]
        self.runners = [cls(d, threads, options, inputs) for d in options["dirs"]]
        self.info = {}

    def infer(self, k):
        r = self.runners[k]
        return np.asarray(r.infer(), np.float32), dict(getattr(r, "info", {}))

    def time_runs(self, k, n):
        """n timed runs of case k, after untimed ones for SETTLE_S (at least one)."""
        until = time.monotonic() + SETTLE_S
        self.runners[k].time_runs(1)
        while time.monotonic() < until:
            self.runners[k].time_runs(1)
        return self.runners[k].time_runs(n)
