"""Statistics of one test: per transaction and per custom timer, and per second.

Why it exists: every number the summary, the thresholds and the reports show is
computed here, once. Percentiles come from HdrHistogram (3 significant digits,
values recorded in microseconds, 1 µs to 1 h); count, min, mean and max are kept
exactly beside it. It must never touch sockets, the clock or output: the caller
passes the time of each result, relative to the start of the test.

Memory is bounded: at most ``MAX_TIMERS`` custom timers and ``MAX_ERROR_KINDS``
distinct error texts are kept (the rest are counted), counts of at most
``MAX_TURRET_NAMES`` turret names and loop-lag histograms of at most
``MAX_LAG_TURRETS`` turrets (the rest are added up under ``OTHER_TURRETS``), and the
per-second series reuses one histogram, closing each second as time moves on. What
it is fed was checked by ``gturret.hq.messages`` (finite times in range, counts that
add up, histograms of this layout), so nothing here can fail on it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from gturret.hq.histograms import add, clear, percentiles
from gturret.hq.memory import MemorySummary
from gturret.hq.messages import Interval, Result, SeriesData
from gturret.looplag import lag_histogram
from gturret.wire import (
    HIGHEST_US,
    LOWEST_US,
    MAX_TIMERS,
    OTHER_ERRORS,
    SCHEDULE_LAG,
    SIGNIFICANT_DIGITS,
    TIMER_PREFIX,
    TRANSACTION,
    UNCORRECTED,
)

log = logging.getLogger(__name__)

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
#: Turret names with a transaction histogram of their own (``latency_by_turret``).
MAX_TURRET_HISTOGRAMS = 100
#: Turret names counted apart, and turrets with a loop-lag histogram of their own
#: (172 KB each); the rest are added up under ``OTHER_TURRETS``.
MAX_TURRET_NAMES = 1000
MAX_LAG_TURRETS = 100
OTHER_TURRETS = "(other turrets)"
MAX_ERROR_KINDS = 1000
ERROR_TEXT_LIMIT = 300
TOP_ERRORS = 10
_NO_SERIES = SeriesData(0, 0, 0, 0, 0, None)


def _histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """One row of the summary; times in milliseconds, None when count is 0."""

    name: str
    count: int
    errors: int
    error_rate_pct: float | None
    tx_per_s: float
    min_ms: float | None
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p99_9_ms: float | None
    max_ms: float | None


@dataclass(frozen=True, slots=True)
class SecondPoint:
    """One second of the test: second ``n`` covers [n, n+1) seconds after the start."""

    second: int
    tx: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    canons_active: int | None
    #: A paced run: p95 of the time in ``run()`` alone (``p95_ms`` counts from due).
    p95_uncorrected_ms: float | None = None
    p99_ms: float | None = None
    #: The p99 of the turrets' loop lag over the intervals they reported in this second.
    loop_lag_p99_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything measured, ready for the summary table, thresholds and reports."""

    duration_s: float
    transaction: MetricSummary
    timers: dict[str, MetricSummary]
    top_errors: tuple[tuple[str, int], ...]
    error_kinds: int
    series: tuple[SecondPoint, ...]
    results_by_turret: dict[str, int]
    timers_dropped: int
    clamped: int
    bad_timer_values: int = 0
    #: Results (transactions) of turret names past ``MAX_TURRET_NAMES``, counted under
    #: ``OTHER_TURRETS``.
    turrets_pooled: int = 0
    #: A paced run: ``run()`` alone, and how late transactions started.
    transaction_uncorrected: MetricSummary | None = None
    schedule_lag: MetricSummary | None = None
    loop_lag: LoopLagSummary | None = None
    #: Every error text kept (at most ``MAX_ERROR_KINDS``), the most frequent first.
    errors: tuple[tuple[str, int], ...] = ()
    #: The turrets' memory, from their statuses (the roster's, added by the run).
    memory: MemorySummary | None = None


@dataclass(frozen=True, slots=True)
class LagFigures:
    """One histogram of loop lag: its p99 and max, in ms."""

    p99_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class LoopLagSummary:
    """How late the turrets' loops woke up, all together and turret by turret."""

    overall: LagFigures
    turrets: dict[str, LagFigures]


