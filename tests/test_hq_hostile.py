"""Hostile messages against the real ``gturret-hq``: it never crashes, stalls or balloons.

A real HQ process runs a short test with a fake turret on real sockets; once the
test has started, a raw PUSH socket sends what a hostile or broken turret could: a
message that used to crash it (an empty series, a time of 1e307, a 400-digit
integer), an interval whose errors exceed its count, histograms of another layout
and zlib bombs, thousands of uuids or names. Each time the HQ must finish on its
own, write its report, count what it refused by reason, and fail the verdict over
it (a run with rejected messages never passes), within 1 s of ``--run-time`` for the
stop (``STOP_SLACK_S`` here, for a loaded machine) and under ``MEMORY_MB`` of peak
resident memory, measured on the process itself (VmHWM).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from gturret.hq.session import PAST_TURRET_CAP, RENAMED, UNREAD
from tests.support import hostile
from tests.support.fake_turret import FakeTurret
from tests.support.hostile_hq import (
    DRAIN_TIMEOUT_S,
    MEMORY_MB,
    RUN_TIME_S,
    STOP_SLACK_S,
    Run,
    hostile_run,
)


def assert_counted_and_failed(run: Run, reason: str, count: int = 1) -> None:
    """The HQ went through, refused exactly what it had to, and failed the run over it."""
    assert run.code == 1, run.err
    assert run.rejected == {reason: count}, run.rejected
    assert f"rejected: {reason}" in run.out
    assert run.report["transaction"]["count"] > 0
    assert run.report["test"]["duration_s"] <= RUN_TIME_S + STOP_SLACK_S
    assert run.peak_mb < MEMORY_MB


EMPTY_SERIES = {
    "gturret_interval": 1,
    "turret_name": "fake",
    "count": 1,
    "errors": 0,
    "error_texts": {},
    "series": {},
}


#: Single messages that crashed gturret-hq before: each, and the reason it is refused.
CRASHERS = {
    "empty-series": (
        EMPTY_SERIES,
        "an interval whose turret name, counts, times or series are malformed",
    ),
    "empty-series-with-times": (
        hostile.interval(series={}),
        "an interval whose transaction series does not match its count and errors",
    ),
    "time-1e307": (
        hostile.result(scriptrun_time=1e307),
        "a result whose scriptrun_time is not seconds in [0, 1e+07]",
    ),
    "400-digit-sum": (
        hostile.interval(series={"transaction": hostile.series(5000, sum_us=10**400)}),
        "an interval whose series are malformed or do not add up",
    ),
    "errors-above-count": (
        hostile.interval(errors=5),
        "an interval with more errors than transactions",
    ),
}


@pytest.mark.parametrize(("message", "reason"), list(CRASHERS.values()), ids=list(CRASHERS))
def test_a_message_that_crashed_the_hq_is_counted_and_named(
    tmp_path: Path, message: dict[str, Any], reason: str
) -> None:
    run = hostile_run(tmp_path, lambda _: [message])
    assert_counted_and_failed(run, reason)


def _extremes() -> list[Any]:
    """One of each class: every kind of message with a field out of range or of the
    wrong type, numbers too large for a float, NaN, infinity, texts too long."""
    huge = 10**400
    return [
        hostile.result(elapsed=huge),
        hostile.result(epoch=float("nan")),
        hostile.result(scriptrun_time=-1e-9),
        hostile.result(scriptrun_time=float("inf")),
        hostile.result(uncorrected_time=huge),
        hostile.result(turret_name="x" * 100_000),
        hostile.result(error=["not", "text"]),
        hostile.interval(count=huge),
        hostile.interval(errors=-1),
        hostile.interval(epoch=float("inf")),
        hostile.interval(began_s=huge),
        hostile.interval(timers_dropped=huge),
        hostile.interval(error_texts={"boom": huge}),
        hostile.interval(series={"transaction": hostile.series(5000, max_us=huge)}),
        hostile.interval(series={"transaction": hostile.series(5000, min_us=6000)}),
        hostile.interval(series={"transaction": hostile.series(5000, histogram=7)}),
        hostile.interval(series={"transaction": hostile.series(5000), "what": {}}),
        hostile.interval(
            series={
                "transaction": hostile.series(5000),
                "timer:t": hostile.series(5000, errors=2),
            }
        ),
        hostile.status(cannons=huge),
        hostile.status(rampup=float("inf")),
        hostile.status(uuid="u" * 1000),
        hostile.status(canons_killed={"run": {"count": huge, "longest_s": 1.0}}),
        hostile.status(canons_killed={str(n): {} for n in range(100)}),
        hostile.status(loop_lag="HISTFAAAA"),
    ]


def test_every_class_of_bad_field_is_refused_without_a_crash(tmp_path: Path) -> None:
    messages = _extremes()
    run = hostile_run(tmp_path, lambda _: messages)
    assert run.code == 1, run.err
    assert sum(run.rejected.values()) == len(messages), run.rejected
    assert run.report["messages"]["unknown"] == len(messages)
    assert run.report["test"]["duration_s"] <= RUN_TIME_S + STOP_SLACK_S


def test_wide_histogram_layouts_cost_nothing(tmp_path: Path) -> None:
    wide = hostile.histogram_of(5000, layout=(1, 2**62, 5))
    message = hostile.interval(series={"transaction": hostile.series(5000, histogram=wide)})
    run = hostile_run(tmp_path, lambda _: [message] * 300)
    assert_counted_and_failed(run, "an interval whose series are malformed or do not add up", 300)


def test_a_zlib_bomb_is_never_inflated(tmp_path: Path) -> None:
    bomb = hostile.zlib_bomb(1000)
    message = hostile.interval(series={"transaction": hostile.series(5000, histogram=bomb)})
    run = hostile_run(tmp_path, lambda _: [message, message])
    assert_counted_and_failed(run, "an interval whose series are malformed or do not add up", 2)


def test_ten_thousand_uuids_are_capped(tmp_path: Path) -> None:
    """Every status the HQ reads past the cap is counted (a loaded machine may leave
    some of the flood unread: counted too, if the HQ took them from the socket)."""
    lag = hostile.lag_of(120, 3000)
    run = hostile_run(tmp_path, lambda _: (hostile.status(loop_lag=lag) for _ in range(10_000)))
    assert run.code == 1
    assert run.rejected[PAST_TURRET_CAP] > 0
    assert set(run.rejected) <= {PAST_TURRET_CAP, UNREAD}, run.rejected
    assert len(run.report["turrets"]) == 2000
    assert run.report["test"]["duration_s"] <= RUN_TIME_S + STOP_SLACK_S
    assert run.peak_mb < MEMORY_MB


def test_a_uuid_renaming_itself_keeps_its_first_name(tmp_path: Path) -> None:
    lag = hostile.lag_of(120, 3000)
    uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    run = hostile_run(
        tmp_path,
        lambda _: (hostile.status(turret=f"t{n}", uuid=uuid, loop_lag=lag) for n in range(10_000)),
    )
    assert run.code == 1
    assert run.rejected[RENAMED] > 0
    assert set(run.rejected) <= {RENAMED, UNREAD}, run.rejected
    assert [t["name"] for t in run.report["turrets"] if t["uuid"] == uuid] == ["t0"]
    assert run.peak_mb < MEMORY_MB


def test_a_hundred_thousand_names_make_a_small_report(tmp_path: Path) -> None:
    run = hostile_run(tmp_path, lambda _: (hostile.result(f"n{n}") for n in range(100_000)))
    assert run.code == 1
    pooled = "a result of a turret name past the first 1000 (counted as (other turrets))"
    assert run.rejected[pooled] > 0
    assert set(run.rejected) <= {pooled, UNREAD}, run.rejected
    assert len(run.report["results_by_turret"]) == 1001
    assert run.report_bytes < 1_000_000
    assert run.peak_mb < MEMORY_MB


def _heavy_interval() -> bytes:
    """A valid interval as large as ours get: 200 custom timers, wide histograms."""
    micros = [(n * 7919) % 3_000_000 + 1 for n in range(3000)]
    one = hostile.series(*micros)
    all_series = {"transaction": one} | {f"timer:t{n}": one for n in range(200)}
    return hostile.encode(hostile.interval("heavy", *micros, series=all_series))


def test_a_flood_of_heavy_valid_intervals_never_delays_the_stop(tmp_path: Path) -> None:
    """Each costs the HQ tens of ms: it handles what it can, stops on time, drains
    until --drain-timeout and names what was left unread."""
    heavy = _heavy_interval()
    run = hostile_run(tmp_path, lambda _: [heavy] * 150)
    assert run.report["test"]["duration_s"] <= RUN_TIME_S + STOP_SLACK_S
    assert run.report["test"]["drain_s"] <= DRAIN_TIMEOUT_S + STOP_SLACK_S
    assert run.report["messages"]["intervals"] > 0
    assert run.peak_mb < MEMORY_MB


def test_a_flood_of_lagging_statuses_is_read_in_full(tmp_path: Path) -> None:
    """Statuses whose loop lag could put the p99 over the warning line: the p99 is
    read at most once a second a turret, so all 4,000 are read within the run (they
    took 10 s before, 2.5 ms each)."""
    lag = hostile.lag_of(*([200] * 99), 50_000)

    def statuses(fake: FakeTurret) -> Iterable[dict[str, Any]]:
        return (
            hostile.status(turret=fake.name, uuid=fake.uuid, loop_lag=lag) for _ in range(4_000)
        )

    run = hostile_run(tmp_path, statuses)
    assert run.rejected == {}, run.rejected
    assert run.report["messages"]["statuses"] > 4_000
    assert run.report["test"]["duration_s"] <= RUN_TIME_S + STOP_SLACK_S
