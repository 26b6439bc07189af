"""MNN's per-op timing of a session (runSessionWithCallBackInfo): op name -> median ms.

Used for stock sessions and bridge sessions alike: the bridge's convolutions are
ops of the same MNN session, so two profiles of one model compare op by op.
The callbacks cost a few microseconds per op, the same for every engine.
"""
from __future__ import annotations

import time

import numpy as np


def profile_ops(session, inputs, runs: int = 5, stat=np.median) -> dict[str, float]:
    """`stat` (median; np.min for the undisturbed time) over `runs` inferences of each
    op's time. session: an mnn_wheel.MNNSession (every status checked)."""
    per_run = []
    for _ in range(max(1, int(runs))):
        start: dict[str, float] = {}
        ms: dict[str, float] = {}

        def begin(tensors, op):
            start[op.getName()] = time.perf_counter()
            return True

        def end(tensors, op):
            name = op.getName()
            ms[name] = ms.get(name, 0.0) + (time.perf_counter() - start[name]) * 1e3
            return True

        session.run_with_callbacks(inputs, begin, end)
        per_run.append(ms)
    return {name: float(stat([r.get(name, 0.0) for r in per_run])) for name in per_run[0]}


def op_table(session, inputs, counter=None) -> dict[str, dict]:
    """One run; op name -> {"type": MNN's op type, "plugin": whether `counter()` (a count
    of ops some other engine executed on this thread, e.g. the SparseByteNN bridge's
    convs) went up while the op ran}. session: an mnn_wheel.MNNSession."""
    out: dict[str, dict] = {}
    before: dict[str, int] = {}

    def begin(tensors, op):
        if counter is not None:
            before[op.getName()] = counter()
        return True

    def end(tensors, op):
        name = op.getName()
        ran = counter is not None and counter() > before[name]
        out[name] = {"type": op.getType(), "plugin": bool(ran or out.get(name, {}).get("plugin", False))}
        return True

    session.run_with_callbacks(inputs, begin, end)
    return out
