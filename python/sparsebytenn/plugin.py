"""Loading the MNN bridge (libsparsebytenn_mnn.so) into the running MNN, safely.

    import MNN, sparsebytenn
    backend = sparsebytenn.enable()          # MNN forward type to put in configs
    interp = MNN.Interpreter("model.sparse.mnn")
    session = interp.createSession({"backend": backend, "numThread": 2})

`enable()` never raises for an environment it cannot support and never risks the
process: before anything is registered it checks MNN.version() and the sha256 of
the loaded `_mnncengine` against the builds the bridge was verified with, then
runs a small probe model (two sparse convs) through the bridge -- first in a
child process, so an ABI surprise cannot crash the caller, then in-process to
find MNN's channel pack P -- and compares every output with stock MNN. On any
mismatch it warns once with the reason, leaves the bridge disarmed and returns
MNN_FORWARD_CPU (0), so configs built from its return value run stock MNN.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sparsebytenn_converter.errors import ModelError
from sparsebytenn_converter.mnn_wheel import MNNSession, import_mnn, mnn_sparse_tag, mnnconvert, quiet

import numpy as np

from .errors import SparseByteNNError
from .digest import sha256_of

MNN_VERSION = "3.6.1"
# MNN_FORWARD_USER_3: unused by the wheels and, unlike USER_0/USER_1, never
# picked by MNN's backend "AUTO".
BRIDGE_TYPE = 11
MNN_FORWARD_CPU = 0
LIB_NAME = "libsparsebytenn_mnn.so"

# sha256 of the `_mnncengine` builds of MNN==3.6.1 the bridge's ABI declarations
# were checked against (PyPI wheels).
KNOWN_ENGINES = {
    "a618c79e5f7f811ad30c29137295d9d28634b2a4b98ab31ab2ce2a6e4629143b": "MNN 3.6.1 cp311 manylinux x86_64",
    "36aa0d3a201002cc5cd15d3d6335c2c6660e056498948f7c9c1332d464875eb5": "MNN 3.6.1 cp311 manylinux aarch64",
}

# MNN's NC4HW4 channel pack candidates, most likely first (x86 AVX2 wheel: 8,
# aarch64 fp32: 4, an AVX-512 build: 16).
_PACK_CANDIDATES = (8, 4, 16)
_TOLERANCE = 1e-4  # max |bridge - stock| / max(|stock|)
# The same in sessions that compute in fp16 (precision=low on ARMv8.2): both sides round to
# fp16 (u = 2^-11) after every multiply-add, in different orders, along the probe's
# 288-term 3x3 sums (1.4e-2 measured under qemu); 3e-2 is ~60 ulps of the output scale,
# far below a wrong layout (O(1)).
_F16_TOLERANCE = 3e-2


class BridgeUnavailable(Exception):
    """Internal: the reason the bridge is not used (turned into one warning)."""


@dataclass
class Status:
    enabled: bool = False
    backend: int = MNN_FORWARD_CPU
    reason: str = "enable() has not been called"
    pack: int | None = None
    isa: str | None = None
    low_precision: bool = False
    library: str | None = None
    engine: str | None = None
    probe: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_lock = threading.RLock()
_status: Status | None = None
_lib: ctypes.CDLL | None = None


# --------------------------------------------------------------------------- #
# public API

def enable(*, quiet: bool = False) -> int:
    """Register the bridge with the loaded MNN; returns the backend type to use.

    Returns BRIDGE_TYPE (11) when the bridge is armed, else MNN_FORWARD_CPU (0)
    after one warning that says why. Idempotent and thread-safe.
    """
    global _status
    with _lock:
        if _status is None:
            try:
                _status = _enable()
            except BridgeUnavailable as exc:
                _status = Status(reason=str(exc), library=_find_library_or_none())
                if not quiet:
                    warnings.warn(f"sparsebytenn: the MNN plugin is not used, stock MNN runs instead: {exc}",
                                  RuntimeWarning, stacklevel=2)
        return _status.backend


def status() -> Status:
    """What enable() decided (call enable() first)."""
    with _lock:
        return _status if _status is not None else Status()


def library():
    """The loaded bridge (ctypes.CDLL) or None when it is not loaded."""
    return _lib


def thread_conv_runs() -> int:
    """Sparse convs the bridge executed on the calling thread so far."""
    return int(_lib.sbnn_mnn_thread_conv_runs()) if _lib is not None else 0


def thread_conv_threads() -> int:
    """Sum, over those convs, of the thread count the kernels were given."""
    return int(_lib.sbnn_mnn_thread_conv_threads()) if _lib is not None else 0


def thread_convs_created() -> int:
    """Sparse conv executions the bridge created on the calling thread so far."""
    return int(_lib.sbnn_mnn_thread_convs_created()) if _lib is not None else 0


def thread_convs_packed() -> dict[int, int]:
    """Of those, how many the kernels packed in groups of each G (the model's G, or a larger
    one where their cost model says it runs faster), {G: count}."""
    if _lib is None:
        return {}
    from sparsebytenn_converter.options import GROUPS   # the G the kernels have variants for

    return {g: int(_lib.sbnn_mnn_thread_convs_packed(g)) for g in GROUPS}


# The dense ops the bridge may take over from MNN, by the C API's kind number.
DENSE_OPS = {"depthwise": 0, "direct_conv": 1, "pointwise": 2}
# Under auto the bridge runs both its kernels and MNN's own execution of each such op
# in the first TRIAL_RUNS runs after a resize and keeps the faster
# (plugin/mnn_bridge/measured_execution.h, kTrials): a run among those is no timing.
TRIAL_RUNS = 6


def thread_dense_runs(kind: str) -> int:
    """Dense ops of `kind` (DENSE_OPS) the bridge executed on the calling thread so far
    (not in thread_conv_runs)."""
    return int(_lib.sbnn_mnn_thread_dense_runs(DENSE_OPS[kind])) if _lib is not None else 0


def thread_dense_created(kind: str) -> int:
    """Executions of dense ops of `kind` the bridge created on the calling thread so far."""
    return int(_lib.sbnn_mnn_thread_dense_created(DENSE_OPS[kind])) if _lib is not None else 0


def thread_plugin_op_runs() -> int:
    """Every op the bridge executed on the calling thread (sparse convs + dense takeovers)."""
    return thread_conv_runs() + sum(thread_dense_runs(k) for k in DENSE_OPS)


def thread_note_count() -> int:
    """Notes the bridge made on the calling thread so far."""
    return int(_lib.sbnn_mnn_thread_note_count()) if _lib is not None else 0


def thread_notes(start: int = 0) -> list[str]:
    """The bridge's notes on the calling thread (e.g. convs that fall back to MNN, and
    why), from `start`: read around createSession / resizeSession, a session's own."""
    if _lib is None:
        return []
    out = []
    buf = ctypes.create_string_buffer(2048)
    for i in range(start, thread_note_count()):
        if _lib.sbnn_mnn_thread_note(ctypes.c_int64(i), buf, len(buf)) >= 0:
            out.append(buf.value.decode("utf-8", "replace"))
    return out


