"""What one fuzz input is fed to, and what counts as a failure.

Every target is the real code path of a subcommand that reads a model:
  inspect  read_model + the summary and table `sparsebytenn inspect` prints;
  convert  `sparsebytenn convert IN OUT --sparsity 0.5` on a file; a success must
           write an OUT the reader accepts, a failure must leave no OUT and no temp
           file, and IN must be byte-identical afterwards;
  run      `sparsebytenn run MODEL` (MNN with or without the bridge) in-process:
           the project must reject a file before MNN could crash on it.
Outcomes: "accepted", "rejected" (a SparseByteNNError with a one-line message that
names the file), or a failure: "exception" (any other type), "bad-message",
"data-loss", "timeout", "crash" (the worker died), "memory".
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
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


def run_target(data: bytes, label: str, tmp: Path, rng, seed: str = "") -> tuple[str, str]:
    from .. import cli

    src = tmp / "model.mnn"
    src.write_bytes(data)
    argv = ["run", str(src), "--repeats", "1", "--json"] + ([] if rng.random() < 0.5 else ["--no-plugin"])
    err = io.StringIO()

    def go():
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
        if code != 0:
            lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("sparsebytenn: error: ")]
            if len(lines) != 1:
                raise Outcome("bad-message", f"exit {code} without one error line: {err.getvalue()[-500:]!r}")
            raise SparseByteNNError(lines[0].removeprefix("sparsebytenn: error: "))

    try:
        return classify(go, str(src))
    finally:
        for p in tmp.iterdir():
            p.unlink()


TARGETS = {"inspect": inspect_target, "convert": convert_target, "run": run_target}