class LatencyRecorder:
    """Count, errors, exact min/mean/max and an HdrHistogram for one metric."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.errors = 0
        self.clamped = 0
        self._total_s = 0.0
        self._min_s = float("inf")
        self._max_s = 0.0
        self._histogram = _histogram()

    @property
    def sum_s(self) -> float:
        """The sum of every time recorded, in seconds (exact, not from the histogram)."""
        return self._total_s

    def merge(self, series: SeriesData) -> None:
        """Add one interval's series (``gturret.aggregate``): exact counts, min, max and
        sum, and its histogram, which has this recorder's layout."""
        if not series.count or series.histogram is None:
            self.errors += series.errors
            return
        self.count += series.count
        self.errors += series.errors
        self._total_s += series.sum_us / 1_000_000
        self._min_s = min(self._min_s, series.min_us / 1_000_000)
        self._max_s = max(self._max_s, series.max_us / 1_000_000)
        add(self._histogram, series.histogram)

    def record(self, seconds: float, error: bool) -> None:
        self.count += 1
        self.errors += error
        self._total_s += seconds
        self._min_s = min(self._min_s, seconds)
        self._max_s = max(self._max_s, seconds)
        micros = round(seconds * 1_000_000)
        if micros > HIGHEST_US:
            self.clamped += 1
            micros = HIGHEST_US
        self._histogram.record_value(micros)

    def percentile_ms(self, percentile: float) -> float | None:
        """One percentile, held within the exact [min, max]; None with no data."""
        if not self.count:
            return None
        micros = percentiles(self._histogram, (percentile,))[percentile]
        return self._within_range(micros / 1000.0)

    def percentiles_ms(self, wanted: Sequence[float]) -> dict[float, float]:
        """Several percentiles in one pass over the histogram (``percentile_ms`` walks it
        once each: five times the work for five); empty with no data."""
        if not self.count:
            return {}
        values = percentiles(self._histogram, wanted)
        return {p: self._within_range(values[p] / 1000.0) for p in wanted}

    def _within_range(self, value_ms: float) -> float:
        return min(max(value_ms, self._min_s * 1000.0), self._max_s * 1000.0)

    def rate(self, duration_s: float) -> float:
        """Per second over ``duration_s``: the summary's tx/s, and the progress line's."""
        return self.count / duration_s if duration_s > 0 else 0.0

    def summarize_counts(self, duration_s: float) -> MetricSummary:
        """Count, errors and rate alone: a summary with no percentile walked."""
        rate = self.rate(duration_s)
        error_rate = 100.0 * self.errors / self.count if self.count else None
        return MetricSummary(self.name, self.count, self.errors, error_rate, rate, *([None] * 8))

    def summarize(self, duration_s: float) -> MetricSummary:
        rate = self.rate(duration_s)
        if not self.count:
            return MetricSummary(self.name, 0, 0, None, rate, *([None] * 8))
        values = percentiles(self._histogram, PERCENTILES)
        p50, p90, p95, p99, p999 = (
            self._within_range(values[percentile] / 1000.0) for percentile in PERCENTILES
        )
        return MetricSummary(
            name=self.name,
            count=self.count,
            errors=self.errors,
            error_rate_pct=100.0 * self.errors / self.count,
            tx_per_s=rate,
            min_ms=self._min_s * 1000.0,
            mean_ms=self._total_s / self.count * 1000.0,
            p50_ms=p50,
            p90_ms=p90,
            p95_ms=p95,
            p99_ms=p99,
            p99_9_ms=p999,
            max_ms=self._max_s * 1000.0,
        )


class SeriesRecorder:
    """Per-second counts and p50/p95, closing each second once time has passed it."""

    def __init__(self) -> None:
        self._points: list[SecondPoint] = []
        self._second = 0
        self._tx = 0
        self._errors = 0
        self._canons_active: int | None = None
        self._histogram = _histogram()
        self._uncorrected = _histogram()
        self._loop_lag = lag_histogram()

    def record(
        self, at_s: float, seconds: float, error: bool, uncorrected: float | None = None
    ) -> None:
        """A transaction that ended ``at_s`` seconds after the start (never earlier
        than the open second: late arrivals count in the second they arrive in)."""
        self._close_before(int(at_s))
        self._tx += 1
        self._errors += error
        self._histogram.record_value(min(round(seconds * 1_000_000), HIGHEST_US))
        if uncorrected is not None:
            self._uncorrected.record_value(min(round(uncorrected * 1_000_000), HIGHEST_US))

    def record_interval(self, at_s: float, interval: Interval) -> None:
        """An interval that arrived ``at_s`` seconds after the start: counted in the
        second it arrives in, as results are."""
        self._close_before(int(at_s))
        self._tx += interval.count
        self._errors += interval.errors
        for key, histogram in ((TRANSACTION, self._histogram), (UNCORRECTED, self._uncorrected)):
            series = interval.series.get(key)
            if series is not None and series.histogram is not None:
                add(histogram, series.histogram)

    def record_loop_lag(self, at_s: float, interval: HdrHistogram) -> None:
        """A turret's loop-lag histogram that arrived ``at_s`` seconds after the start."""
        self._close_before(int(at_s))
        add(self._loop_lag, interval)

    def advance(self, at_s: float, canons_active: int | None) -> None:
        """Close the seconds before ``at_s``; ``canons_active`` is the latest sample."""
        self._canons_active = canons_active
        self._close_before(int(at_s))

    def points(self) -> tuple[SecondPoint, ...]:
        """Every closed second, then the open one (which may cover less than 1 s)."""
        return (*self._points, self._current())

    def _current(self) -> SecondPoint:
        p50 = p95 = p99 = uncorrected = lag = None
        if self._tx:
            values = percentiles(self._histogram, (50.0, 95.0, 99.0))
            p50, p95, p99 = (values[p] / 1000.0 for p in (50.0, 95.0, 99.0))
        if self._uncorrected.get_total_count():
            uncorrected = percentiles(self._uncorrected, (95.0,))[95.0] / 1000.0
        if self._loop_lag.get_total_count():
            lag = percentiles(self._loop_lag, (99.0,))[99.0] / 1000.0
        return SecondPoint(
            self._second,
            self._tx,
            self._errors,
            p50,
            p95,
            self._canons_active,
            uncorrected,
            p99,
            lag,
        )

    def _close_before(self, second: int) -> None:
        if second <= self._second:
            return
        self._points.append(self._current())
        for empty in range(self._second + 1, second):
            self._points.append(SecondPoint(empty, 0, 0, None, None, self._canons_active))
        self._second = second
        self._tx = self._errors = 0
        for histogram in (self._histogram, self._uncorrected, self._loop_lag):
            if histogram.get_total_count():
                clear(histogram)