def set_executor(kind: str) -> None:
    """Where the bridge's conv threads run: "mnn" (MNN's ThreadPool) or "own"."""
    if kind not in ("mnn", "own"):
        raise SparseByteNNError(f"executor must be 'mnn' or 'own', not {kind!r}")
    if _lib is not None:
        _lib.sbnn_mnn_set_executor(1 if kind == "mnn" else 0)


# --------------------------------------------------------------------------- #
# checks and loading

def engine_path() -> Path:
    import _mnncengine  # noqa: F401  (loaded by `import MNN`)
    return Path(_mnncengine.__file__).resolve()


def _library_candidates() -> list[Path]:
    cands = []
    env = os.environ.get("SPARSEBYTENN_MNN_BRIDGE")
    if env:
        cands.append(Path(env))
    here = Path(__file__).resolve().parent
    cands.append(here / "lib" / LIB_NAME)
    # Editable installs keep Python files in the source tree and compiled files
    # in site-packages: look in every sys.path entry too.
    for entry in sys.path:
        if entry:
            cands.append(Path(entry) / "sparsebytenn" / "lib" / LIB_NAME)
    return cands


def _find_library_or_none() -> str | None:
    for c in _library_candidates():
        if c.is_file():
            return str(c)
    return None


def find_library() -> Path:
    found = _find_library_or_none()
    if found is None:
        raise BridgeUnavailable(f"{LIB_NAME} was not found (build the package: "
                                "pip install -e . --no-build-isolation)")
    return Path(found)


