"""Aggregated results: the same transactions one by one and in intervals give the same figures."""

from __future__ import annotations

import random

import pytest

from gturret import wire
from gturret.aggregate import Interval
from gturret.hq.messages import Interval as IntervalMessage
from gturret.hq.messages import Result, classify
from gturret.hq.stats import Stats
from tests.support.fake_hq import FakeHQ
from tests.support.turret_process import write_turret

FIGURES = (
    "count",
    "errors",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p99_9_ms",
    "min_ms",
    "max_ms",
)


def transactions(seed: int, count: int) -> list[tuple[float, str, dict[str, float]]]:
    """(scriptrun_time, error, timers): log-normal times, a few error kinds, a timer."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        seconds = rng.lognormvariate(-4.0, 1.0)
        error = rng.choice(["", "", "", "", "HTTP 500", "HTTP st" + "atus 503", "timeout"])
        timers = {"login": seconds / 3} if rng.random() < 0.5 else {}
        made.append((seconds, error, timers))
    return made


def one_by_one(made: list[tuple[float, str, dict[str, float]]]) -> Stats:
    stats = Stats()
    for seconds, error, timers in made:
        stats.record(Result("t", seconds, error, timers), at_s=0.5)
    return stats


def in_intervals(made: list[tuple[float, str, dict[str, float]]], size: int) -> Stats:
    stats = Stats()
    for start in range(0, len(made), size):
        interval = Interval(start)
        for seconds, error, timers in made[start : start + size]:
            interval.transaction.values.append(int(seconds * 1_000_000 + 0.5))
            if error:
                interval.error(error)
            if timers:
                interval.timers_of(timers, bool(error))
        raw = interval.encode("t", start + 1.0, 0.0)
        assert b"status" not in raw
        message = classify(raw)
        assert isinstance(message, IntervalMessage)
        stats.record_interval(message, at_s=0.5)
    return stats


@pytest.mark.parametrize("size", [1, 97, 10_000])
def test_intervals_give_the_figures_results_give(size):
    made = transactions(seed=size, count=5_000)
    expected = one_by_one(made).summarize(10.0)
    got = in_intervals(made, size).summarize(10.0)
    for name in ("transaction",):
        for figure in FIGURES:
            assert getattr(got.transaction, figure) == pytest.approx(
                getattr(expected.transaction, figure), abs=0.001
            ), (name, figure)
    assert got.transaction.mean_ms == pytest.approx(expected.transaction.mean_ms, abs=0.001)
    for figure in FIGURES:
        assert getattr(got.timers["login"], figure) == pytest.approx(
            getattr(expected.timers["login"], figure), abs=0.001
        ), figure
    assert got.top_errors == expected.top_errors
    assert got.error_kinds == expected.error_kinds
    assert got.results_by_turret == expected.results_by_turret == {"t": 5_000}


NAP = """
    import time
    from gturret import Transaction as Base, CustomTimer

    class Transaction(Base):
        def run(self):
            with CustomTimer(self, "nap"):
                time.sleep(0.01)
"""


def test_a_turret_sends_intervals_when_asked_and_the_last_one_before_ready(spawn_turret, tmp_path):
    wants = wire.status_request_msg(wire.WANT_COUNTERS, wire.WANT_AGGREGATE)
    with FakeHQ() as hq:
        spawn_turret(str(write_turret(tmp_path, NAP, hq, canons=20)))
        hq.register()
        hq.send("status_request", wants)
        hq.send("start", "open fire")
        hq.wait_status("running")
        hq.collect(1.5)
        hq.send("stop", "premature stop")
        ready = hq.wait_status("ready")
    # Everything filed by the time the ready came: the last, partial interval too.
    intervals = [m for m in hq.results if m.get(wire.INTERVAL_KIND) == 1]
    assert len(intervals) >= 2 and len(intervals) == len(hq.results)
    assert sum(i["count"] for i in intervals) == ready["results_produced"] > 100
    assert ready["results_sent"] == ready["results_produced"]
    assert all(set(i["series"]) == {"transaction", "timer:nap"} for i in intervals)
