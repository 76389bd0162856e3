"""Tell turret messages apart and check every field: status, result, interval, or neither.

Why it exists: the reference HQ sorts messages by looking for the substring
``status`` in the raw text and loses results whose error mentions it. We parse
(``wire.decode_message``) and decide by keys (``wire.is_status``/``wire.is_result``).
It must never raise on a message: whatever a turret sends, the HQ counts it.

Every field that reaches the roster or the statistics is checked here first, so
nothing after ``classify`` can fail or grow on what a turret sent: each number is of
its type, finite and in range (counts at most ``MAX_COUNT``, exact as floats; times
0 to ``MAX_SECONDS``), each text bounded (names, uuids, states), each collection
bounded (series, error texts, phases), and each histogram read header first in our
own layout (``gturret.hq.histograms``). An interval must add up: its transaction
series carries its count and errors, no series has more errors than values, a
histogram holds exactly its series' count, and the exact sum lies between count
times min and count times max. A message that fails a check is ``Unknown``, with a
``reason`` that is a fixed text (never text from the wire: the reasons are counted
by kind, and named in the verdict).

Two leniencies, on purpose. The reference turret (oct-turrets 0.2.8) pushes results
straight from its cannons without ``turret_name`` (five keys): those are results
all the same, accepted with ``turret_name`` None and counted apart. A custom timer
whose value is not a number of seconds in range (or whose name is too long) is left
out of that result and counted (``Result.bad_timers``); the transaction still counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from gturret.errors import WireError
from gturret.hq.histograms import INTERVAL_LAYOUT, LOOP_LAG_LAYOUT, read_histogram
from gturret.hq.ledger import SenderCounts
from gturret.wire import (
    INTERVAL_KIND,
    MAX_ERROR_TEXTS,
    MAX_TIMERS,
    RESULT_KEYS,
    SCHEDULE_LAG,
    SENDER,
    SEQ,
    TIMER_PREFIX,
    TRANSACTION,
    UNCORRECTED,
    decode_message,
    is_result,
    is_status,
)

#: The largest count a message may carry: every count stays exact as a float, so no
#: sum, rate or report can overflow.
MAX_COUNT = 2**53
#: The largest count of one series of one interval (a second of one turret): its
#: histogram's counts then add up in 64 bits without wrapping.
MAX_SERIES_COUNT = 2**32
#: The longest time a message may carry, in seconds (about 116 days); times above
#: the histograms' 1 h are counted as 1 h in the percentiles (``stats``).
MAX_SECONDS = 10_000_000.0
#: Loop-lag samples in one status (a turret samples 20 a second).
MAX_LAG_SAMPLES = 10_000_000
#: The longest turret name, custom timer name and uuid, state and script name.
MAX_NAME = 200
MAX_UUID = 100
MAX_STATE = 32
MAX_SCRIPT = 1000
#: Senders one status may name (a fleet's workers), and the counters each carries.
MAX_SENDERS = 1000
SENDER_COUNTERS = ("seq_sent", "replay_dropped", "replay_kept")
#: Phases in which a status may say canons were killed, and the longest phase name.
MAX_PHASES = 8
MAX_PHASE_NAME = 32
#: An interval's series: the transaction, a paced run's two, and the custom timers.
MAX_SERIES = MAX_TIMERS + 3
_SERIES_KEYS = frozenset({TRANSACTION, UNCORRECTED, SCHEDULE_LAG})
#: The counters a status may carry (docs/protocol.md): each, when present, a count.
_STATUS_COUNTS = frozenset(
    {"cannons", "canons", "canons_active"}
    | {f"results_{key}" for key in ("produced", "sent", "dropped", "queued")}
    | {f"canons_{key}" for key in ("spawned", "started", "failed", "completed")}
    | {f"pacing_{key}" for key in ("scheduled", "late", "dropped")}
    | {"canons_exhausted"}
)
#: Feeders a status may report, the longest feeder name, and exhausted times kept.
MAX_FEEDERS = 100
MAX_FEEDER_NAME = 100
MAX_FEEDER_EVENTS = 100

#: A turret's memory in a status (ours, when asked): each, when present, bytes.
_STATUS_MEMORY = frozenset({"rss_bytes", "rss_peak_bytes"})
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
class FeederReport:
    """One feeder of a turret (``gturret.feeders``): rows served, rows left (None: a
    mode that never runs out), times it ran out (epoch seconds, the first kept), and
    whether that ends the test (``on_exhausted: stop_test``)."""

    served: int
    left: int | None
    exhausted: int
    exhausted_at: tuple[float, ...]
    stop_test: bool


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
    #: The loop-lag histogram since the turret's last status (µs, ``LOOP_LAG_LAYOUT``).
    loop_lag: HdrHistogram | None = None
    #: The status answered our handshake (it carries gturret's protocol version).
    speaks_gturret: bool = False
    #: The turret's resident memory now and at its highest, in bytes (ours, when asked).
    rss_bytes: int | None = None
    rss_peak_bytes: int | None = None
    #: Each sender's journal counters (seq_sent, replay_dropped, replay_kept), when asked.
    senders: dict[str, SenderCounts] | None = None
    #: Its feeders, by name (ours, when asked), and canons ended for want of rows.
    feeders: dict[str, FeederReport] = field(default_factory=dict)
    canons_exhausted: int | None = None

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
    #: Who pushed it and its number, when the HQ journals (``gturret.hq.ledger``).
    sender: str | None = None
    seq: int | None = None


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
    #: Who pushed it and its number, when the HQ journals (``gturret.hq.ledger``).
    sender: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """A message that is neither, or fails a check; ``reason`` says why in a fixed text
    (the same for every message of its kind: reasons are counted)."""

    reason: str


Message = Status | Result | Interval | Unknown


def classify(raw: bytes) -> Message:
    """Parse and check one raw message from the PULL socket."""
    try:
        message = decode_message(raw)
    except WireError:
        return Unknown("not a JSON object")
    if is_status(message):
        return _status(message)
    numbered = _numbered(message)
    if numbered is None:
        return Unknown("a data message whose sender or seq is malformed")
    if message.get(INTERVAL_KIND) == 1:
        return _interval(message, *numbered)
    keys = frozenset(message)
    if is_result(message) or keys in (_UNNAMED_RESULT_KEYS, _PACED_RESULT_KEYS):
        return _result(message, *numbered)
    return Unknown("a JSON object that is neither a status nor a result")


def _numbered(message: dict[str, Any]) -> tuple[str | None, int | None] | None:
    """Take ``sender`` and ``seq`` out of a data message: both or neither (None if
    malformed: a sender that is not short text, a seq that is not a count from 1)."""
    if SENDER not in message and SEQ not in message:
        return (None, None)
    sender, seq = message.pop(SENDER, None), message.pop(SEQ, None)
    if _text(sender, MAX_UUID) is None or isinstance(seq, bool) or not _count(seq):
        return None
    return sender, seq


def _count(value: Any, most: int = MAX_COUNT) -> int | None:
    """``value`` as a count in [0, ``most``], else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        return None
    return value


