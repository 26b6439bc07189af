"""The timing method: load every engine in its own process, check its outputs,
warm up, then time the engines one at a time, round by round.

No two engines ever run at the same moment: the parent sends "time K runs" to
one worker and waits for the answer before talking to the next, and each round
visits every engine once in a fresh order (schedule.round_orders). An engine
that cannot load, crashes, hangs or gives wrong outputs is marked failed with
the reason and is never timed (or its partial samples are dropped).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..plugin import TRIAL_RUNS
from .schedule import round_orders
from .stats import median_interval, round_ratios
from .worker import Worker, WorkerError

LOAD_TIMEOUT_S = 600.0
CALL_TIMEOUT_S = 300.0
# A plugin engine's warm-up covers the bridge's trial runs (plugin.TRIAL_RUNS), whatever
# `warmup` asks, so no timed run pays for both executions of an op.
PLUGIN_WARMUP = TRIAL_RUNS


@dataclass
class Instance:
    """One engine on one model form at one thread count."""
    label: str                       # unique within a measurement, e.g. "plugin@50%"
    engine: str
    factory: str                     # "module:callable" (see runners.py)
    path: Path | None
    threads: int = 1
    sparsity: float | None = None
    reference: str | None = None     # label of the instance whose outputs this must match
    options: dict = field(default_factory=dict)
    status: str = "pending"          # ok | failed | unavailable
    error: str = ""
    info: dict = field(default_factory=dict)
    outputs: dict | None = None
    max_error: float | None = None
    rounds: list[list[float]] = field(default_factory=list)
    profile: dict | None = None
    op_table: dict | None = None          # op name -> {"type", "plugin"} (with the profile)

    def fail(self, why: str, unavailable: bool = False) -> None:
        self.status = "unavailable" if unavailable else "failed"
        self.error = why
        self.rounds = []

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def output_error(out: dict, ref: dict, tolerance: float) -> tuple[float, str]:
    """(worst error relative to max(1, |ref|max), problem or "") between two engines' outputs.

    Outputs are matched by name, or by position when the engines name them
    differently (ONNX Runtime vs MNN) but have as many.
    """
    if set(out) == set(ref):
        pairs = [(k, out[k], ref[k]) for k in ref]
    elif len(out) == len(ref):
        pairs = [(k, o, r) for (k, r), o in zip(ref.items(), out.values())]
    else:
        return float("inf"), f"{len(out)} outputs {sorted(out)} vs {len(ref)} expected {sorted(ref)}"
    worst = 0.0
    for name, o, r in pairs:
        o, r = np.asarray(o, np.float64), np.asarray(r, np.float64)
        if o.size != r.size:
            return float("inf"), f"output {name}: shape {o.shape} vs expected {r.shape}"
        if not np.all(np.isfinite(o)):
            return float("inf"), f"output {name} has NaN/inf values"
        scale = max(1.0, float(np.abs(r).max(initial=0.0)))
        worst = max(worst, float(np.abs(o.reshape(r.shape) - r).max(initial=0.0)) / scale)
    if worst > tolerance:
        return worst, f"wrong outputs: max error {worst:.2e} (relative) > tolerance {tolerance:.0e}"
    return worst, ""


def measure(instances: list[Instance], inputs: dict, *, rounds: int, runs: int, warmup: int,
            log_dir: Path, tolerance: float = 1e-3, seed: int = 0, pause_s: float = 0.02,
            profile: set[str] | None = None, profile_runs: int = 5, validate=None,
            progress=None, timeline: list | None = None) -> None:
    """Fill in status, outputs, rounds (and profile) of every instance, in place.

    validate(instance) -> reason or None runs after loading (e.g. a plugin that
    took no convolution). timeline, when given, receives (round, label, t_start,
    t_end) for every timed batch, in the order they ran.
    """
    def tick(n=1):
        if progress is not None:
            progress.update(n)

    by_label = {i.label: i for i in instances}
    workers: dict[str, Worker] = {}
    try:
        # 1. start and load everything (loads may overlap: nothing is timed yet)
        for inst in instances:
            if inst.status != "pending":
                continue
            if inst.path is None:
                inst.fail(inst.error or "no model file", unavailable=True)
                continue
            w = workers[inst.label] = Worker(inst.label, log_dir)
            w.send("load", inst.factory, str(inst.path), inst.threads, inst.options, inputs)
        for label, w in list(workers.items()):
            inst = by_label[label]
            try:
                inst.info = w.receive(LOAD_TIMEOUT_S) or {}
                inst.outputs = w.call("outputs", timeout=CALL_TIMEOUT_S)
                inst.status = "ok"
                why = validate(inst) if validate else None
                if why:
                    inst.fail(why)
            except WorkerError as exc:
                inst.fail(str(exc), unavailable=exc.unavailable)
            if not inst.ok:
                workers.pop(label).stop()
            tick()

        # 2. correctness: every engine against its reference, on the same input
        for inst in instances:
            if not inst.ok or inst.reference is None:
                continue
            ref = by_label.get(inst.reference)
            if ref is None or not ref.ok or ref.outputs is None:
                why = ref.error.splitlines()[0] if ref is not None and ref.error else "not run"
                inst.fail(f"cannot check its outputs: reference {inst.reference} failed ({why})")
            else:
                inst.max_error, problem = output_error(inst.outputs, ref.outputs, tolerance)
                if problem:
                    inst.fail(f"{problem} vs {inst.reference}")
            if not inst.ok and inst.label in workers:
                workers.pop(inst.label).stop()

        live = [i for i in instances if i.ok]

        # 3. warm-up, one engine at a time
        for inst in live:
            _timed(workers, inst, max(warmup, PLUGIN_WARMUP) if inst.engine.startswith("plugin") else warmup)
            tick()
        # MNN's per-op profiles: the dense model's gives the Amdahl ideal, the others
        # show where each engine spends its time (bench/breakdown.py)
        for inst in live:
            if profile and (inst.label in profile or inst.engine in profile) and inst.ok:
                try:
                    inst.profile = workers[inst.label].call("call", "profile", (profile_runs,),
                                                            timeout=CALL_TIMEOUT_S)
                    inst.op_table = workers[inst.label].call("call", "op_table", (), timeout=CALL_TIMEOUT_S)
                except WorkerError as exc:
                    inst.info["profile_error"] = str(exc)

        # 4. the rounds
        for r, order in enumerate(round_orders(len(live), rounds, seed)):
            for idx in order:
                inst = live[idx]
                if inst.ok:
                    got = _timed(workers, inst, runs)
                    if got is not None:
                        inst.rounds.append(got[0])
                        if timeline is not None:
                            timeline.append((r, inst.label, got[1], got[2]))
                tick()
                time.sleep(pause_s)  # let a pool that spins after its run go idle
    finally:
        for w in workers.values():
            w.stop()


def speedup(reference: Instance, inst: Instance) -> float | None:
    """How many times faster inst ran than reference: the median over rounds of their
    ratio (both timed in the same round, seconds apart); None when no round is left."""
    ratios = round_ratios(reference.rounds, inst.rounds)
    return float(np.median(ratios)) if ratios else None


def speedup_interval(reference: Instance, inst: Instance) -> tuple[float, float] | None:
    """95 % bootstrap interval of speedup() over the rounds (None with fewer than 3):
    how far this machine's noise leaves the ratio open."""
    return median_interval(round_ratios(reference.rounds, inst.rounds))


def _timed(workers, inst: Instance, runs: int):
    try:
        return workers[inst.label].call("time", runs, timeout=CALL_TIMEOUT_S + runs * 10)
    except WorkerError as exc:
        inst.fail(f"failed while being timed: {exc}")
        workers.pop(inst.label).stop()
        return None
