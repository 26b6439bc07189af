"""The kernel benchmark's per-batch settling (bench/kernel_peers.py, MultiCaseRunner)."""
import time

from sparsebytenn.bench import kernel_peers


class CountingRunner:
    """Records every time_runs(n) call and how long after the first one it came."""

    calls: list = []

    def __init__(self, path, threads, options, inputs):
        pass

    def time_runs(self, n):
        CountingRunner.calls.append((n, time.monotonic()))
        time.sleep(0.0005 * n)
        return [0.5] * n


def test_every_batch_is_timed_after_untimed_runs_for_settle_s(monkeypatch):
    monkeypatch.setitem(kernel_peers.RUNNERS, "counting", CountingRunner)
    runner = kernel_peers.MultiCaseRunner(None, 2, {"engine": "counting", "dirs": ["a", "b"]}, None)
    for k in (0, 1):
        CountingRunner.calls = []
        assert runner.time_runs(k, 7) == [0.5] * 7
        settling, timed = CountingRunner.calls[:-1], CountingRunner.calls[-1]
        # single untimed runs, as many as SETTLE_S takes, then the n timed ones
        assert len(settling) >= 2 and all(n == 1 for n, _ in settling)
        assert timed[0] == 7 and timed[1] - settling[0][1] >= kernel_peers.SETTLE_S
