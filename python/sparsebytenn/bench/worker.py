"""One engine per long-lived process, driven over a pipe.

Engines with their own thread pools (MNN, ONNX Runtime, the plugin) disturb each
other when they live in one process: an idle pool keeps spinning. So every
engine gets its own process, and the parent tells one worker at a time to time
a batch of runs while the others sit blocked on their pipe.

The worker's stdout/stderr go to a log file (MNN prints to stdout on import);
when a worker fails, the tail of that log is part of the error message.

Protocol (parent -> worker, worker -> parent):
  ("load", factory, path, threads, options, inputs) -> ("ok", info)
  ("outputs",)                                      -> ("ok", [arrays])
  ("time", runs)                                    -> ("ok", (ms list, t_start, t_end))
  ("call", method, args)                            -> ("ok", result)
  ("quit",)
Any exception in the worker -> ("error", one-line message, traceback text).
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path


class WorkerError(Exception):
    """The engine in this worker failed (raised, crashed, hung or was unavailable)."""

    def __init__(self, message: str, unavailable: bool = False):
        super().__init__(message)
        self.unavailable = unavailable


class EngineUnavailable(Exception):
    """Raised by a runner when a piece it needs is not installed or not built."""


def _load_factory(dotted: str):
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


def _serve(conn_in: Connection, conn: Connection) -> None:
    runner = None
    while True:
        try:
            msg = conn_in.recv()
        except EOFError:
            return
        cmd = msg[0]
        if cmd == "quit":
            conn.send(("ok", None))
            return
        try:
            if cmd == "load":
                _, factory, path, threads, options, inputs = msg
                runner = _load_factory(factory)(path, threads, options or {}, inputs)
                result = dict(getattr(runner, "info", {}) or {})
            elif cmd == "outputs":
                result = runner.infer()
            elif cmd == "time":
                runs = msg[1]
                ms = []
                t_start = time.monotonic()
                for _ in range(runs):
                    t0 = time.perf_counter_ns()
                    runner.infer()
                    ms.append((time.perf_counter_ns() - t0) / 1e6)
                result = (ms, t_start, time.monotonic())
            elif cmd == "call":
                result = getattr(runner, msg[1])(*msg[2])
            else:
                raise ValueError(f"unknown worker command {cmd!r}")
        except EngineUnavailable as exc:
            conn.send(("unavailable", str(exc), ""))
            continue
        except BaseException as exc:  # report everything: the parent decides
            conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
            continue
        conn.send(("ok", result))


class Worker:
    """Parent-side handle of one engine process.

    A fresh interpreter (`python -m sparsebytenn.bench.worker`) rather than a
    multiprocessing child: nothing is inherited (no thread pool, no imported
    engine) and it works whatever the caller's main module is.
    """

    def __init__(self, label: str, log_dir: Path):
        self.label = label
        safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in label)
        self.log_path = Path(log_dir) / f"{safe}.log"
        down_r, down_w = os.pipe()  # parent -> worker
        up_r, up_w = os.pipe()      # worker -> parent
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "sparsebytenn.bench.worker", str(down_r), str(up_w)],
                pass_fds=(down_r, up_w), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env, close_fds=True)
        os.close(down_r)
        os.close(up_w)
        self._out = Connection(down_w, readable=False)
        self._conn = Connection(up_r, writable=False)
        self._pending = False

    def send(self, *msg) -> None:
        try:
            self._out.send(msg)
        except OSError:  # the worker is gone; receive() reports how
            pass
        self._pending = True

    def receive(self, timeout: float):
        """The reply to the last send; WorkerError when the engine failed."""
        self._pending = False
        if not self._conn.poll(timeout):
            self.kill()
            raise WorkerError(f"no answer within {timeout:.0f} s (hung); killed")
        try:
            reply = self._conn.recv()
        except (EOFError, ConnectionError):
            try:
                code = self._proc.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise WorkerError(f"the engine process crashed ({why}){self.log_tail()}") from None
        status, payload = reply[0], reply[1]
        if status == "ok":
            return payload
        if status == "unavailable":
            raise WorkerError(payload, unavailable=True)
        raise WorkerError(payload + self.log_tail(extra=reply[2]))

    def call(self, *msg, timeout: float = 120.0):
        self.send(*msg)
        return self.receive(timeout)

    def log_tail(self, lines: int = 6, extra: str = "") -> str:
        text = extra.strip().splitlines()[-3:] if extra else []
        try:
            text += [ln for ln in self.log_path.read_text(errors="replace").splitlines()
                     if ln.strip() and not ln.startswith("The device supports")][-lines:]
        except OSError:
            pass
        return ("\n    " + "\n    ".join(text)) if text else ""

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        if self.alive and not self._pending:  # never block behind an unanswered command
            try:
                self._out.send(("quit",))
                self._proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        for c in (self._out, self._conn):
            c.close()

    def kill(self) -> None:
        if self.alive:
            self._proc.kill()
            self._proc.wait(5)


def main(argv: list[str]) -> None:
    conn_in = Connection(int(argv[0]), writable=False)
    conn_out = Connection(int(argv[1]), readable=False)
    _serve(conn_in, conn_out)


if __name__ == "__main__":
    # Run the package's copy of this module, so that runners raising
    # sparsebytenn.bench.worker.EngineUnavailable are caught as that class.
    from sparsebytenn.bench.worker import main as _main

    _main(sys.argv[1:])