class Stats:
    """All the statistics of one test, fed one result at a time.

    ``latency_by_turret`` also keeps a transaction histogram per turret name (at most
    ``MAX_TURRET_HISTOGRAMS``), for the live metrics: one more histogram record per
    result, so it is kept only when someone watches (``--metrics-port``).
    """

    def __init__(self, *, latency_by_turret: bool = False) -> None:
        self.transaction = LatencyRecorder("transaction")
        self.transaction_by_turret: dict[str, LatencyRecorder] | None = (
            {} if latency_by_turret else None
        )
        self.timers: dict[str, LatencyRecorder] = {}
        self.series = SeriesRecorder()
        self._errors: Counter[str] = Counter()
        self._by_turret: Counter[str] = Counter()
        self._errors_by_turret: Counter[str] = Counter()
        self.timers_dropped = 0
        self.bad_timer_values = 0
        self.uncorrected = LatencyRecorder("transaction (uncorrected)")
        self.schedule_lag = LatencyRecorder("schedule lag")
        self.loop_lag = lag_histogram()
        self.loop_lag_by_turret: dict[str, HdrHistogram] = {}
        self.turrets_pooled = 0

    def _turret_name(self, name: str, results: int) -> str:
        """``name``, or ``OTHER_TURRETS`` once ``MAX_TURRET_NAMES`` names are counted."""
        if name in self._by_turret or len(self._by_turret) < MAX_TURRET_NAMES:
            return name
        self.turrets_pooled += results
        return OTHER_TURRETS

    def record(self, result: Result, at_s: float) -> None:
        """Count one result that arrived ``at_s`` seconds after the start."""
        failed = bool(result.error)
        self.transaction.record(result.scriptrun_time, failed)
        uncorrected = result.uncorrected
        if uncorrected is not None:
            self.uncorrected.record(uncorrected, failed)
            self.schedule_lag.record(max(0.0, result.scriptrun_time - uncorrected), False)
        self.series.record(at_s, result.scriptrun_time, failed, uncorrected)
        turret = self._turret_name(result.turret_name or "(unnamed)", 1)
        self._by_turret[turret] += 1
        self._errors_by_turret[turret] += failed
        if (recorder := self._turret_recorder(turret)) is not None:
            recorder.record(result.scriptrun_time, failed)
        self.bad_timer_values += result.bad_timers
        if failed:
            self._count_error(result.error)
        for name, seconds in result.custom_timers.items():
            recorder = self.timers.get(name)
            if recorder is None:
                if len(self.timers) >= MAX_TIMERS:
                    self.timers_dropped += 1
                    continue
                recorder = self.timers[name] = LatencyRecorder(name)
            recorder.record(seconds, failed)

    def record_interval(self, interval: Interval, at_s: float) -> None:
        """Count one turret's interval of aggregated results, exactly as its results
        one by one would have been (to histogram precision)."""
        series = interval.series
        self.transaction.merge(series.get(TRANSACTION) or _NO_SERIES)
        if UNCORRECTED in series:
            self.uncorrected.merge(series[UNCORRECTED])
            self.schedule_lag.merge(series.get(SCHEDULE_LAG) or _NO_SERIES)
        self.series.record_interval(at_s, interval)
        turret = self._turret_name(interval.turret_name, interval.count)
        self._by_turret[turret] += interval.count
        self._errors_by_turret[turret] += interval.errors
        if (recorder := self._turret_recorder(turret)) is not None:
            recorder.merge(series.get(TRANSACTION) or _NO_SERIES)
        for text, count in interval.error_texts.items():
            self._count_error(text, count)
        self.timers_dropped += interval.timers_dropped
        for key, data in series.items():
            if not key.startswith(TIMER_PREFIX):
                continue
            name = key[len(TIMER_PREFIX) :]
            recorder = self.timers.get(name)
            if recorder is None:
                if len(self.timers) >= MAX_TIMERS:
                    self.timers_dropped += data.count
                    continue
                recorder = self.timers[name] = LatencyRecorder(name)
            recorder.merge(data)

    def record_loop_lag(
        self, turret: str, interval: HdrHistogram, at_s: float | None = None
    ) -> None:
        """Add a turret's loop-lag histogram of one interval (in the second ``at_s``
        after the start, if the test has started); past ``MAX_LAG_TURRETS`` turrets,
        under ``OTHER_TURRETS``."""
        add(self.loop_lag, interval)
        if at_s is not None:
            self.series.record_loop_lag(at_s, interval)
        by_turret = self.loop_lag_by_turret
        if turret not in by_turret and len(by_turret) >= MAX_LAG_TURRETS:
            turret = OTHER_TURRETS
        histogram = by_turret.get(turret)
        if histogram is None:
            histogram = by_turret[turret] = lag_histogram()
        add(histogram, interval)

    def results_by_turret(self) -> dict[str, int]:
        """Results received so far, by turret name."""
        return dict(self._by_turret)

    def _turret_recorder(self, turret: str) -> LatencyRecorder | None:
        """The transaction histogram of ``turret`` if one is kept (or may be made)."""
        recorders = self.transaction_by_turret
        if recorders is None:
            return None
        recorder = recorders.get(turret)
        if recorder is None and len(recorders) < MAX_TURRET_HISTOGRAMS:
            recorder = recorders[turret] = LatencyRecorder(turret)
        return recorder

    def errors_by_turret(self) -> dict[str, int]:
        """Failed transactions received so far, by turret name."""
        return dict(self._errors_by_turret)

    def _count_error(self, error: str, count: int = 1) -> None:
        text = error if len(error) <= ERROR_TEXT_LIMIT else error[:ERROR_TEXT_LIMIT] + "…"
        if text not in self._errors and len(self._errors) >= MAX_ERROR_KINDS:
            text = OTHER_ERRORS
        self._errors[text] += count

    def summarize(self, duration_s: float, *, lag_by_turret: bool = True) -> Summary:
        """Freeze everything into a Summary; ``duration_s`` is start → stop.

        ``lag_by_turret=False`` leaves each turret's loop-lag figures out (a walk of a
        histogram per turret, for a live view that refreshes them less often)."""
        timers = {name: self.timers[name].summarize(duration_s) for name in sorted(self.timers)}
        clamped = self.transaction.clamped + sum(t.clamped for t in self.timers.values())
        if clamped:
            log.warning("%d times above 1 h were counted as 1 h in the percentiles", clamped)
        return Summary(
            duration_s=duration_s,
            transaction=self.transaction.summarize(duration_s),
            timers=timers,
            top_errors=tuple(self._errors.most_common(TOP_ERRORS)),
            error_kinds=len(self._errors),
            errors=tuple(self._errors.most_common()),
            series=self.series.points(),
            results_by_turret=dict(sorted(self._by_turret.items())),
            timers_dropped=self.timers_dropped,
            clamped=clamped,
            bad_timer_values=self.bad_timer_values,
            turrets_pooled=self.turrets_pooled,
            transaction_uncorrected=(
                self.uncorrected.summarize(duration_s) if self.uncorrected.count else None
            ),
            schedule_lag=(
                self.schedule_lag.summarize(duration_s) if self.schedule_lag.count else None
            ),
            loop_lag=self._loop_lag_summary(lag_by_turret),
        )

    def _loop_lag_summary(self, by_turret: bool) -> LoopLagSummary | None:
        if not self.loop_lag.get_total_count():
            return None
        turrets = sorted(self.loop_lag_by_turret.items()) if by_turret else ()
        return LoopLagSummary(
            lag_figures(self.loop_lag), {name: lag_figures(h) for name, h in turrets}
        )


def lag_figures(histogram: HdrHistogram) -> LagFigures:
    """The p99 and max of a loop-lag histogram (the summary's, and a live judge's)."""
    return LagFigures(
        percentiles(histogram, (99.0,))[99.0] / 1000.0, histogram.get_max_value() / 1000.0
    )
