"""Pass/fail rules on a test's statistics: ``--threshold p95<100ms`` and friends.

Grammar (spaces allowed around the operator)::

    [timer:NAME:]METRIC OP NUMBER[UNIT][:abort[:DELAY]]

    METRIC  p50 p90 p95 p99 p99.9 min mean max   UNIT ms or s (required)
            error_rate                           UNIT % (optional; always percent)
            tx_per_s                             UNIT /s (optional)
            loop_lag_p99 loop_lag_max            UNIT ms or s (required; no timer:)
            rss_max rss_growth                   UNIT MB or GB (required; no timer:)
    OP      <  <=  >  >=

Without ``timer:NAME:`` a threshold applies to the transaction (``scriptrun_time``,
in a paced run counted from when each transaction was due). ``loop_lag_*`` judge
how late the turrets' loops woke up over the whole test (all turrets together).
``rss_max`` is the highest memory (resident, MB = 2**20 bytes) a turret reported
while running, ``rss_growth`` the largest growth of a turret's memory from its first
status after the rampup to its last (``gturret.hq.memory``): the worst turret's.
``:abort`` (k6's ``abortOnFail``) makes a threshold stop the test the moment it fails
over the run so far (checked once a second, ``evaluate_so_far``); ``:abort:30s`` lets
it do so only from 30 s after the start, once a warm-up is over. Such a threshold is
judged at the end as every other.

Why it exists: the CLI must refuse a bad expression before the test (exit 2) and
judge a good one after it (exit 1 on failure). It must never read sockets or print:
it returns verdicts and the caller shows them.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gturret.errors import ThresholdError, UsageError
from gturret.figures import format_number

if TYPE_CHECKING:
    from gturret.hq.memory import MemorySummary
    from gturret.hq.stats import MetricSummary, Stats, Summary

_TIME_METRICS = {
    "p50": "p50_ms",
    "p90": "p90_ms",
    "p95": "p95_ms",
    "p99": "p99_ms",
    "p99.9": "p99_9_ms",
    "min": "min_ms",
    "mean": "mean_ms",
    "max": "max_ms",
}
_OTHER_METRICS = {"error_rate": "error_rate_pct", "tx_per_s": "tx_per_s"}
_LOOP_LAG_METRICS = {"loop_lag_p99": "p99_ms", "loop_lag_max": "max_ms"}
_MEMORY_METRICS = ("rss_max", "rss_growth")
_MEMORY_UNITS = {"MB": 1.0, "GB": 1024.0}
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_PATTERN = re.compile(
    r"(?:timer:(?P<timer>.+):)?"
    r"(?P<metric>[a-z_]+[0-9.]*)\s*"
    r"(?P<op><=|>=|<|>)\s*"
    r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*"
    r"(?P<unit>ms|s|%|/s|MB|GB)?"
)
#: Every metric a threshold may name, in the order the help and docs/hq.md list them.
METRICS = (*_TIME_METRICS, *_OTHER_METRICS, *_LOOP_LAG_METRICS, *_MEMORY_METRICS)
_KNOWN = ", ".join(METRICS)
#: Everything up to the last comparison operator: the limit and a suffix follow it.
_LAST_OPERATOR = re.compile(r".*(?:<=|>=|<|>)", re.DOTALL)
#: The turrets' own figures, never a timer's.
_TURRET_METRICS = (*_LOOP_LAG_METRICS, *_MEMORY_METRICS)


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed rule; ``limit`` is in ms for times, percent for error_rate, tx/s, MB
    for memory."""

    expression: str
    metric: str
    op: str
    limit: float
    timer: str | None = None
    #: ``:abort``: failing while the test runs stops it (k6's ``abortOnFail``).
    abort: bool = False
    #: ``:abort:DELAY``: seconds from the start before it may stop the test.
    abort_after_s: float = 0.0

    @property
    def unit(self) -> str:
        if self.metric in _TIME_METRICS or self.metric in _LOOP_LAG_METRICS:
            return "ms"
        if self.metric in _MEMORY_METRICS:
            return "MB"
        return "%" if self.metric == "error_rate" else "tx/s"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one threshold; ``actual`` is None when there was no data."""

    threshold: Threshold
    passed: bool
    actual: float | None
    detail: str


def parse_threshold(text: str) -> Threshold:
    """Parse one expression; ThresholdError with a one-line reason if it is not one."""
    expression = text.strip()
    rule, abort, abort_after_s = _split_abort(expression, text)
    match = _PATTERN.fullmatch(rule)
    if match is None:
        raise ThresholdError(
            f"threshold {text!r} is not METRIC OP VALUE (e.g. p95<100ms, error_rate<1%, "
            f"tx_per_s>=50, timer:login:p99<=1s)"
        )
    metric, unit = match["metric"], match["unit"]
    limit = float(match["number"])
    if metric in _TURRET_METRICS and match["timer"] is not None:
        raise ThresholdError(f"threshold {text!r}: {metric} is the turrets', not a timer's")
    if metric in _TIME_METRICS or metric in _LOOP_LAG_METRICS:
        if unit not in ("ms", "s"):
            raise ThresholdError(f"threshold {text!r}: give {metric} a unit, ms or s")
        limit = limit * 1000.0 if unit == "s" else limit
    elif metric == "error_rate":
        if unit not in (None, "%"):
            raise ThresholdError(f"threshold {text!r}: error_rate is a percentage (e.g. <1%)")
    elif metric == "tx_per_s":
        if unit not in (None, "/s"):
            raise ThresholdError(f"threshold {text!r}: tx_per_s takes no unit (e.g. >=50)")
    elif metric in _MEMORY_METRICS:
        if unit not in _MEMORY_UNITS:
            raise ThresholdError(f"threshold {text!r}: give {metric} a unit, MB or GB")
        limit *= _MEMORY_UNITS[unit]
    else:
        raise ThresholdError(f"threshold {text!r}: unknown metric {metric!r} (known: {_KNOWN})")
    if not math.isfinite(limit):
        raise ThresholdError(f"threshold {text!r}: the limit must be a finite number")
    return Threshold(
        expression=expression,
        metric=metric,
        op=match["op"],
        limit=limit,
        timer=match["timer"],
        abort=abort,
        abort_after_s=abort_after_s,
    )


def _split_abort(expression: str, text: str) -> tuple[str, bool, float]:
    """The rule, whether it aborts and its delay: what follows the limit after a colon
    (the limit holds no colon; a timer's name, before the operator, may)."""
    operator_at = _LAST_OPERATOR.match(expression)
    tail_at = operator_at.end() if operator_at else 0
    colon = expression.find(":", tail_at)
    if colon < 0:
        return expression, False, 0.0
    rule, suffix = expression[:colon].rstrip(), expression[colon + 1 :].strip()
    action, _, delay = suffix.partition(":")
    if action.strip() != "abort":
        raise ThresholdError(
            f"threshold {text!r}: unknown suffix {':' + suffix!r} (known: :abort, :abort:30s)"
        )
    if not delay:
        return rule, True, 0.0
    from gturret.hq.options import parse_duration  # options parses thresholds: no cycle at import

    try:
        return rule, True, parse_duration(delay, name="the abort delay")
    except UsageError as exc:
        raise ThresholdError(f"threshold {text!r}: {exc}") from None


def parse_thresholds(texts: list[str] | tuple[str, ...]) -> tuple[Threshold, ...]:
    """Parse every ``--threshold``; the first bad one raises."""
    return tuple(parse_threshold(text) for text in texts)


def evaluate(threshold: Threshold, summary: Summary) -> Verdict:
    """Judge one threshold; a metric with no data fails (nothing was proven)."""
    if threshold.metric in _LOOP_LAG_METRICS:
        return _evaluate_loop_lag(threshold, summary)
    if threshold.metric in _MEMORY_METRICS:
        return _evaluate_memory(threshold, summary)
    target: MetricSummary | None
    if threshold.timer is None:
        target, label = summary.transaction, "transaction"
    else:
        target, label = summary.timers.get(threshold.timer), f"timer {threshold.timer!r}"
    if target is None or target.count == 0:
        return Verdict(threshold, False, None, f"{label} has no data")
    field = _TIME_METRICS.get(threshold.metric) or _OTHER_METRICS[threshold.metric]
    actual = getattr(target, field)
    if actual is None:
        return Verdict(threshold, False, None, f"{label} has no {threshold.metric}")
    passed = _OPERATORS[threshold.op](actual, threshold.limit)
    detail = (
        f"{label} {threshold.metric} = {actual:.3f} {threshold.unit} "
        f"(limit {threshold.op} {format_number(threshold.limit)} {threshold.unit})"
    )
    return Verdict(threshold, passed, float(actual), detail)


def _evaluate_loop_lag(threshold: Threshold, summary: Summary) -> Verdict:
    lag = summary.loop_lag
    if lag is None:
        return Verdict(threshold, False, None, "no turret reported its loop lag")
    actual: float = getattr(lag.overall, _LOOP_LAG_METRICS[threshold.metric])
    passed = _OPERATORS[threshold.op](actual, threshold.limit)
    limit = f"{threshold.op} {format_number(threshold.limit)} ms"
    detail = f"turrets' {threshold.metric} = {actual:.3f} ms (limit {limit})"
    return Verdict(threshold, passed, actual, detail)


def _evaluate_memory(threshold: Threshold, summary: Summary) -> Verdict:
    from gturret.hq.memory import MB  # judging only: a turret parses thresholds, never this

    memory = summary.memory
    if memory is None:
        return Verdict(threshold, False, None, "no turret reported its memory")
    if threshold.metric == "rss_max":
        worst = max(memory.turrets, key=lambda turret: turret.rss_highest)
        figure: int | None = worst.rss_highest
    else:
        worst = memory.turrets[0]
        figure = worst.growth
    if figure is None:
        return Verdict(threshold, False, None, "no turret reported its memory after the rampup")
    actual = figure / MB
    passed = _OPERATORS[threshold.op](actual, threshold.limit)
    limit = f"{threshold.op} {threshold.limit:g} MB"
    detail = f"turrets' {threshold.metric} = {actual:.1f} MB, turret {worst.label} (limit {limit})"
    return Verdict(threshold, passed, actual, detail)


def evaluate_all(thresholds: tuple[Threshold, ...], summary: Summary) -> tuple[Verdict, ...]:
    """Judge every threshold, in the order given."""
    return tuple(evaluate(threshold, summary) for threshold in thresholds)


def evaluate_so_far(
    thresholds: tuple[Threshold, ...],
    stats: Stats,
    elapsed_s: float,
    memory: Callable[[], MemorySummary | None] | None = None,
) -> tuple[Verdict, ...]:
    """Judge ``thresholds`` over the run so far: what ``stats`` holds ``elapsed_s``
    seconds after the start, by the same rules as at the end (``evaluate``).

    The session calls it once a second to stop a test on an ``:abort`` threshold,
    a live view to show each threshold passing or failing. Only what the thresholds
    name is computed (a percentile walks a histogram: the transaction's, a named
    timer's, the turrets' loop lag overall), so the cost is theirs alone;
    ``memory`` (the roster's) is called only for an ``rss_*`` threshold.
    """
    from gturret.hq.stats import LoopLagSummary, Summary, lag_figures

    named = {threshold.timer for threshold in thresholds if threshold.timer is not None}
    judged = {threshold.metric for threshold in thresholds if threshold.timer is None}
    recorder = stats.transaction
    lag = stats.loop_lag
    summary = Summary(
        duration_s=elapsed_s,
        transaction=(
            recorder.summarize(elapsed_s)
            if judged & set(_TIME_METRICS)
            else recorder.summarize_counts(elapsed_s)
        ),
        timers={
            name: stats.timers[name].summarize(elapsed_s) for name in named & set(stats.timers)
        },
        top_errors=(),
        error_kinds=0,
        series=(),
        results_by_turret={},
        timers_dropped=0,
        clamped=0,
        loop_lag=(
            LoopLagSummary(lag_figures(lag), {})
            if judged & set(_LOOP_LAG_METRICS) and lag.get_total_count()
            else None
        ),
        memory=memory() if memory is not None and judged & set(_MEMORY_METRICS) else None,
    )
    return evaluate_all(thresholds, summary)


def aborting(verdicts: tuple[Verdict, ...], elapsed_s: float) -> Verdict | None:
    """The first ``:abort`` threshold of ``verdicts`` (judged over the run so far) that
    failed on a measured figure, past its delay: the one that stops the test. A figure
    not measured yet (no transaction so far) is not a crossing."""
    for verdict in verdicts:
        threshold = verdict.threshold
        if (
            threshold.abort
            and not verdict.passed
            and verdict.actual is not None
            and elapsed_s >= threshold.abort_after_s
        ):
            return verdict
    return None
