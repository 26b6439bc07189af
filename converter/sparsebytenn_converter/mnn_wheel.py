"""Stock MNN's Python wheel, quietly: the one place that imports MNN, calls its
converter and runs a model (`MNNSession`: load an .mnn, feed its inputs, run it,
read its outputs, check every status MNN returns).

MNN writes from C++ straight to file descriptors 1 and 2 (a banner on import,
"The device supports: ..."; shape errors while running; the converter's log), which
would corrupt a caller's output (e.g. `--json` on stdout). Whoever talks to the
wheel does it inside quiet().

`sparsebytenn.Session` is an MNNSession that validates the file first and runs the
tagged convolutions through the SparseByteNN bridge; everything else that runs a
model in stock MNN (the bridge's probe, the zoo, the converter's tools and stock
profile, the tests' stock-MNN reference) uses MNNSession directly. `MNNModule` is the
same door through MNN's Module API, for batches and for tensors inside the graph
(calibration, the accuracy protocols)."""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import ModelError


@contextlib.contextmanager
def quiet(stderr: bool = False):
    """Send fd 1 (and fd 2 with stderr=True) to /dev/null, Python's sys.stdout too."""
    fds = (1, 2) if stderr else (1,)
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = [os.dup(fd) for fd in fds]
        except (OSError, ValueError):      # no real descriptors (an embedding host): nothing to hide
            yield
            return
        try:
            with open(os.devnull, "w") as null:
                for fd in fds:
                    os.dup2(null.fileno(), fd)
                yield
        finally:
            for fd, keep in zip(fds, saved):
                os.dup2(keep, fd)
                os.close(keep)


@contextlib.contextmanager
def captured() -> Iterator[list[str]]:
    """Keep what native code writes to fd 1 and 2 meanwhile: the one string in the
    yielded list, once the block ends (for error messages that quote MNN)."""
    out: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            out.append(tmp.read().decode(errors="replace"))


def import_mnn():
    """The MNN module, imported without its banner."""
    if "MNN" not in sys.modules:
        with quiet():
            import MNN  # noqa: F401  (imported for sys.modules)
    return sys.modules["MNN"]


def mnnconvert(*args) -> tuple[bool, str]:
    """MNN's converter in-process (`_tools.mnnconvert`, never the console script, which
    pip-installs packages and sends telemetry): (whether it says it succeeded, its
    log). It can say so and write nothing: callers also check the file."""
    import_mnn()
    with quiet(stderr=True):
        import _tools  # prints the same banner as MNN on import
    with captured() as log:
        rc = _tools.mnnconvert(["mnnconvert", *map(str, args)])
    # True on success (older builds: 0 or None).
    return rc is True or (rc is not False and rc in (None, 0)), log[0]


def simd_oc_config(oc_block: int) -> dict:
    """MNN's compression config that marks convs for its own sparse path, in blocks
    of `oc_block` output channels (what `--detectSparseSpeedUp` reads)."""
    return {"version": "0.0.0", "algo": [{"type": "PRUNE", "prune_params": {
        "type": "SIMD_OC", "simd_oc_pruner_params": {"oc_blocks": [int(oc_block)]}}}]}


def mnn_sparse_tag(src, dst, oc_block: int = 4) -> tuple[bool, str]:
    """An .mnn re-written by MNN's converter with its own sparse metadata on the convs
    whose zeros it finds worth it (the tagging pass only reads MNN input)."""
    import json

    with tempfile.TemporaryDirectory(prefix="sbnn-mnn-tag-") as tmp:
        cfg = os.path.join(tmp, "simd_oc.json")
        with open(cfg, "w") as f:
            json.dump(simd_oc_config(oc_block), f)
        return mnnconvert("-f", "MNN", "--modelFile", src, "--MNNModel", dst, "--detectSparseSpeedUp",
                          "--compressionParamsFile", cfg)


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
RUN_LOCK = threading.Lock()

