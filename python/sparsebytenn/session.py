"""`Session`: run an .mnn model in MNN, with or without the SparseByteNN bridge.

    sess = sparsebytenn.Session("model.sparse.mnn", plugin=True, threads=2)
    outputs = sess.run(x)              # or sess.run({"input": x}); -> {name: ndarray}
    sess.stats()                       # {"plugin_convs": 13, "ops": {...}, ...}

It is a thin layer over MNN's Interpreter API: the same model, the same MNN CPU
backend for every op, the tagged convolutions run by the bridge when plugin=True.
"""
from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np

from . import plugin as _plugin
from .errors import SparseByteNNError
from sparsebytenn_converter.mnn_wheel import import_mnn, quiet


# MNN's ErrorCode values a session can return (the names MNN uses), for messages.
MNN_STATUS = {1: "out of memory", 2: "not supported", 3: "compute size error", 4: "no execution",
              5: "invalid value", 10: "input data error", 11: "stopped by a callback",
              20: "tensor not supported", 21: "tensor needs divide"}


# One MNN run at a time in this process. A run with per-op callbacks (stats, profile)
# hands the GIL back to Python mid-run while its session holds MNN's thread pool; a
# second thread entering MNN then waits for that pool while holding the GIL, and
# neither can go on (seen as a hang in tests/bridge/test_bridge_x86.py's two-thread
# test, about 1 run in 4). pymnn keeps the GIL during a plain run anyway, so this
# costs no parallelism.
_MNN_RUNS = threading.Lock()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