def _declare(lib: ctypes.CDLL) -> None:
    c_int, c_char_p, i64 = ctypes.c_int, ctypes.c_char_p, ctypes.c_int64
    sig = {
        "sbnn_mnn_api_version": (c_int, []),
        "sbnn_mnn_bind": (c_int, [c_char_p, c_char_p, c_int]),
        "sbnn_mnn_register": (c_int, [c_int, c_char_p, c_int]),
        "sbnn_mnn_registered_type": (c_int, []),
        "sbnn_mnn_set_armed": (None, [c_int]),
        "sbnn_mnn_armed": (c_int, []),
        "sbnn_mnn_set_pack": (None, [c_int]),
        "sbnn_mnn_pack": (c_int, []),
        "sbnn_mnn_set_low_precision_ok": (None, [c_int]),
        "sbnn_mnn_set_f16_ok": (None, [c_int]),
        "sbnn_mnn_set_executor": (None, [c_int]),
        "sbnn_mnn_executor": (c_int, []),
        "sbnn_mnn_set_log_stderr": (None, [c_int]),
        "sbnn_mnn_thread_convs_created": (i64, []),
        "sbnn_mnn_thread_convs_packed": (i64, [c_int]),
        "sbnn_mnn_thread_conv_runs": (i64, []),
        "sbnn_mnn_thread_conv_threads": (i64, []),
        "sbnn_mnn_total_convs_created": (i64, []),
        "sbnn_mnn_total_conv_runs": (i64, []),
        "sbnn_mnn_thread_dense_created": (i64, [c_int]),
        "sbnn_mnn_thread_dense_runs": (i64, [c_int]),
        "sbnn_mnn_total_dense_runs": (i64, [c_int]),
        "sbnn_mnn_thread_note_count": (i64, []),
        "sbnn_mnn_thread_note": (c_int, [i64, c_char_p, c_int]),
        "sbnn_mnn_kernel_isa": (c_char_p, []),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


def check_engine(mnn) -> tuple[Path, str]:
    """Raises BridgeUnavailable unless this is a verified MNN 3.6.1 engine."""
    version = mnn.version()
    if version != MNN_VERSION:
        raise BridgeUnavailable(f"MNN {version} is installed; the bridge is built for MNN {MNN_VERSION} only "
                                f"(pip install MNN=={MNN_VERSION})")
    path = engine_path()
    digest = sha256_of(path)
    if digest not in KNOWN_ENGINES and os.environ.get("SPARSEBYTENN_TRUST_ENGINE") != "1":
        raise BridgeUnavailable(f"{path.name} (sha256 {digest[:16]}...) is not an MNN {MNN_VERSION} build the "
                                "bridge was verified with; set SPARSEBYTENN_TRUST_ENGINE=1 to try it anyway "
                                "(the probe still runs)")
    return path, digest


def _load(engine: Path, digest: str) -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    path = find_library()
    try:
        lib = ctypes.CDLL(str(path), mode=os.RTLD_NOW | os.RTLD_LOCAL)
        _declare(lib)
    except (OSError, AttributeError) as exc:
        raise BridgeUnavailable(f"cannot load {path}: {exc}") from None
    if lib.sbnn_mnn_api_version() != 1:
        raise BridgeUnavailable(f"{path} has an unknown C API version")
    err = ctypes.create_string_buffer(512)
    if lib.sbnn_mnn_bind(str(engine).encode(), err, len(err)) != 0:
        raise BridgeUnavailable(f"{path}: {err.value.decode()}")
    _lib = lib
    return lib


# --------------------------------------------------------------------------- #
# the probe

_PROBE_SHAPE = (1, 32, 9, 9)  # channel counts multiples of 16: a wrong P reads and writes in bounds


def _probe_model_path(mnn) -> Path:
    """Two sparse convs (3x3 pad 1 + ReLU, then 1x1) tagged by MNN's own converter.

    Written as MNN's JSON model format and converted with MNN's own converter
    (in-process), so building it needs nothing beyond the MNN wheel.
    """
    from .paths import home

    out = home() / "probe" / f"bridge-probe-mnn{mnn.version()}-v1.mnn"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240605)

    def block_sparse(o, i, kh, kw, keep=0.4, g=4):
        w = rng.standard_normal((o, i, kh, kw)).astype(np.float32) * 0.2
        mask = rng.random((o // g, i)) < keep
        return w * np.repeat(mask, g, axis=0)[:, :, None, None]

    def conv(name, src, dst, w, b, pad, relu):
        o, i, kh, kw = w.shape
        return {"type": "Convolution", "name": name, "inputIndexes": [src], "outputIndexes": [dst],
                "main_type": "Convolution2D", "main": {
                    "common": {"padX": pad, "padY": pad, "kernelX": kw, "kernelY": kh, "strideX": 1, "strideY": 1,
                               "dilateX": 1, "dilateY": 1, "padMode": "CAFFE", "group": 1, "outputCount": o,
                               "inputCount": i, "relu": relu, "relu6": False},
                    "weight": [float(v) for v in w.ravel()], "bias": [float(v) for v in b]}}

    n, c, h, wd = _PROBE_SHAPE
    w1, b1 = block_sparse(48, c, 3, 3), rng.standard_normal(48).astype(np.float32)
    w2, b2 = block_sparse(16, 48, 1, 1), rng.standard_normal(16).astype(np.float32)
    net = {"oplists": [
        {"type": "Input", "name": "input", "outputIndexes": [0], "main_type": "Input",
         "main": {"dims": [n, c, h, wd], "dtype": "DT_FLOAT", "dformat": "NCHW"}},
        conv("probe_conv3x3", 0, 1, w1, b1, 1, True),
        conv("probe_conv1x1", 1, 2, w2, b2, 0, False)],
        "tensorName": ["input", "mid", "output"], "outputName": ["output"], "sourceType": "ONNX"}
    with tempfile.TemporaryDirectory() as tmp:
        js, dense, tmp_out = Path(tmp) / "probe.json", Path(tmp) / "dense.mnn", Path(tmp) / "probe.mnn"
        js.write_text(json.dumps(net))
        mnnconvert("-f", "JSON", "--modelFile", js, "--MNNModel", dense)
        mnn_sparse_tag(dense, tmp_out, oc_block=4)
        if not tmp_out.is_file():
            raise BridgeUnavailable("MNN's converter did not write the probe model")
        _copy_then_rename(tmp_out, out)
    return out


def _copy_then_rename(src: Path, dst: Path) -> None:
    tmp = dst.with_suffix(dst.suffix + f".tmp{os.getpid()}")
    tmp.write_bytes(src.read_bytes())
    os.replace(tmp, dst)


def _run_once(model: Path, backend, x: np.ndarray, precision: str | None = None) -> np.ndarray:
    """The probe's output in one fresh session (1 thread), or NaN when MNN reports a
    failure (the output tensor would still hold zeros: never compare those)."""
    try:
        return MNNSession(model, threads=1, backend=backend, precision=precision).run({"input": x})["output"]
    except ModelError:
        return np.full(x.shape[:1] + (1,), np.nan, np.float32)


def _rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    if a.shape != ref.shape or not np.all(np.isfinite(a)):
        return float("inf")
    return float(np.max(np.abs(a - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def _probe_in_process(lib, model: Path) -> dict:
    """Arms the bridge with each candidate P until the probe matches stock MNN."""
    x = np.random.default_rng(7).standard_normal(_PROBE_SHAPE).astype(np.float32)
    result = {"pack": None, "errors": {}, "low_precision": False, "fp16": False}
    with quiet():
        stock = _run_once(model, "CPU", x)
        if not np.isfinite(stock).all():
            raise BridgeUnavailable("stock MNN could not run the probe model")
        for pack in _PACK_CANDIDATES:
            lib.sbnn_mnn_set_pack(pack)
            lib.sbnn_mnn_set_armed(1)
            before = lib.sbnn_mnn_thread_conv_runs()
            ours = _run_once(model, BRIDGE_TYPE, x)
            ran = lib.sbnn_mnn_thread_conv_runs() - before
            err = _rel_err(ours, stock)
            result["errors"][pack] = err
            if ran == 2 and err <= _TOLERANCE:
                result["pack"] = pack
                break
            lib.sbnn_mnn_set_armed(0)
        if result["pack"] is not None:
            # precision=low: MNN keeps fp32 tensors (x86) or computes in fp16 (ARMv8.2,
            # where the bridge runs the fp16 kernels); intercepted when ours match stock's.
            stock_low = _run_once(model, "CPU", x, precision="low")
            fp16 = _rel_err(stock_low, stock) > _TOLERANCE
            lib.sbnn_mnn_set_low_precision_ok(1)
            lib.sbnn_mnn_set_f16_ok(1)
            before = lib.sbnn_mnn_thread_conv_runs()
            ours_low = _run_once(model, BRIDGE_TYPE, x, precision="low")
            ran = lib.sbnn_mnn_thread_conv_runs() - before
            err = _rel_err(ours_low, stock_low)
            result["errors"]["low"] = err
            ok = ran == 2 and err <= (_F16_TOLERANCE if fp16 else _TOLERANCE)
            lib.sbnn_mnn_set_low_precision_ok(1 if ok and not fp16 else 0)
            lib.sbnn_mnn_set_f16_ok(1 if ok and fp16 else 0)
            result["low_precision"], result["fp16"] = ok, fp16
    if result["pack"] is None:
        lib.sbnn_mnn_set_armed(0)
    return result


def _probe_child_main() -> None:
    """Entry point of the crash-isolating child: probe and print JSON."""
    mnn = import_mnn()
    engine, digest = check_engine(mnn)
    lib = _load(engine, digest)
    lib.sbnn_mnn_set_log_stderr(0)
    err = ctypes.create_string_buffer(512)
    if lib.sbnn_mnn_register(BRIDGE_TYPE, err, len(err)) != 0:
        raise BridgeUnavailable(err.value.decode())
    res = _probe_in_process(lib, _probe_model_path(mnn))
    sys.stdout.write("SBNN_PROBE " + json.dumps(res) + "\n")
    sys.stdout.flush()


def _probe_in_child(engine_digest: str, lib_path: Path) -> dict | None:
    """Runs the probe in a child process; None when children cannot be started
    (e.g. a foreign-architecture Python under qemu without binfmt)."""
    from .paths import home

    if os.environ.get("SPARSEBYTENN_PROBE_SUBPROCESS", "1") == "0":
        return None
    key = hashlib.sha256((engine_digest + sha256_of(lib_path) + sys.executable).encode()).hexdigest()[:24]
    cache = home() / "probe" / f"child-{key}.json"
    if cache.is_file():
        try:
            return json.loads(cache.read_text())
        except ValueError:
            pass
    code = "from sparsebytenn.plugin import _probe_child_main; _probe_child_main()"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    except OSError:
        return None
    except subprocess.TimeoutExpired:
        raise BridgeUnavailable("the probe child process timed out") from None
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SBNN_PROBE ")), None)
    if proc.returncode != 0 or line is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BridgeUnavailable(f"the probe crashed or failed in a child process (exit {proc.returncode}): {tail}")
    result = json.loads(line[len("SBNN_PROBE "):])
    if result.get("pack") is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(result))
        os.replace(tmp, cache)
    return result


def _enable() -> Status:
    mnn = import_mnn()
    engine, digest = check_engine(mnn)
    lib_path = find_library()
    child = _probe_in_child(digest, lib_path)
    if child is not None and child.get("pack") is None:
        raise BridgeUnavailable(f"the probe model gave results different from stock MNN (relative errors "
                                f"{child.get('errors')})")
    lib = _load(engine, digest)
    model = _probe_model_path(mnn)
    err = ctypes.create_string_buffer(512)
    if lib.sbnn_mnn_register(BRIDGE_TYPE, err, len(err)) != 0:
        raise BridgeUnavailable(err.value.decode())
    res = _probe_in_process(lib, model)
    if res["pack"] is None:
        raise BridgeUnavailable(f"the probe model gave results different from stock MNN (relative errors "
                                f"{res['errors']}); registered nothing that runs")
    return Status(enabled=True, backend=BRIDGE_TYPE, reason="ok", pack=res["pack"],
                  isa=lib.sbnn_mnn_kernel_isa().decode(), low_precision=res["low_precision"],
                  library=str(lib_path), engine=str(engine), probe=res)