def _memory(value: Any) -> int | None:
    """Bytes of memory, if a count no machine exceeds (a huge one would overflow a float)."""
    count = _count(value)
    return count if count is not None and count <= MAX_MEMORY_BYTES else None


def _seconds(value: Any) -> float | None:
    """``value`` as a time in [0, ``MAX_SECONDS``] seconds, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and not 0 <= value <= MAX_SECONDS:
        return None
    number = float(value)
    return number if 0.0 <= number <= MAX_SECONDS else None


def _finite(value: Any) -> bool:
    """A number that a float holds (a clock reading: any sign, never NaN or infinite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return abs(value) <= MAX_COUNT
    return math.isfinite(value)


def _text(value: Any, longest: int) -> str | None:
    """``value`` as text of at most ``longest`` characters, else None."""
    return value if isinstance(value, str) and len(value) <= longest else None


def _status(message: dict[str, Any]) -> Message:
    uuid = _text(message["uuid"], MAX_UUID)
    status = _text(message["status"], MAX_STATE)
    if not uuid or status is None:
        return Unknown("a status whose uuid or state is not short text")
    name = message.get("turret")
    if name is None:
        name = uuid
    if _text(name, MAX_NAME) is None:
        return Unknown(f"a status whose turret name is not text of at most {MAX_NAME} characters")
    if any(_count(message[key]) is None for key in _STATUS_COUNTS.intersection(message)):
        return Unknown("a status with a counter that is not a count in range")
    if any(_memory(message[key]) is None for key in _STATUS_MEMORY.intersection(message)):
        return Unknown("a status whose memory is not a number of bytes in range")
    script = message.get("script")
    rampup = message.get("rampup")
    if rampup is not None and _seconds(rampup) is None:
        return Unknown("a status whose rampup is not seconds in range")
    killed = _killed(message.get("canons_killed"))
    if killed is None:
        return Unknown("a status whose canons_killed is malformed")
    feeders = _feeders(message.get("feeders"))
    if feeders is None:
        return Unknown("a status whose feeders are malformed")
    lag = message.get("loop_lag")
    loop_lag = None
    if lag is not None:
        loop_lag = _lag_histogram(lag)
        if loop_lag is None:
            return Unknown("a status whose loop_lag histogram is malformed or not of our layout")
    return Status(
        uuid=uuid,
        name=name,
        status=status,
        canons=_count(message.get("cannons", message.get("canons"))),
        canons_active=_count(message.get("canons_active")),
        script=_text(script, MAX_SCRIPT),
        rampup=_seconds(rampup),
        delivery=_delivery(message),
        canon_counts=_canon_counts(message, killed),
        pacing=_pacing(message),
        loop_lag=loop_lag,
        speaks_gturret=isinstance(message.get("gturret"), int),
        rss_bytes=_memory(message.get("rss_bytes")),
        rss_peak_bytes=_memory(message.get("rss_peak_bytes")),
        senders=_senders(message.get("senders")),
        feeders=feeders,
        canons_exhausted=_count(message.get("canons_exhausted")),
    )


def _senders(reported: Any) -> dict[str, SenderCounts] | None:
    """A status's ``senders`` map (docs/protocol.md, "Journal"); None if absent or
    malformed (then nothing is concluded from it), at most ``MAX_SENDERS`` of them."""
    if not isinstance(reported, dict) or len(reported) > MAX_SENDERS:
        return None
    senders = {}
    for sender, counters in reported.items():
        if _text(sender, MAX_UUID) is None or not isinstance(counters, dict):
            return None
        counts = [_count(counters.get(key)) for key in SENDER_COUNTERS]
        if any(count is None for count in counts):
            return None
        seq_sent, dropped, kept = (count or 0 for count in counts)
        senders[sender] = SenderCounts(seq_sent, dropped, kept)
    return senders


def _feeders(reported: Any) -> dict[str, FeederReport] | None:
    """Each feeder's report, every field checked; None if malformed."""
    if reported is None:
        return {}
    if not isinstance(reported, dict) or len(reported) > MAX_FEEDERS:
        return None
    feeders = {}
    for name, entry in reported.items():
        if len(name) > MAX_FEEDER_NAME or not isinstance(entry, dict):
            return None
        served, exhausted = _count(entry.get("served")), _count(entry.get("exhausted"))
        left = entry.get("left")
        times = entry.get("exhausted_at")
        stop_test = entry.get("stop_test")
        if (
            served is None
            or exhausted is None
            or (left is not None and _count(left) is None)
            or not isinstance(times, list)
            or len(times) > MAX_FEEDER_EVENTS
            or not all(_finite(at) and not isinstance(at, bool) for at in times)
            or not isinstance(stop_test, bool)
        ):
            return None
        feeders[name] = FeederReport(
            served, left, exhausted, tuple(float(at) for at in times), stop_test
        )
    return feeders


def _lag_histogram(encoded: Any) -> HdrHistogram | None:
    if not isinstance(encoded, str):
        return None
    histogram = read_histogram(encoded, LOOP_LAG_LAYOUT)
    if histogram is None or not 0 < histogram.get_total_count() <= MAX_LAG_SAMPLES:
        return None
    return histogram


def _killed(reported: Any) -> dict[str, tuple[int, float]] | None:
    """Canons killed by phase, as (count, longest seconds); None if malformed."""
    if reported is None:
        return {}
    if not isinstance(reported, dict) or len(reported) > MAX_PHASES:
        return None
    killed: dict[str, tuple[int, float]] = {}
    for phase, entry in reported.items():
        if len(phase) > MAX_PHASE_NAME or not isinstance(entry, dict):
            return None
        count, longest = _count(entry.get("count")), _seconds(entry.get("longest_s"))
        if count is None or longest is None:
            return None
        killed[phase] = (count, longest)
    return killed


def _interval(
    message: dict[str, Any], sender: str | None = None, seq: int | None = None
) -> Message:
    name = _text(message.get("turret_name"), MAX_NAME)
    count = _count(message.get("count"), MAX_SERIES_COUNT)
    errors = _count(message.get("errors"), MAX_SERIES_COUNT)
    texts, series_in = message.get("error_texts"), message.get("series")
    dropped = _count(message.get("timers_dropped", 0))
    if (
        name is None
        or count is None
        or errors is None
        or dropped is None
        or not isinstance(texts, dict)
        or not isinstance(series_in, dict)
        or not all(_seconds(message.get(key)) is not None for key in ("began_s", "ended_s"))
        or not _finite(message.get("epoch"))
    ):
        return Unknown("an interval whose turret name, counts, times or series are malformed")
    if errors > count:
        return Unknown("an interval with more errors than transactions")
    error_texts = _error_texts(texts, errors)
    if error_texts is None:
        return Unknown(
            "an interval whose error texts are malformed or add up to more than its errors"
        )
    series = _all_series(series_in)
    if series is None:
        return Unknown("an interval whose series are malformed or do not add up")
    transaction = series.get(TRANSACTION)
    if transaction is None or (transaction.count, transaction.errors) != (count, errors):
        return Unknown("an interval whose transaction series does not match its count and errors")
    return Interval(
        turret_name=name,
        count=count,
        errors=errors,
        error_texts=error_texts,
        series=series,
        timers_dropped=dropped,
        sender=sender,
        seq=seq,
    )


def _error_texts(texts: dict[str, Any], errors: int) -> dict[str, int] | None:
    """Failed transactions by text, if they are counts adding up to at most ``errors``."""
    if len(texts) > MAX_ERROR_TEXTS + 1:
        return None
    counts = {text: _count(n, MAX_SERIES_COUNT) for text, n in texts.items()}
    checked = {text: n for text, n in counts.items() if n is not None}
    if len(checked) != len(counts) or sum(checked.values()) > errors:
        return None
    return checked


def _all_series(series_in: dict[str, Any]) -> dict[str, SeriesData] | None:
    if len(series_in) > MAX_SERIES:
        return None
    series = {}
    for key, data in series_in.items():
        known = key in _SERIES_KEYS or (
            key.startswith(TIMER_PREFIX) and len(key) <= len(TIMER_PREFIX) + MAX_NAME
        )
        parsed = _series(data) if known else None
        if parsed is None:
            return None
        series[key] = parsed
    return series


def _series(data: Any) -> SeriesData | None:
    """One series, if its figures are in range and agree with each other."""
    if not isinstance(data, dict):
        return None
    count = _count(data.get("count"), MAX_SERIES_COUNT)
    errors = _count(data.get("errors"), MAX_SERIES_COUNT)
    if count is None or errors is None or errors > count:
        return None
    if count == 0:
        return SeriesData(0, errors, 0, 0, 0, None)
    most_us = int(MAX_SECONDS * 1_000_000)
    low, high = _count(data.get("min_us"), most_us), _count(data.get("max_us"), most_us)
    total = _count(data.get("sum_us"), MAX_SERIES_COUNT * most_us)
    if low is None or high is None or total is None:
        return None
    if not low <= high or not count * low <= total <= count * high:
        return None
    encoded = data.get("histogram")
    histogram = read_histogram(encoded, INTERVAL_LAYOUT) if isinstance(encoded, str) else None
    if histogram is None or histogram.get_total_count() != count:
        return None
    return SeriesData(count, errors, low, high, total, histogram)


def _pacing(message: dict[str, Any]) -> Pacing | None:
    """The pacing counters of a paced run (None while nothing was scheduled)."""
    counts = [_count(message.get(f"pacing_{key}")) for key in ("scheduled", "late", "dropped")]
    if any(count is None for count in counts) or not counts[0]:
        return None
    scheduled, late, dropped = (count or 0 for count in counts)
    return Pacing(scheduled, late, dropped)


def _canon_counts(
    message: dict[str, Any], killed: dict[str, tuple[int, float]]
) -> CanonCounts | None:
    """The canon counters, if the turret sent them as counts."""
    counts = [
        _count(message.get(f"canons_{key}"))
        for key in ("spawned", "started", "failed", "completed")
    ]
    if any(count is None for count in counts):
        return None
    spawned, started, failed, completed = (count or 0 for count in counts)
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


def _result(message: dict[str, Any], sender: str | None = None, seq: int | None = None) -> Message:
    scriptrun_time = _seconds(message["scriptrun_time"])
    if scriptrun_time is None:
        return Unknown(f"a result whose scriptrun_time is not seconds in [0, {MAX_SECONDS:g}]")
    if not _finite(message["elapsed"]) or not _finite(message["epoch"]):
        return Unknown("a result whose elapsed or epoch is not a finite number")
    error = message["error"]
    if error is None:
        error = ""
    if not isinstance(error, str):
        return Unknown("a result whose error is not text")
    turret_name = message.get("turret_name")
    if turret_name is not None and _text(turret_name, MAX_NAME) is None:
        return Unknown(f"a result whose turret name is not text of at most {MAX_NAME} characters")
    timers_in = message["custom_timers"]
    if not isinstance(timers_in, dict):
        return Unknown("a result whose custom_timers is not an object")
    timers: dict[str, float] = {}
    bad_timers = 0
    for name, value in timers_in.items():
        seconds = _seconds(value)
        if seconds is None or len(name) > MAX_NAME:
            bad_timers += 1
            continue
        timers[name] = seconds
    uncorrected = message.get(UNCORRECTED)
    if uncorrected is not None and _seconds(uncorrected) is None:
        return Unknown("a result whose uncorrected_time is not seconds in range")
    return Result(
        turret_name=turret_name,
        scriptrun_time=scriptrun_time,
        error=error,
        custom_timers=timers,
        bad_timers=bad_timers,
        uncorrected=_seconds(uncorrected),
        sender=sender,
        seq=seq,
    )