class Session:
    """A model loaded into stock MNN (through the bridge with plugin=True).

    isolate=True first loads the model and runs one inference on random inputs in a
    child process (what `sparsebytenn run`, `convert` and `eval` do with every file):
    the few well-formed files on which MNN 3.6.1 itself crashes then raise
    SparseByteNNError instead of killing this process. It costs one load and run."""

    def __init__(self, path, plugin: bool = True, threads: int = 1, precision: str | None = None,
                 isolate: bool = False):
        path = Path(path)
        if not path.is_file():
            raise SparseByteNNError(f"{path}: no such model file")
        if int(threads) < 1:
            raise SparseByteNNError(f"threads must be >= 1, not {threads}")
        # Validate before MNN sees the file: stock MNN trusts it and can crash the
        # process on a corrupted one; the reader turns that into a clean error.
        from sparsebytenn_converter import read_model

        read_model(path)
        if isolate:
            from .preflight import check

            check(path, plugin, int(threads))
        self.path = path
        self.threads = int(threads)
        self._mnn = import_mnn()
        self.backend = _plugin.enable() if plugin else _plugin.MNN_FORWARD_CPU
        self.plugin = self.backend == _plugin.BRIDGE_TYPE
        config = {"backend": self.backend, "numThread": self.threads}
        if precision is not None:
            config["precision"] = precision
        notes_before = _plugin.thread_note_count()
        created_before = _plugin.thread_convs_created()
        with _MNN_RUNS, quiet():
            try:
                self._interp = self._mnn.Interpreter(str(path))
            except Exception as exc:  # pymnn raises a plain Exception when MNN's own verifier refuses
                raise SparseByteNNError(f"{path}: MNN refused to load the file ({_first_line(exc)})") from None
            try:
                self._session = self._interp.createSession(config)
            except Exception as exc:  # pymnn raises a plain Exception when MNN cannot schedule the graph
                raise SparseByteNNError(f"{path}: MNN could not create a session for this model "
                                        f"({_first_line(exc)})") from None
        if self._session is None:
            raise SparseByteNNError(f"{path}: MNN could not create a session for this model")
        self.plugin_convs_created = _plugin.thread_convs_created() - created_before
        self._fallbacks = _plugin.thread_notes(notes_before)
        try:
            inputs = self._interp.getSessionInputAll(self._session)
            self.input_names = list(inputs)
            self.input_shapes = {name: list(t.getShape()) for name, t in inputs.items()}   # as the file sets them
            self.output_names = list(self._interp.getSessionOutputAll(self._session).keys())
        except (SystemError, UnicodeDecodeError):   # pymnn decodes tensor names as strict UTF-8
            raise SparseByteNNError(f"{path}: the model's input or output names are not UTF-8, which MNN's "
                                    "Python API cannot read") from None
        self.mnn_version = self._mnn.version()
        self._lock = threading.Lock()  # one MNN session runs one inference at a time
        self._last_plugin_convs = 0
        self._last_plugin_threads = 0
        self._ops: dict | None = None

    # ------------------------------------------------------------------ #
    def _set_inputs(self, inputs) -> None:
        mnn = self._mnn
        if not isinstance(inputs, dict):
            if len(self.input_names) != 1:
                raise SparseByteNNError(f"{self.path}: the model has inputs {self.input_names}; pass a dict")
            inputs = {self.input_names[0]: inputs}
        unknown = set(inputs) - set(self.input_names)
        if unknown:
            raise SparseByteNNError(f"{self.path}: no input named {sorted(unknown)}; inputs are {self.input_names}")
        resized = False
        arrays = {}
        for name, value in inputs.items():
            arr = np.ascontiguousarray(value, dtype=np.float32)
            tensor = self._interp.getSessionInput(self._session, name)
            if tuple(tensor.getShape()) != arr.shape:
                self._interp.resizeTensor(tensor, tuple(arr.shape))
                resized = True
            arrays[name] = arr
        if resized:
            notes_before = _plugin.thread_note_count()
            with _MNN_RUNS, quiet():
                self._interp.resizeSession(self._session)
            self._fallbacks += _plugin.thread_notes(notes_before)   # a resize can make convs fall back
        for name, arr in arrays.items():
            tensor = self._interp.getSessionInput(self._session, name)
            self._require_memory(tensor)
            tensor.copyFrom(mnn.Tensor(list(arr.shape), mnn.Halide_Type_Float, arr, mnn.Tensor_DimensionType_Caffe))

    def _require_memory(self, tensor) -> None:
        """When MNN cannot fit the graph's shapes together it leaves the session unallocated,
        and copying an input into it crashes the process (MNN does not check): refuse instead."""
        try:
            tensor.getHost()
        except ValueError:   # pymnn: "PyCapsule_New called with null pointer"
            shapes = ", ".join(f"{n} {tuple(self._interp.getSessionInput(self._session, n).getShape())}"
                               for n in self.input_names)
            raise SparseByteNNError(f"{self.path}: MNN could not allocate the model for input {shapes}: the "
                                    "shapes of its layers do not fit together (the file is corrupted, or the model "
                                    "does not take inputs of that shape)") from None

    def _check(self, status) -> None:
        """MNN returns a status and keeps the previous outputs on failure: never hand those back."""
        status = int(status or 0)
        if status:
            shapes = ", ".join(f"{n} {tuple(self._interp.getSessionInput(self._session, n).getShape())}"
                               for n in self.input_names)
            raise SparseByteNNError(
                f"{self.path}: MNN could not run the model with input {shapes} (status {status}: "
                f"{MNN_STATUS.get(status, 'unknown')}); the model may fix its batch or size -- give inputs of "
                f"the shape it was exported with")

    def _get_outputs(self) -> dict[str, np.ndarray]:
        mnn = self._mnn
        out = {}
        for name, tensor in self._interp.getSessionOutputAll(self._session).items():
            shape = list(tensor.getShape())
            host = mnn.Tensor(shape, mnn.Halide_Type_Float, np.zeros(shape, np.float32),
                              mnn.Tensor_DimensionType_Caffe)
            tensor.copyToHostTensor(host)
            out[name] = np.array(host.getNumpyData(), dtype=np.float32, copy=True).reshape(shape)
        return out

    def run(self, inputs) -> dict[str, np.ndarray]:
        """One inference; inputs: an array (single-input models) or {name: array}."""
        with self._lock:
            self._set_inputs(inputs)
            before, before_threads = _plugin.thread_conv_runs(), _plugin.thread_conv_threads()
            with _MNN_RUNS, quiet():
                self._check(self._interp.runSession(self._session))
            self._last_plugin_convs = _plugin.thread_conv_runs() - before
            self._last_plugin_threads = _plugin.thread_conv_threads() - before_threads
            return self._get_outputs()

    def run_timed(self, inputs, repeats: int = 10, warmup: int = 2) -> list[float]:
        """Milliseconds per runSession call (inputs set once)."""
        import time

        with self._lock:
            self._set_inputs(inputs)
            times, status = [], 0
            with _MNN_RUNS, quiet():
                for _ in range(warmup):
                    status = status or self._interp.runSession(self._session)
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    status = status or self._interp.runSession(self._session)
                    times.append((time.perf_counter() - t0) * 1e3)
            self._check(status)
            return times

    def profile(self, inputs, runs: int = 5) -> dict[str, float]:
        """MNN's per-op timing of this session: op name -> median ms over `runs`
        inferences (the tagged convolutions are timed inside the bridge like any op)."""
        from sparsebytenn_converter.op_profile import profile_ops

        with self._lock:
            self._set_inputs(inputs)
            with _MNN_RUNS:
                return profile_ops(self._interp, self._session, runs)

    def op_table(self, inputs) -> dict[str, dict]:
        """One run; op name -> {"type": MNN's op type, "plugin": True when the bridge
        executed it (its per-thread conv count rose while the op ran)}."""
        from sparsebytenn_converter.op_profile import op_table

        with self._lock:
            self._set_inputs(inputs)
            with _MNN_RUNS:
                return op_table(self._interp, self._session, _plugin.thread_conv_runs if self.plugin else None)

    @property
    def fallbacks(self) -> list[str]:
        """This session's notes from the bridge (convs that fell back to MNN, and why),
        made while creating it and at every resize since; distinct, in order."""
        return list(dict.fromkeys(self._fallbacks))

    def stats(self) -> dict:
        """plugin_convs: convs the bridge ran in the last run(); plugin_threads: the
        thread count the kernels were given in that run (per conv, from numThread);
        ops: op type -> count executed per inference; fallbacks: the bridge's notes."""
        with self._lock:
            if self._ops is None:
                counts = Counter()

                def before(tensors, info):
                    counts[info.getType()] += 1
                    return True

                def after(tensors, info):
                    return True

                with _MNN_RUNS, quiet():
                    self._check(self._interp.runSessionWithCallBackInfo(self._session, before, after))
                self._ops = dict(sorted(counts.items()))
            per_conv = self._last_plugin_threads / self._last_plugin_convs if self._last_plugin_convs else None
            return {"plugin_convs": self._last_plugin_convs, "plugin_convs_created": self.plugin_convs_created,
                    "plugin_threads": per_conv,
                    "ops": self._ops, "backend": "sparsebytenn" if self.plugin else "mnn-cpu",
                    "backend_type": self._interp.getSessionInfo(self._session, 2),
                    "threads": self.threads, "fallbacks": self.fallbacks}
