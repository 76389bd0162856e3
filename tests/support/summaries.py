"""Summaries built from known latencies, for the pure tests of thresholds and verdicts;
and the figures read back from a printed one."""

from __future__ import annotations

import re

from gturret.hq.stats import LatencyRecorder, Summary


def summary_of(times_ms: list[float], errors: int = 0, timers: bool = True) -> Summary:
    """A 10 s test whose transactions took ``times_ms``; the first ``errors`` failed."""
    transaction = LatencyRecorder("transaction")
    login = LatencyRecorder("login")
    for index, ms in enumerate(times_ms):
        transaction.record(ms / 1000, error=index < errors)
        login.record(ms / 2000, error=index < errors)
    return Summary(
        duration_s=10.0,
        transaction=transaction.summarize(10.0),
        timers={"login": login.summarize(10.0)} if timers else {},
        top_errors=(),
        error_kinds=0,
        series=(),
        results_by_turret={},
        timers_dropped=0,
        clamped=0,
    )


PROGRESS = re.compile(r"^progress \S+  canons \S+  ([\d.]+) tx/s  (\d+) tx  ", re.MULTILINE)
TRANSACTION_ROW = re.compile(r"^transaction +(\d+) +\d+ +([\d.]+) ", re.MULTILINE)


def progress_and_summary(text: str) -> tuple[list[tuple[str, int]], tuple[str, int]]:
    """The (tx/s, tx) of every progress line, and of the summary's transaction row."""
    lines = [(rate, int(count)) for rate, count in PROGRESS.findall(text)]
    row = TRANSACTION_ROW.search(text)
    assert lines and row, text
    return lines, (row[2], int(row[1]))
