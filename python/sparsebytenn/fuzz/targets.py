"""What one fuzz input is fed to, and what counts as a failure.

Every target is the real code path of a subcommand that reads a model:
  inspect  read_model + the summary and table `sparsebytenn inspect` prints;
  convert  `sparsebytenn convert IN OUT --sparsity 0.5` on a file; a success must
           write an OUT the reader accepts, a failure must leave no OUT and no temp
           file, and IN must be byte-identical afterwards;
  run      Session(MODEL) on random inputs in stock MNN, in the worker process;
  run-plugin  the same with the bridge: the reader must reject a file before MNN
           could crash on it, and a crash kills the worker (a failure, never a rejection).
Outcomes: "accepted" (for run targets: MNN ran it), "rejected" (a SparseByteNNError
with a one-line message that names the file), "mnn-rejected" (run targets: the
reader accepted the file and MNN refused it with an error status), or a failure:
"exception" (any other type), "bad-message", "data-loss", "timeout", "crash" (the
worker died: a signal), "memory".
"""
from __future__ import annotations

import hashlib
import json
import traceback
from pathlib import Path

from ..errors import SparseByteNNError

FAILURES = ("exception", "bad-message", "data-loss", "timeout", "crash", "memory")


class InputTimeout(BaseException):
    """Raised by the worker's CPU timer; BaseException so `except Exception` cannot swallow it."""


class Outcome(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def _check_message(exc: BaseException, label: str) -> None:
    msg = str(exc)
    if "\n" in msg.strip() or not msg.strip():
        raise Outcome("bad-message", f"error message is not one line: {msg!r}")
    if label not in msg and not msg.startswith("--"):
        raise Outcome("bad-message", f"error message does not name the file {label!r}: {msg!r}")


def classify(fn, label: str) -> tuple[str, str]:
    """Run fn(); map what happened to (outcome, detail)."""
    try:
        fn()
        return "accepted", ""
    except Outcome as o:
        return o.kind, o.detail
    except SparseByteNNError as exc:
        try:
            _check_message(exc, label)
        except Outcome as o:
            return o.kind, o.detail
        return "rejected", str(exc)
    except InputTimeout:
        return "timeout", "more than the per-input CPU limit\n" + traceback.format_exc(limit=-12)
    except MemoryError:
        return "memory", "MemoryError (above the worker's address-space limit)\n" + traceback.format_exc(limit=-12)
    except BaseException as exc:  # noqa: BLE001 - anything else is what we hunt
        return "exception", f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=-12)


def inspect_target(data: bytes, label: str, tmp: Path, rng, seed: str = "") -> tuple[str, str]:
    from sparsebytenn_converter import read_model
    from sparsebytenn_converter.summary import model_summary

    from ..commands.inspect import format_table

    def go():
        s = model_summary(read_model(label, data=data))
        format_table(s)
        json.dumps(s)

    return classify(go, label)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def convert_target(data: bytes, label: str, tmp: Path, rng, seed: str = "") -> tuple[str, str]:
    from sparsebytenn_converter import convert, read_model

    src, out = tmp / "in.mnn", tmp / "out.mnn"
    src.write_bytes(data)
    before = _sha(src)
    # No rearrangement: it costs 1-2 s of CPU on the valid zoo models themselves,
    # too close to the per-input limit; it works on the validated graph, not on bytes.
    rearrange = False

    def go():
        try:
            # fidelity=False: the fidelity check runs stock MNN on the file, which the run
            # target fuzzes (with the crash-isolating preflight the CLI uses)
            convert(src, out, sparsity=0.5, rearrange=rearrange, plain=True, progress=False, fidelity=False)
        except SparseByteNNError:
            if out.exists():
                raise Outcome("data-loss", f"failed convert left {out}") from None
            raise
        read_model(out)  # what we wrote must read back

    label = str(src)
    try:
        kind, detail = classify(go, label)
        leftovers = sorted(p.name for p in tmp.iterdir() if p.name not in ("in.mnn", "out.mnn"))
        if kind not in FAILURES and leftovers:
            kind, detail = "data-loss", f"temp files left behind: {leftovers}"
        if kind not in FAILURES and _sha(src) != before:
            kind, detail = "data-loss", "the input file was modified"
        return kind, detail
    finally:
        for p in tmp.iterdir():
            p.unlink()


def _run_in_process(data: bytes, label: str, tmp: Path, plugin: bool) -> tuple[str, str]:
    """The model through Session (the reader's check, then MNN) in this worker process.

    No crash-isolating child here, unlike `sparsebytenn run`: if MNN crashes on a file
    the reader accepted, the worker dies and the input counts as a "crash" failure.
    "mnn-rejected": the reader accepted it and MNN refused it with an error status."""
    from sparsebytenn_converter import read_model

    from .. import run_inputs
    from ..session import Session

    src = tmp / "model.mnn"
    src.write_bytes(data)
    reached = []

    def go():
        read_model(src)
        reached.append(True)
        sess = Session(src, plugin=plugin, threads=1)
        sess.run(run_inputs.build(sess, []))

    try:
        kind, detail = classify(go, str(src))
        return ("mnn-rejected" if kind == "rejected" and reached else kind), detail
    finally:
        for p in tmp.iterdir():
            p.unlink()


def run_target(data: bytes, label: str, tmp: Path, rng, seed: str = "") -> tuple[str, str]:
    return _run_in_process(data, label, tmp, plugin=False)


def run_plugin_target(data: bytes, label: str, tmp: Path, rng, seed: str = "") -> tuple[str, str]:
    return _run_in_process(data, label, tmp, plugin=True)


TARGETS = {"inspect": inspect_target, "convert": convert_target, "run": run_target,
           "run-plugin": run_plugin_target}
