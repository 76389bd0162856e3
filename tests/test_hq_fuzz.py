"""Fuzzing what turrets send our HQ, by structure: every message type, extreme values.

Hypothesis builds statuses, results and intervals field by field, each field either
well formed or one of the values that broke HQs before: integers past 64 bits (and
400 digits), 1e307, NaN and infinities, negative counts, texts far too long, wrong
types, and histograms of another layout, cut short, lying about their length or
made of random counts. Intervals are also built consistent (counts that add up) with
one figure pushed out of line.

Two levels: ``classify`` and everything after it (roster, stats, summary, verdict)
in this process, many messages; then a real ``gturret-hq`` over a real PUSH socket,
which must finish, write its report (valid JSON: no NaN, no infinity) and name
what it rejected. ``GTURRET_FUZZ_MESSAGES`` sets the count (``make test-slow`` runs
more).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gturret.hq.messages import Interval, Result, Status, Unknown, classify
from gturret.hq.roster import Roster
from gturret.hq.session import FAILED
from gturret.hq.stats import Stats
from gturret.hq.verdict import judge
from tests.support import hostile
from tests.support.hostile_hq import RUN_TIME_S, STOP_SLACK_S, hostile_run

MESSAGES = int(os.environ.get("GTURRET_FUZZ_MESSAGES", "1500"))
#: Messages sent to the real HQ (a tenth of those tried in-process, at most 2,000
#: a run: the HQ reads them within its run time).
SENT = max(100, min(MESSAGES // 10, 2000))
UUIDS = [f"u-{n}" for n in range(3)]

EXTREME_NUMBERS = st.sampled_from(
    [
        -1,
        -(10**400),
        2**53,
        2**53 + 1,
        2**63,
        2**64,
        10**400,
        1e307,
        -1e-9,
        float("nan"),
        float("inf"),
        float("-inf"),
        True,
        3_600_000_001,
        10_000_001,
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
#: What replaces a field: an extreme number, any JSON value, a text far too long.
BAD = st.one_of(EXTREME_NUMBERS, JSON_VALUES, st.integers(201, 5000).map(lambda n: "x" * n))
MICROS = st.lists(st.integers(0, 4_000_000_000), min_size=1, max_size=20)
COUNTERS = [
    "canons_active",
    "results_produced",
    "results_sent",
    "results_dropped",
    "results_queued",
    "canons_spawned",
    "canons_started",
    "canons_failed",
    "canons_completed",
    "pacing_scheduled",
    "pacing_late",
    "pacing_dropped",
]


def corrupt(draw: st.DrawFn, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with none, one or two of its fields replaced by a ``BAD`` value."""
    for key in draw(st.sets(st.sampled_from(sorted(data)), max_size=2)):
        data[key] = draw(BAD)
    return data


def _clamped(micros: list[int]) -> list[int]:
    return [min(max(m, 1), 3_600_000_000) for m in micros]


@st.composite
def histograms(draw: st.DrawFn, micros: list[int]) -> str:
    """Mostly ours; else another layout, cut short, random counts, or not one at all."""
    kind = draw(st.sampled_from(["ours", "ours", "ours", "layout", "cut", "raw", "text"]))
    if kind == "ours":
        return hostile.histogram_of(*_clamped(micros))
    if kind == "layout":
        layout = draw(st.sampled_from([(1, 2**62, 5), (1, 1000, 2), (2, 3_600_000_000, 3)]))
        return hostile.histogram_of(1, layout=layout)
    if kind == "cut":
        whole = hostile.histogram_of(*_clamped(micros))
        return whole[: draw(st.integers(0, len(whole)))]
    if kind == "raw":
        counts = draw(st.binary(max_size=64))
        declared = draw(st.none() | st.integers(0, 200_000))
        return hostile.raw_histogram(counts, declared=declared)
    return draw(st.text(max_size=40))


@st.composite
def series(draw: st.DrawFn) -> dict[str, Any]:
    micros = draw(MICROS)
    errors = draw(st.integers(0, len(micros)))
    data = hostile.series(*micros, errors=errors, histogram=draw(histograms(micros)))
    return corrupt(draw, data)


@st.composite
def intervals(draw: st.DrawFn) -> dict[str, Any]:
    micros = draw(MICROS)
    errors = draw(st.integers(0, len(micros)))
    message = hostile.interval(draw(st.sampled_from(["a", "b"])), *micros, errors=errors)
    message["series"]["transaction"]["histogram"] = draw(histograms(micros))
    timers = draw(st.dictionaries(st.sampled_from(["timer:t", "timer:u", "what"]), series()))
    message["series"].update(timers)
    return corrupt(draw, message)