# The id of Interpreter::HintMode WINOGRAD_MEMORY_LEVEL (setSessionHint's first
# argument). Its value 0 keeps 3x3 convs off the Winograd transforms, whose packed
# weights can take several times the file's own (MNN's default level: 3).
WINOGRAD_MEMORY_LEVEL = 3


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


class MNNSession:
    """An .mnn loaded into stock MNN (Interpreter + one session), quietly.

        m = MNNSession("model.mnn", threads=1)
        outputs = m.run(x)        # or m.run({"input": x}) -> {output name: ndarray}

    Every failure MNN reports raises self.Error naming the file: a file MNN refuses
    to load, a graph it cannot schedule or allocate, and every non-zero status of a
    run (MNN keeps the previous outputs when a run fails; they are never handed
    back). An input of another shape resizes the session first.

    backend/precision go into MNN's session config as given (None: MNN's default,
    the CPU backend). set_inputs / invoke / outputs are the steps of run(), for
    subclasses; they expect the caller to hold `self.lock`."""

    Error = ModelError   # what every failure raises (sparsebytenn.Session: SparseByteNNError)

    def __init__(self, path, threads: int = 1, backend=None, precision: str | None = None,
                 hints: dict[int, int] | None = None):
        path = Path(path)
        if not path.is_file():
            raise self.Error(f"{path}: no such model file")
        if int(threads) < 1:
            raise self.Error(f"threads must be >= 1, not {threads}")
        self.path = path
        self.threads = int(threads)
        self.mnn = import_mnn()
        config = {"numThread": self.threads}
        if backend is not None:
            config["backend"] = backend
        if precision is not None:
            config["precision"] = precision
        self.lock = threading.Lock()  # one MNN session runs one inference at a time
        with RUN_LOCK, quiet():
            try:
                self.interp = self.mnn.Interpreter(str(path))
            except Exception as exc:  # pymnn raises a plain Exception when MNN's own verifier refuses
                raise self.Error(f"{path}: MNN refused to load the file ({_first_line(exc)})") from None
            for mode, value in (hints or {}).items():   # (pymnn returns nothing to check)
                self.interp.setSessionHint(int(mode), int(value))
            try:
                self.session = self.interp.createSession(config)
            except Exception as exc:  # pymnn raises a plain Exception when MNN cannot schedule the graph
                raise self.Error(f"{path}: MNN could not create a session for this model "
                                 f"({_first_line(exc)})") from None
        if self.session is None:
            raise self.Error(f"{path}: MNN could not create a session for this model")
        try:
            inputs = self.interp.getSessionInputAll(self.session)
            self.input_names = list(inputs)
            self.input_shapes = {name: list(t.getShape()) for name, t in inputs.items()}   # as the file sets them
            self.output_names = list(self.interp.getSessionOutputAll(self.session).keys())
        except (SystemError, UnicodeDecodeError):   # pymnn decodes tensor names as strict UTF-8
            raise self.Error(f"{path}: the model's input or output names are not UTF-8, which MNN's "
                             "Python API cannot read") from None
        self.mnn_version = self.mnn.version()

    # ------------------------------------------------------------------ #
    def input_shape(self, name: str) -> tuple[int, ...]:
        """The input's current shape in the session (as the file sets it until a resize)."""
        return tuple(self.interp.getSessionInput(self.session, name).getShape())

    def set_inputs(self, inputs) -> None:
        """Copy inputs (an array for a one-input model, or {name: array}) into the session,
        resizing it first when a shape differs."""
        mnn = self.mnn
        if not isinstance(inputs, dict):
            if len(self.input_names) != 1:
                raise self.Error(f"{self.path}: the model has inputs {self.input_names}; pass a dict")
            inputs = {self.input_names[0]: inputs}
        unknown = set(inputs) - set(self.input_names)
        if unknown:
            raise self.Error(f"{self.path}: no input named {sorted(unknown)}; inputs are {self.input_names}")
        resized = False
        arrays = {}
        for name, value in inputs.items():
            arr = np.ascontiguousarray(value, dtype=np.float32)
            tensor = self.interp.getSessionInput(self.session, name)
            if tuple(tensor.getShape()) != arr.shape:
                self.interp.resizeTensor(tensor, tuple(arr.shape))
                resized = True
            arrays[name] = arr
        if resized:
            self.resize()
        for name, arr in arrays.items():
            tensor = self.interp.getSessionInput(self.session, name)
            self._require_memory(tensor)
            tensor.copyFrom(mnn.Tensor(list(arr.shape), mnn.Halide_Type_Float, arr, mnn.Tensor_DimensionType_Caffe))

    def resize(self) -> None:
        """MNN's resizeSession after an input changed shape."""
        with RUN_LOCK, quiet():
            ok = self.interp.resizeSession(self.session)
        if ok is False:
            raise self.Error(f"{self.path}: MNN could not resize the model for input {self._shapes()}")

    def _shapes(self) -> str:
        return ", ".join(f"{n} {self.input_shape(n)}" for n in self.input_names)

    def _require_memory(self, tensor) -> None:
        """When MNN cannot fit the graph's shapes together it leaves the session unallocated,
        and copying an input into it crashes the process (MNN does not check): refuse instead."""
        try:
            tensor.getHost()
        except ValueError:   # pymnn: "PyCapsule_New called with null pointer"
            raise self.Error(f"{self.path}: MNN could not allocate the model for input {self._shapes()}: the "
                             "shapes of its layers do not fit together (the file is corrupted, or the model "
                             "does not take inputs of that shape)") from None

    def check(self, status) -> None:
        """MNN returns a status and keeps the previous outputs on failure: never hand those back."""
        status = int(status or 0)
        if status:
            raise self.Error(
                f"{self.path}: MNN could not run the model with input {self._shapes()} (status {status}: "
                f"{MNN_STATUS.get(status, 'unknown')}); the model may fix its batch or size -- give inputs of "
                f"the shape it was exported with")

    def invoke(self) -> None:
        """One runSession on the inputs already set; its status checked."""
        with RUN_LOCK, quiet():
            self.check(self.interp.runSession(self.session))

    def outputs(self) -> dict[str, np.ndarray]:
        """Every output of the last run, copied out to numpy: {name: array}."""
        return {name: self.to_numpy(tensor) for name, tensor in self.interp.getSessionOutputAll(self.session).items()}

    def to_numpy(self, tensor) -> np.ndarray:
        """A copy of a session tensor, NCHW float32."""
        mnn = self.mnn
        shape = list(tensor.getShape())
        host = mnn.Tensor(shape, mnn.Halide_Type_Float, np.zeros(shape, np.float32), mnn.Tensor_DimensionType_Caffe)
        if tensor.copyToHostTensor(host) is False:
            raise self.Error(f"{self.path}: MNN could not copy out a tensor of shape {shape}")
        return np.array(host.getNumpyData(), dtype=np.float32, copy=True).reshape(shape)

    # ------------------------------------------------------------------ #
    def run(self, inputs) -> dict[str, np.ndarray]:
        """One inference; inputs: an array (one-input models) or {name: array}."""
        with self.lock:
            self.set_inputs(inputs)
            self.invoke()
            return self.outputs()

    def run_single(self, inputs) -> np.ndarray:
        """One inference of a one-output model: that output (other models are refused)."""
        if len(self.output_names) != 1:
            raise self.Error(f"{self.path}: expected one output, the model has {self.output_names}")
        return self.run(inputs)[self.output_names[0]]

    def run_timed(self, inputs, repeats: int = 10, warmup: int = 2) -> list[float]:
        """Milliseconds per runSession call (inputs set once); every status checked."""
        import time

        with self.lock:
            self.set_inputs(inputs)
            times, status = [], 0
            with RUN_LOCK, quiet():
                for _ in range(warmup):
                    status = status or self.interp.runSession(self.session)
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    status = status or self.interp.runSession(self.session)
                    times.append((time.perf_counter() - t0) * 1e3)
            self.check(status)
            return times

    def run_with_callbacks(self, inputs, before, after) -> None:
        """One inference with MNN's per-op callbacks (runSessionWithCallBackInfo);
        inputs None: those already set."""
        with self.lock:
            if inputs is not None:
                self.set_inputs(inputs)
            with RUN_LOCK, quiet():
                self.check(self.interp.runSessionWithCallBackInfo(self.session, before, after))

    def run_tapping(self, inputs, ops) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One inference that also copies out the first output of each op named in `ops` while
        it runs (MNN reuses an inner tensor's memory once its readers are done, so nothing but
        the copies is kept): (outputs as run() gives them, {op name: array})."""
        want, taps, failed = set(ops), {}, []

        def before(tensors, op):
            return True

        def after(tensors, op):
            name = op.getName()
            if name in want:
                try:
                    taps[name] = self.to_numpy(tensors[0])
                except self.Error as exc:   # raised after the run: an exception must not cross MNN
                    failed.append(exc)
            return True

        with self.lock:
            self.set_inputs(inputs)
            with RUN_LOCK, quiet():
                self.check(self.interp.runSessionWithCallBackInfo(self.session, before, after))
            if failed:
                raise failed[0]
            missing = sorted(want - set(taps))
            if missing:
                raise self.Error(f"{self.path}: MNN ran no op named {missing[0]!r}")
            return self.outputs(), taps

    def memory_mb(self) -> float:
        """MNN's own account of the session's memory (getSessionInfo MEMORY), MB."""
        return float(self.interp.getSessionInfo(self.session, 0))


class MNNModule:
    """An .mnn through MNN's Module API, computing named tensors (outputs or any tensor
    inside the graph) for a batch of NCHW inputs, quietly:

        m = MNNModule("model.mnn", ["input"], ["conv3", "logits"])
        conv3, logits = m.forward(x)          # NCHW float32 arrays, batch first

    A model MNN will not load with those names, and every failed forward (MNN raises a
    plain exception, e.g. on a batch the graph fixes in a Reshape), raise self.Error
    naming the file. threads None: MNN's default runtime (what calibration has always
    used: conversions stay byte-identical); else a CPU runtime with that many threads."""

    Error = ModelError

    def __init__(self, path, inputs, outputs, threads: int | None = None, where: str | None = None):
        self.path = Path(path)
        self.where = where or str(path)
        self.outputs = list(outputs)
        self.mnn = import_mnn()
        nn = self.mnn.nn
        kwargs = {}
        why = "it returned nothing"
        with RUN_LOCK, quiet():
            if threads is not None:
                kwargs["runtime_manager"] = nn.create_runtime_manager(
                    ({"backend": "CPU", "numThread": int(threads)},))
            try:
                self.module = nn.load_module_from_file(str(path), list(inputs), self.outputs, **kwargs)
            except Exception as exc:   # pymnn: SystemError for a name the graph does not have
                self.module, why = None, _first_line(exc)
        if self.module is None:
            raise self.Error(f"{self.where}: stock MNN could not load the model with inputs {list(inputs)} and "
                             f"outputs {self.outputs} ({why})")

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        F = self.mnn.expr
        x = np.ascontiguousarray(x, np.float32)
        try:
            with quiet():   # a failed forward makes MNN print its shape error
                outs = self.module.forward([F.const(x, list(x.shape), F.NCHW)])
                if not isinstance(outs, (list, tuple)):
                    outs = [outs]
                arrays = [np.array((v if v.data_format == F.NCHW else F.convert(v, F.NCHW)).read(),
                                   dtype=np.float32, copy=True) for v in outs]
        except Exception as exc:  # pymnn raises plain exceptions on some shape mismatches ...
            arrays, why = None, _first_line(exc)
        if arrays is not None and len(arrays) != len(self.outputs):   # ... and returns nothing on others
            arrays, why = None, f"it returned {len(arrays)} tensors for {len(self.outputs)} requested"
        if arrays is None:
            err = self.Error(f"{self.where}: stock MNN could not run a batch of shape {tuple(x.shape)} ({why})")
            err.mnn_says = why
            raise err
        return arrays
