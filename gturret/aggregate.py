"""Aggregated results: one message per interval instead of one per transaction.

Why it exists: an HQ that decodes one JSON message per transaction tops out near
80,000 a second, so a few turrets saturate it, while a turret that need not send
every result accounts for far more. When an HQ of ours asks for it (the handshake's
``"aggregate"``), canons record each transaction here and the turret sends, once per
``INTERVAL``, what the interval held: counts, error texts (at most ``MAX_ERROR_TEXTS``
kinds, the rest as ``OTHER_ERRORS``), exact min, max and sum, and an HdrHistogram per
series (the transaction, each custom timer, and in a paced run the uncorrected times
and the schedule lag) in HdrHistogram's standard encoded form, so the HQ adds every
turret's intervals exactly.

Recording must cost a canon next to nothing: a time goes into an ``array`` as whole
microseconds (one C call); only when the interval closes are the values counted
(``collections.Counter``, in C) and the distinct ones put into histograms. Nothing
here may touch a socket; the link sends what ``take`` returns.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any

from hdrh.histogram import HdrHistogram

from gturret.wire import (
    ERROR_TEXT_LIMIT,
    HIGHEST_US,
    INTERVAL_KIND,
    LOWEST_US,
    MAX_ERROR_TEXTS,
    MAX_TIMERS,
    OTHER_ERRORS,
    SCHEDULE_LAG,
    SIGNIFICANT_DIGITS,
    TIMER_PREFIX,
    TRANSACTION,
    UNCORRECTED,
    json_text,
)

#: Seconds one interval covers.
INTERVAL = 1.0


class Series:
    """One series of one interval: its times (µs) and how many of them failed."""

    __slots__ = ("errors", "values")

    def __init__(self) -> None:
        self.values = array("q")
        self.errors = 0


class Interval:
    """Everything the canons recorded since the interval began."""

    def __init__(self, began_s: float) -> None:
        self.began_s = began_s
        self.transaction = Series()
        self.uncorrected = Series()
        self.schedule_lag = Series()
        self.timers: dict[str, Series] = {}
        self.error_texts: Counter[str] = Counter()
        self.timers_dropped = 0

    def error(self, text: str) -> None:
        """Count one failed transaction's text (bounded kinds)."""
        self.transaction.errors += 1
        text = text if len(text) <= ERROR_TEXT_LIMIT else text[:ERROR_TEXT_LIMIT] + "…"
        if text not in self.error_texts and len(self.error_texts) >= MAX_ERROR_TEXTS:
            text = OTHER_ERRORS
        self.error_texts[text] += 1

    def timers_of(self, timers: dict[str, float], failed: bool) -> None:
        """Record one transaction's custom timers (seconds)."""
        for name, seconds in timers.items():
            series = self.timers.get(name)
            if series is None:
                if len(self.timers) >= MAX_TIMERS:
                    self.timers_dropped += 1
                    continue
                series = self.timers[name] = Series()
            series.values.append(int(seconds * 1_000_000 + 0.5))
            series.errors += failed

    def paced(self, uncorrected_s: float, lag_s: float, failed: bool) -> None:
        """Record a paced transaction's uncorrected time and schedule lag (seconds)."""
        self.uncorrected.values.append(int(uncorrected_s * 1_000_000 + 0.5))
        self.uncorrected.errors += failed
        self.schedule_lag.values.append(int(lag_s * 1_000_000 + 0.5))

    @property
    def count(self) -> int:
        return len(self.transaction.values)

    def encode(self, turret_name: str, ended_s: float, epoch: float) -> bytes:
        """The interval message; its raw text never contains ``status`` (see wire)."""
        series: dict[str, dict[str, Any]] = {TRANSACTION: _series(self.transaction)}
        if self.uncorrected.values:
            series[UNCORRECTED] = _series(self.uncorrected)
            series[SCHEDULE_LAG] = _series(self.schedule_lag)
        for name, timer in self.timers.items():
            series[TIMER_PREFIX + name] = _series(timer)
        message = {
            INTERVAL_KIND: 1,
            "turret_name": turret_name,
            "began_s": round(self.began_s, 6),
            "ended_s": round(ended_s, 6),
            "epoch": round(epoch, 6),
            "count": self.count,
            "errors": self.transaction.errors,
            "error_texts": dict(self.error_texts),
            "timers_dropped": self.timers_dropped,
            "series": series,
        }
        return json_text(message).encode()


def _series(series: Series) -> dict[str, Any]:
    values = series.values
    if not values:
        return {"count": 0, "errors": series.errors}
    histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for micros, count in Counter(values).items():
        histogram.record_value(min(max(micros, LOWEST_US), HIGHEST_US), count)
    encoded: bytes = histogram.encode()
    return {
        "count": len(values),
        "errors": series.errors,
        "min_us": min(values),
        "max_us": max(values),
        "sum_us": sum(values),
        "histogram": encoded.decode("ascii"),
    }