@st.composite
def results(draw: st.DrawFn) -> dict[str, Any]:
    timers = draw(st.dictionaries(st.text(max_size=5), st.floats(0, 1) | BAD, max_size=3))
    message = hostile.result(
        draw(st.sampled_from(["a", "b"])),
        scriptrun_time=draw(st.floats(0, 5)),
        elapsed=draw(st.floats(0, 100)),
        epoch=draw(st.floats(0, 2e9)),
        error=draw(st.sampled_from(["", "HTTP 503"])),
        custom_timers=timers,
    )
    if draw(st.booleans()):
        message["uncorrected_time"] = draw(st.floats(0, 5))
    if draw(st.booleans()):
        del message["turret_name"]
    return corrupt(draw, message)


@st.composite
def statuses(draw: st.DrawFn) -> dict[str, Any]:
    counters = {key: draw(st.integers(0, 100)) for key in draw(st.sets(st.sampled_from(COUNTERS)))}
    lags = st.lists(st.integers(1, 600_000_000), min_size=1, max_size=50)
    lag = draw(st.none() | st.builds(lambda m: hostile.lag_of(*m), lags) | histograms([5]))
    phases = st.sampled_from(["setup", "run", "tear_down"])
    killed = st.fixed_dictionaries({"count": st.integers(0, 5), "longest_s": st.floats(0, 9)})
    message = hostile.status(
        draw(st.sampled_from(["ready", "running", "Running", "killed"])),
        uuid=draw(st.sampled_from(UUIDS)),
        turret=draw(st.sampled_from(["a", "b"])),
        rampup=draw(st.floats(0, 10)),
        cannons=draw(st.integers(0, 100)),
        canons_killed=draw(st.none() | st.dictionaries(phases, killed)),
        loop_lag=lag,
        **counters,
    )
    return corrupt(draw, message)


MESSAGE = st.one_of(statuses(), results(), intervals())


def examples(count: int) -> settings:
    """``count`` examples, the same every run, each as slow as it needs."""
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


def _finite(document: Any) -> None:
    """Valid JSON for any parser: no NaN, no infinity, anywhere."""
    json.dumps(document, allow_nan=False)


@pytest.mark.fuzz
def test_classify_and_everything_after_it_never_raise() -> None:
    stats, roster = Stats(latency_by_turret=True), Roster()
    kinds = {Status: 0, Result: 0, Interval: 0, Unknown: 0}

    @examples(MESSAGES)
    @given(message=MESSAGE)
    def feed(message: dict[str, Any]) -> None:
        parsed = classify(hostile.encode(message))
        kinds[type(parsed)] += 1
        if isinstance(parsed, Status):
            record = roster.update(parsed, 1.0, started=True)
            if record is not None and parsed.loop_lag is not None:
                stats.record_loop_lag(record.name, parsed.loop_lag, 0.5)
        elif isinstance(parsed, Result):
            stats.record(parsed, 0.5)
        elif isinstance(parsed, Interval):
            stats.record_interval(parsed, 0.5)
            assert parsed.errors <= parsed.count

    feed()
    summary = stats.summarize(1.0)
    _finite(asdict(summary))
    rate = summary.transaction.error_rate_pct
    assert rate is None or 0.0 <= rate <= 100.0
    verdict = judge(
        summary,
        (),
        turrets=roster.records(),
        delivery=roster.delivery(summary.results_by_turret),
        pacing=roster.pacing(),
        rejected={"x": kinds[Unknown]},
    )
    _finite(asdict(verdict))
    assert all(kinds.values()), kinds
    print(f"\nfuzz (classify): {MESSAGES} messages, {kinds}")


@pytest.mark.fuzz
def test_a_real_hq_reads_fuzzed_messages_and_reports(tmp_path: Path) -> None:
    sent: list[bytes] = []

    @examples(SENT)
    @given(message=MESSAGE)
    def collect(message: dict[str, Any]) -> None:
        sent.append(hostile.encode(message))

    collect()
    run = hostile_run(tmp_path, lambda _: sent)
    report = json.loads(
        (tmp_path / "report.json").read_text(),
        parse_constant=lambda name: pytest.fail(f"{name} in the JSON report"),
    )
    assert run.code == 1
    assert FAILED not in run.rejected
    assert report["messages"]["unknown"] > 0
    assert run.report["test"]["duration_s"] <= RUN_TIME_S + STOP_SLACK_S
    rate = report["transaction"]["error_rate_pct"]
    assert rate is None or (0 <= rate <= 100 and math.isfinite(rate))
    print(f"\nfuzz (gturret-hq): {len(sent)} messages, rejected {run.rejected}")
