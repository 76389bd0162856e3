"""Tell turret messages apart and check their types: status, result, or neither.

Why it exists: the reference HQ sorts messages by looking for the substring
``status`` in the raw text and loses results whose error mentions it. We parse
(``wire.decode_message``) and decide by keys (``wire.is_status``/``wire.is_result``).
It must never raise on a message: whatever a turret sends, the HQ counts it.

Two leniencies, on purpose. The reference turret (oct-turrets 0.2.8) pushes results
straight from its cannons without ``turret_name`` (five keys): those are results
all the same, accepted with ``turret_name`` None and counted apart. A custom timer
whose value is not a finite number of seconds >= 0 is left out of that result and
counted (``Result.bad_timers``); the transaction itself still counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from gturret.aggregate import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS
from gturret.errors import WireError
from gturret.wire import (
    INTERVAL_KIND,
    RESULT_KEYS,
    UNCORRECTED,
    decode_message,
    is_result,
    is_status,
)

_UNNAMED_RESULT_KEYS = frozenset(RESULT_KEYS) - {"turret_name"}
#: More memory than any turret has (1 PiB): a status saying so is not believed.
MAX_MEMORY_BYTES = 2**50
_PACED_RESULT_KEYS = frozenset(RESULT_KEYS) | {UNCORRECTED}


@dataclass(frozen=True, slots=True)
class Pacing:
    """A paced turret's transactions of this test: scheduled, started late, dropped."""

    scheduled: int
    late: int
    dropped: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """A turret's own count of the results of the current (or last) test."""

    produced: int
    sent: int
    dropped: int
    queued: int


@dataclass(frozen=True, slots=True)
class CanonCounts:
    """A turret's canons in the current (or last) test.

    Spawned on the rampup schedule; started once the greenlet first ran; failed if
    its Transaction could not be built (those report an error result); completed
    once it finished a transaction; killed at the stop by phase as (count, longest
    seconds spent in that phase).
    """

    spawned: int
    started: int
    failed: int
    completed: int
    killed: dict[str, tuple[int, float]]

    @property
    def never_completed(self) -> int:
        """Spawned canons that built their Transaction but never finished one."""
        return max(0, self.spawned - self.failed - self.completed)

    @property
    def never_started(self) -> int:
        """Spawned canons whose greenlet never got to run: the turret's CPU was full."""
        return max(0, self.spawned - self.started)


@dataclass(frozen=True, slots=True)
class Status:
    """A turret's status; counters only when the turret sends them (when asked)."""

    uuid: str
    name: str
    status: str
    canons: int | None
    canons_active: int | None
    script: str | None
    rampup: float | None
    delivery: Delivery | None = None
    canon_counts: CanonCounts | None = None
    pacing: Pacing | None = None
    #: The loop-lag histogram since the turret's last status (HdrHistogram-encoded).
    loop_lag: str | None = None
    #: The status answered our handshake (it carries gturret's protocol version).
    speaks_gturret: bool = False
    #: The turret's resident memory now and at its highest, in bytes (ours, when asked).
    rss_bytes: int | None = None
    rss_peak_bytes: int | None = None

    @property
    def state(self) -> str:
        """The status folded to lower case: the reference turret says "Running"."""
        return self.status.lower()


@dataclass(frozen=True, slots=True)
class Result:
    """One finished transaction; times in seconds."""

    turret_name: str | None
    scriptrun_time: float
    error: str
    custom_timers: dict[str, float]
    bad_timers: int = 0
    #: A paced run: the time in ``run()`` alone (``scriptrun_time`` counts from when
    #: the transaction was due), when we asked for it.
    uncorrected: float | None = None


@dataclass(frozen=True, slots=True)
class SeriesData:
    """One series of an interval: count, errors, exact min/max/sum (µs), histogram
    (decoded once here, in the layout the HQ's own histograms have)."""

    count: int
    errors: int
    min_us: int
    max_us: int
    sum_us: int
    histogram: HdrHistogram | None


@dataclass(frozen=True, slots=True)
class Interval:
    """An interval of aggregated results from one turret (``gturret.aggregate``)."""

    turret_name: str
    count: int
    errors: int
    error_texts: dict[str, int]
    series: dict[str, SeriesData]
    timers_dropped: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """A message that is neither; ``reason`` says why, for the log."""

    reason: str


Message = Status | Result | Interval | Unknown


def classify(raw: bytes) -> Message:
    """Parse one raw message from the PULL socket."""
    try:
        message = decode_message(raw)
    except WireError as exc:
        return Unknown(str(exc))
    if is_status(message):
        return _status(message)
    if message.get(INTERVAL_KIND) == 1:
        return _interval(message)
    keys = frozenset(message)
    if is_result(message) or keys in (_UNNAMED_RESULT_KEYS, _PACED_RESULT_KEYS):
        return _result(message)
    shown = ", ".join(sorted(map(str, message))[:8])
    return Unknown(f"JSON object is neither a status nor a result (keys: {shown})")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _memory(value: Any) -> int | None:
    """Bytes of memory, if a count no machine exceeds (a huge one would overflow a float)."""
    count = _count(value)
    return count if count is not None and count <= MAX_MEMORY_BYTES else None


