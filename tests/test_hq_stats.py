"""Statistics math on known inputs: exact counts, HdrHistogram percentiles, series."""

from __future__ import annotations

import pytest

from gturret.hq import stats as stats_module
from gturret.hq.messages import Result
from gturret.hq.stats import LatencyRecorder, SeriesRecorder, Stats


def result(seconds: float, error: str = "", **timers: float) -> Result:
    return Result(turret_name="t", scriptrun_time=seconds, error=error, custom_timers=timers)


def test_one_to_a_thousand_milliseconds() -> None:
    recorder = LatencyRecorder("transaction")
    for ms in range(1, 1001):
        recorder.record(ms / 1000, error=ms % 100 == 0)
    summary = recorder.summarize(duration_s=10.0)
    assert summary.count == 1000
    assert summary.errors == 10
    assert summary.error_rate_pct == pytest.approx(1.0)
    assert summary.tx_per_s == pytest.approx(100.0)
    assert summary.min_ms == pytest.approx(1.0)
    assert summary.max_ms == pytest.approx(1000.0)
    assert summary.mean_ms == pytest.approx(500.5)
    # HdrHistogram with 3 significant digits: within 0.1 % of the exact rank value.
    for value, expected in (
        (summary.p50_ms, 500),
        (summary.p90_ms, 900),
        (summary.p95_ms, 950),
        (summary.p99_ms, 990),
        (summary.p99_9_ms, 999),
    ):
        assert value == pytest.approx(expected, rel=1e-3)


def test_percentiles_stay_within_min_and_max() -> None:
    recorder = LatencyRecorder("x")
    for _ in range(10):
        recorder.record(0.123456, error=False)
    summary = recorder.summarize(1.0)
    assert summary.min_ms == summary.max_ms == pytest.approx(123.456)
    assert summary.p50_ms == summary.p99_9_ms == pytest.approx(123.456)


def test_microsecond_resolution_and_zero() -> None:
    recorder = LatencyRecorder("fast")
    recorder.record(0.0, error=False)
    recorder.record(0.000_001, error=False)
    summary = recorder.summarize(1.0)
    assert summary.min_ms == 0.0
    assert summary.max_ms == pytest.approx(0.001)
    assert summary.p50_ms == 0.0


def test_times_above_an_hour_are_clamped_and_counted() -> None:
    recorder = LatencyRecorder("slow")
    recorder.record(7200.0, error=False)
    summary = recorder.summarize(1.0)
    assert recorder.clamped == 1
    assert summary.max_ms == pytest.approx(7_200_000.0)


def test_empty_metric_has_no_values() -> None:
    summary = LatencyRecorder("none").summarize(5.0)
    assert summary.count == 0
    assert summary.tx_per_s == 0.0
    assert summary.error_rate_pct is None and summary.p95_ms is None and summary.max_ms is None


def test_timers_errors_and_turrets() -> None:
    stats = Stats()
    stats.record(result(0.010, login=0.004), at_s=0.1)
    stats.record(result(0.020, "HTTP 503", login=0.006, search=0.01), at_s=0.2)
    stats.record(result(0.030, "HTTP 503"), at_s=0.3)
    stats.record(Result(None, 0.040, "timeout", {}), at_s=0.4)
    summary = stats.summarize(duration_s=2.0)
    assert summary.transaction.count == 4
    assert summary.transaction.errors == 3
    assert summary.transaction.tx_per_s == pytest.approx(2.0)
    assert summary.transaction.mean_ms == pytest.approx(25.0)
    assert list(summary.timers) == ["login", "search"]
    assert summary.timers["login"].count == 2
    assert summary.timers["login"].errors == 1
    assert summary.timers["login"].mean_ms == pytest.approx(5.0)
    assert summary.timers["search"].count == 1
    assert summary.top_errors == (("HTTP 503", 2), ("timeout", 1))
    assert summary.error_kinds == 2
    assert summary.results_by_turret == {"(unnamed)": 1, "t": 3}


def test_error_kinds_and_timers_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_module, "MAX_ERROR_KINDS", 3)
    monkeypatch.setattr(stats_module, "MAX_TIMERS", 2)
    stats = Stats()
    for i in range(5):
        stats.record(Result("t", 0.001, f"error {i}", {f"timer{i}": 0.001}), at_s=0.0)
    stats.record(Result("t", 0.001, "x" * 1000, {}), at_s=0.0)
    summary = stats.summarize(1.0)
    assert summary.error_kinds == 4
    assert dict(summary.top_errors)[stats_module.OTHER_ERRORS] == 3
    assert list(summary.timers) == ["timer0", "timer1"]
    assert summary.timers_dropped == 3


