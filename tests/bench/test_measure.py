"""The timing method with engines of known behaviour (fake_runners.py)."""
from dataclasses import replace
from itertools import groupby

import numpy as np
import pytest

from sparsebytenn.bench.measure import Instance, measure, output_error, speedup, speedup_interval
from sparsebytenn.bench.schedule import round_orders

F = "fake_runners:"
INPUTS = {"x": np.zeros((1, 3), np.float32)}


def inst(label, factory="Sleeper", reference=None, **options):
    return Instance(label, label, F + factory, path="unused", reference=reference,
                    options=options)


def run(instances, tmp_path, rounds=3, runs=2, timeline=None, **kw):
    measure(instances, INPUTS, rounds=rounds, runs=runs, warmup=1, log_dir=tmp_path,
            timeline=timeline, pause_s=0.0, **kw)
    return {i.label: i for i in instances}


def test_engines_are_timed_one_at_a_time_in_the_scheduled_order(tmp_path):
    instances = [inst("a", ms=1), inst("b", ms=2, reference="a"), inst("c", ms=0.5, reference="a")]
    timeline = []
    got = run(instances, tmp_path, rounds=4, runs=3, timeline=timeline, seed=3)
    assert all(i.ok for i in got.values()), {k: i.error for k, i in got.items()}
    # the batches ran in exactly the order round_orders gives
    expected = [(r, instances[i].label) for r, order in enumerate(round_orders(3, 4, seed=3))
                for i in order]
    assert [(r, label) for r, label, _, _ in timeline] == expected
    # ... and never overlapped in time (each worker reports its own monotonic clock)
    spans = sorted((t0, t1) for _, _, t0, t1 in timeline)
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:]))
    for r, batch in groupby(timeline, key=lambda t: t[0]):
        assert sorted(label for _, label, _, _ in batch) == ["a", "b", "c"]
    for i in got.values():
        assert len(i.rounds) == 4 and all(len(r) == 3 for r in i.rounds)
        # time.sleep(ms) never returns early: a lower bound the timing must respect
        assert min(min(r) for r in i.rounds) >= i.options["ms"] * 0.999
    # each engine lives in its own process
    assert len({i.info["pid"] for i in got.values()}) == 3


def test_wrong_outputs_are_reported_failed_and_never_timed(tmp_path):
    got = run([inst("ref", value=1.0), inst("close", value=1.0 + 1e-5, reference="ref"),
               inst("wrong", value=1.5, reference="ref")], tmp_path)
    assert got["close"].ok and got["close"].rounds
    assert got["wrong"].status == "failed" and got["wrong"].rounds == []
    assert "wrong outputs" in got["wrong"].error and "ref" in got["wrong"].error


def test_crashes_and_errors_are_reported_and_the_others_still_run(tmp_path):
    got = run([inst("good", ms=0.2),
               inst("crash-load", "CrashOnLoad"),
               inst("raise-load", "RaiseOnLoad"),
               inst("missing", "Missing"),
               inst("crash-later", ms=0.2, crash_after=4),  # 1 check + 1 warm-up + 2 = round 1
               inst("checked-vs-crashed", ms=0.2, reference="crash-load")], tmp_path)
    assert got["good"].ok and len(got["good"].rounds) == 3
    assert got["crash-load"].status == "failed" and "crashed (exit code 3)" in got["crash-load"].error
    assert got["raise-load"].status == "failed" and "cannot read the model" in got["raise-load"].error
    assert got["missing"].status == "unavailable" and "not installed" in got["missing"].error
    later = got["crash-later"]
    assert later.status == "failed" and "signal 11" in later.error and later.rounds == []
    assert got["checked-vs-crashed"].status == "failed"
    assert "reference crash-load failed" in got["checked-vs-crashed"].error


def test_output_error_matches_numpy_and_handles_names():
    ref = {"y": np.array([[1.0, -20.0, 3.0]], np.float32)}
    out = {"y": np.array([[1.0, -20.01, 3.0]], np.float32)}
    err, problem = output_error(out, ref, 1e-3)
    assert err == pytest.approx(0.01 / 20, rel=1e-3) and problem == ""
    err, problem = output_error({"other_name": out["y"]}, ref, 1e-4)  # positional match
    assert "wrong outputs" in problem
    assert "NaN" in output_error({"y": np.full((1, 3), np.nan)}, ref, 1e-3)[1]
    assert "shape" in output_error({"y": np.zeros(5)}, ref, 1e-3)[1]


def test_plugin_engines_warm_up_past_the_bridges_depthwise_trial(tmp_path):
    """The bridge runs both its and MNN's depthwise execution in an op's first runs
    (PLUGIN_WARMUP of them): a plugin engine is warmed up past them even with warmup=1.
    An engine that crashes on its 7th inference gets two timed rounds as "a" (check,
    1 warm-up, 2 + 2 timed) and crashes in the warm-up as "plugin", never timed."""
    timeline = []
    got = run([Instance("a", "a", F + "Sleeper", path="unused", options={"ms": 0.1, "crash_after": 6}),
               Instance("p", "plugin", F + "Sleeper", path="unused", options={"ms": 0.1, "crash_after": 6})],
              tmp_path, rounds=3, timeline=timeline)
    timed = [label for _, label, _, _ in timeline]
    assert timed.count("a") == 2 and "signal 11" in got["a"].error, (timed, got["a"].error)
    assert "p" not in timed and "signal 11" in got["p"].error, (timed, got["p"].error)


def test_speedups_are_medians_of_same_round_ratios_with_their_interval():
    """Hand arithmetic: the machine slowed down 3x in round 2 and b still ran 2x faster than
    a in every round, so the speed-up is 2 with no spread; c's rounds disagree (2, 3, 5.5),
    so its interval is wide and lies within them."""
    a = Instance("a", "a", F + "Sleeper", path=None, status="ok", rounds=[[10.0, 10.0], [30.0, 30.0], [10.0, 12.0]])
    b = Instance("b", "b", F + "Sleeper", path=None, status="ok", rounds=[[5.0, 5.0], [15.0, 15.0], [5.5, 5.5]])
    assert speedup(a, b) == pytest.approx(2.0)
    lo, hi = speedup_interval(a, b)
    assert lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    c = replace(b, rounds=[[5.0], [10.0], [2.0]])     # ratios 2, 3, 5.5
    assert speedup(a, c) == pytest.approx(3.0)
    lo, hi = speedup_interval(a, c)
    assert 2.0 <= lo < 3.0 < hi <= 5.5
    assert speedup_interval(a, replace(b, rounds=b.rounds[:2])) is None   # too few rounds
    assert speedup(a, replace(b, rounds=[])) is None