def _status(message: dict[str, Any]) -> Message:
    uuid, status = message["uuid"], message["status"]
    if not isinstance(uuid, str) or not uuid or not isinstance(status, str):
        return Unknown("status message whose uuid or status is not text")
    name = message.get("turret")
    script = message.get("script")
    return Status(
        uuid=uuid,
        name=name if isinstance(name, str) else uuid,
        status=status,
        canons=_count(message.get("cannons", message.get("canons"))),
        canons_active=_count(message.get("canons_active")),
        script=script if isinstance(script, str) else None,
        rampup=_number(message.get("rampup")),
        delivery=_delivery(message),
        canon_counts=_canon_counts(message),
        pacing=_pacing(message),
        loop_lag=lag if isinstance(lag := message.get("loop_lag"), str) else None,
        speaks_gturret=isinstance(message.get("gturret"), int),
        rss_bytes=_memory(message.get("rss_bytes")),
        rss_peak_bytes=_memory(message.get("rss_peak_bytes")),
    )


def _interval(message: dict[str, Any]) -> Message:
    name = message.get("turret_name")
    count, errors = _count(message.get("count")), _count(message.get("errors"))
    texts, series_in = message.get("error_texts"), message.get("series")
    if (
        not isinstance(name, str)
        or count is None
        or errors is None
        or not isinstance(texts, dict)
        or not isinstance(series_in, dict)
    ):
        return Unknown("interval message without its turret_name, counts or series")
    error_texts = {str(text): n for text, n in texts.items() if _count(n) is not None}
    series = {}
    for key, data in series_in.items():
        parsed = _series(data)
        if parsed is None:
            return Unknown(f"interval message whose series {key!r} is malformed")
        series[str(key)] = parsed
    return Interval(
        turret_name=name,
        count=count,
        errors=errors,
        error_texts=error_texts,
        series=series,
        timers_dropped=_count(message.get("timers_dropped")) or 0,
    )


def _series(data: Any) -> SeriesData | None:
    if not isinstance(data, dict):
        return None
    count, errors = _count(data.get("count")), _count(data.get("errors"))
    if count is None or errors is None:
        return None
    if count == 0:
        return SeriesData(0, errors, 0, 0, 0, None)
    figures = [_count(data.get(key)) for key in ("min_us", "max_us", "sum_us")]
    histogram = data.get("histogram")
    if any(figure is None for figure in figures) or not isinstance(histogram, str):
        return None
    decoded = _histogram(histogram)
    if decoded is None:
        return None
    low, high, total = (figure or 0 for figure in figures)
    return SeriesData(count, errors, low, high, total, decoded)


def _histogram(encoded: str) -> HdrHistogram | None:
    """An HdrHistogram in its standard encoding, if it has the layout of ours."""
    try:
        histogram = HdrHistogram.decode(encoded)
    except Exception:
        return None
    layout = (
        histogram.lowest_trackable_value,
        histogram.highest_trackable_value,
        histogram.significant_figures,
    )
    return histogram if layout == (LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS) else None


def _pacing(message: dict[str, Any]) -> Pacing | None:
    """The pacing counters of a paced run (None while nothing was scheduled)."""
    counts = [_count(message.get(f"pacing_{key}")) for key in ("scheduled", "late", "dropped")]
    if any(count is None for count in counts) or not counts[0]:
        return None
    scheduled, late, dropped = (count or 0 for count in counts)
    return Pacing(scheduled, late, dropped)


def _canon_counts(message: dict[str, Any]) -> CanonCounts | None:
    """The canon counters, if the turret sent them as counts."""
    counts = [
        _count(message.get(f"canons_{key}"))
        for key in ("spawned", "started", "failed", "completed")
    ]
    if any(count is None for count in counts):
        return None
    spawned, started, failed, completed = (count or 0 for count in counts)
    killed: dict[str, tuple[int, float]] = {}
    reported = message.get("canons_killed")
    if isinstance(reported, dict):
        for phase, entry in reported.items():
            if not isinstance(entry, dict):
                continue
            count, longest = _count(entry.get("count")), _number(entry.get("longest_s"))
            if count is not None and longest is not None:
                killed[str(phase)] = (count, longest)
    return CanonCounts(spawned, started, failed, completed, killed)


def _delivery(message: dict[str, Any]) -> Delivery | None:
    """The result counters, if the turret sent all four as counts."""
    counts = [
        _count(message.get(f"results_{key}")) for key in ("produced", "sent", "dropped", "queued")
    ]
    if any(count is None for count in counts):
        return None
    produced, sent, dropped, queued = (count or 0 for count in counts)
    return Delivery(produced, sent, dropped, queued)


def _result(message: dict[str, Any]) -> Message:
    scriptrun_time = _number(message["scriptrun_time"])
    if scriptrun_time is None or scriptrun_time < 0:
        return Unknown(f"result whose scriptrun_time is {message['scriptrun_time']!r}")
    error = message["error"]
    if error is None:
        error = ""
    if not isinstance(error, str):
        error = str(error)
    timers_in = message["custom_timers"]
    if not isinstance(timers_in, dict):
        return Unknown("result whose custom_timers is not an object")
    timers: dict[str, float] = {}
    bad_timers = 0
    for name, value in timers_in.items():
        seconds = _number(value)
        if seconds is None or seconds < 0:
            bad_timers += 1
            continue
        timers[str(name)] = seconds
    turret_name = message.get("turret_name")
    uncorrected = _number(message.get(UNCORRECTED))
    return Result(
        turret_name=turret_name if isinstance(turret_name, str) else None,
        scriptrun_time=scriptrun_time,
        error=error,
        custom_timers=timers,
        bad_timers=bad_timers,
        uncorrected=uncorrected if uncorrected is not None and uncorrected >= 0 else None,
    )