def test_latency_by_turret_is_kept_when_asked_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Stats().transaction_by_turret is None
    monkeypatch.setattr(stats_module, "MAX_TURRET_HISTOGRAMS", 2)
    stats = Stats(latency_by_turret=True)
    for name, seconds in (("a", 0.010), ("a", 0.030), ("b", 0.5), ("c", 1.0)):
        stats.record(Result(name, seconds, "", {}), at_s=0.0)
    by_turret = stats.transaction_by_turret
    assert by_turret is not None and sorted(by_turret) == ["a", "b"]
    assert by_turret["a"].count == 2 and by_turret["a"].sum_s == pytest.approx(0.040)
    assert by_turret["b"].percentiles_ms([50.0, 99.0]) == {50.0: 500.0, 99.0: 500.0}
    assert stats.errors_by_turret() == {"a": 0, "b": 0, "c": 0}
    assert stats.transaction.count == 4


def test_long_errors_are_truncated() -> None:
    stats = Stats()
    stats.record(Result("t", 0.001, "y" * 1000, {}), at_s=0.0)
    (text, count), *_ = stats.summarize(1.0).top_errors
    assert count == 1
    assert len(text) == stats_module.ERROR_TEXT_LIMIT + 1


def test_series_buckets_by_second_with_empty_seconds() -> None:
    series = SeriesRecorder()
    series.advance(0.0, canons_active=4)
    series.record(0.1, 0.010, error=False)
    series.record(0.9, 0.030, error=True)
    series.record(1.5, 0.020, error=False)
    series.advance(2.2, canons_active=2)
    series.record(3.7, 0.040, error=False)
    points = series.points()
    assert [p.second for p in points] == [0, 1, 2, 3]
    assert [p.tx for p in points] == [2, 1, 0, 1]
    assert [p.errors for p in points] == [1, 0, 0, 0]
    assert [p.canons_active for p in points] == [4, 2, 2, 2]
    assert points[0].p50_ms == pytest.approx(10.0, rel=1e-3)
    assert points[0].p95_ms == pytest.approx(30.0, rel=1e-3)
    assert points[2].p50_ms is None
    assert points[3].p95_ms == pytest.approx(40.0, rel=1e-3)


def test_series_unknown_canons_stay_unknown() -> None:
    series = SeriesRecorder()
    series.advance(0.5, canons_active=None)
    series.record(1.2, 0.001, error=False)
    assert [p.canons_active for p in series.points()] == [None, None]


def test_percentiles_of_a_known_distribution_within_histogram_precision():
    recorder = LatencyRecorder("uniform")
    for micros in range(1, 100_001):  # 1 µs .. 100 ms, evenly
        recorder.record(micros / 1_000_000, error=False)
    summary = recorder.summarize(10.0)
    for percentile, value in ((50, summary.p50_ms), (90, summary.p90_ms), (99, summary.p99_ms)):
        assert value == pytest.approx(percentile, rel=1e-3)
    assert summary.p99_9_ms == pytest.approx(99.9, rel=1e-3)


def test_no_percentile_ever_exceeds_the_max_nor_falls_below_the_min():
    recorder = LatencyRecorder("odd")
    for seconds in (0.0012345, 0.0012346, 0.0012347):
        recorder.record(seconds, error=False)
    summary = recorder.summarize(1.0)
    for value in (summary.p50_ms, summary.p90_ms, summary.p95_ms, summary.p99_ms, summary.p99_9_ms):
        assert summary.min_ms <= value <= summary.max_ms


def test_loop_lag_intervals_from_many_turrets_merge_exactly():
    from gturret.looplag import lag_histogram

    whole = lag_histogram()
    stats = Stats()
    for turret in ("a", "b"):
        for interval in range(3):
            part = lag_histogram()
            for micros in range(1, 2000, 7):
                value = micros * (interval + 1) + (5000 if turret == "b" else 0)
                part.record_value(value)
                whole.record_value(value)
            stats.record_loop_lag(turret, part)
    summary = stats.summarize(1.0).loop_lag
    assert summary is not None
    assert summary.overall.p99_ms == whole.get_value_at_percentile(99.0) / 1000.0
    assert summary.overall.max_ms == whole.get_max_value() / 1000.0
    assert set(summary.turrets) == {"a", "b"}
    assert summary.turrets["b"].max_ms == summary.overall.max_ms
