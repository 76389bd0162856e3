"""Encode and decode every message of the OCT wire contract (docs/protocol.md).

Pure functions on bytes and plain values: no sockets, no clock, no logging, so the
exact bytes the HQ sees are tested on their own. It must never accept a command it
cannot read (it raises WireError) and never emit a result the reference HQ would
misfile as a status.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import ujson

from gturret.errors import WireError

RESULT_KEYS = ("turret_name", "elapsed", "epoch", "scriptrun_time", "error", "custom_timers")
STATUS_KEYS = ("turret", "status", "uuid", "rampup", "script", "cannons")

#: Version of gturret's extensions to the OCT protocol (docs/protocol.md, "Handshake").
PROTOCOL_VERSION = 1
#: What an HQ may ask for in its ``status_request``: counters in every status, the
#: uncorrected time in each result of a paced run (docs/protocol.md) ...
WANT_COUNTERS = "counters"
WANT_UNCORRECTED = "uncorrected"
#: ... and aggregated results: one interval message a second instead of each result.
WANT_AGGREGATE = "aggregate"
#: ... and a journal: every data message carries its sender and sequence number, and
#: is kept until the HQ acknowledges it (the ``journal`` command).
WANT_JOURNAL = "journal"
#: The keys a journaled data message ends with (docs/protocol.md, "Journal").
SENDER = "sender"
SEQ = "seq"
#: The key that marks an interval message (``gturret.aggregate``): never in a status
#: or a result.
INTERVAL_KIND = "gturret_interval"
#: An interval message's series names: the transaction, a paced run's schedule lag
#: (and ``UNCORRECTED``), and ``timer:NAME`` for each custom timer.
TRANSACTION = "transaction"
SCHEDULE_LAG = "schedule_lag"
TIMER_PREFIX = "timer:"
#: Its histograms' range (µs) and precision, the HQ's own too, so it adds them exactly.
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
#: Custom timers it keeps apart; more are counted as dropped.
MAX_TIMERS = 200
#: Error texts it keeps apart, how long each may be, and what the rest count under.
MAX_ERROR_TEXTS = 100
ERROR_TEXT_LIMIT = 300
OTHER_ERRORS = "(other errors)"
#: Seconds after its scheduled time from which a paced start counts as late
#: (the ``pacing_late`` counter of a status).
LATE_AFTER = 0.010

# The reference HQ tells a status from a result by looking for this substring in the
# raw text. JSON lets us spell the same string without it: "st\u0061tus" decodes to
# "status". Only string contents can hold it (no result key does), and a backslash
# before it is always escaped itself ("\\status"), so the swap never changes meaning.
_STATUS = "status"
_STATUS_ESCAPED = "st\\u0061tus"


class State(StrEnum):
    """A turret's state as its status messages spell it (oct-turrets capitalises some:
    compare ``status.lower()``)."""

    INIT = "init"
    READY = "ready"
    RUNNING = "running"
    KILLED = "killed"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class Command:
    """One command from the HQ: ``channel`` is "" for a broadcast, else a turret uuid."""

    channel: str
    name: str
    msg: Any


def decode_command(frame: bytes) -> Command:
    """Parse ``<channel> <json object>`` as the HQ publishes it."""
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"frame is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    channel, space, body = text.partition(" ")
    if not space:
        raise WireError("frame has no space between channel and JSON")
    try:
        payload = ujson.loads(body)
    except (ValueError, OverflowError) as exc:
        raise WireError(f"frame body is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise WireError(f"frame body is JSON {type(payload).__name__}, not an object")
    name = payload.get("command")
    if not isinstance(name, str):
        raise WireError("frame has no string 'command'")
    return Command(channel=channel, name=name, msg=payload.get("msg"))


def encode_command(name: str, msg: Any = None, channel: str = "") -> bytes:
    """Build a command frame exactly as the reference HQ publishes it."""
    return f"{channel} {ujson.dumps({'command': name, 'msg': msg})}".encode()


def status_request_msg(*wants: str) -> dict[str, Any]:
    """The ``msg`` of a ``status_request`` from an HQ that speaks gturret's extensions."""
    return {"gturret": PROTOCOL_VERSION, "want": list(wants)}


@dataclass(frozen=True, slots=True)
class StartOrder:
    """What a ``start`` from an HQ of ours may add to the plain order.

    ``start_at``: the wall-clock time (epoch seconds) the whole fleet starts at, so
    rampups line up across machines; ``rampup``: the fleet's rampup, which every
    turret spreads its own canons over; ``ramp_phase``: where in one rampup step this
    turret's canons fall (in [0, 1)), so the fleet's canons interleave;
    ``arrival_rate``: this turret's share of the fleet's rate; ``canons_at``: where
    this turret's canons sit among the fleet's, ``(first, total)``, which places its
    share of each fleet feeder's rows (docs/feeders.md). Each is None (or 0.0) when
    absent, which is all the reference HQ's ``"open fire"`` ever gives.
    """

    start_at: float | None = None
    rampup: float | None = None
    ramp_phase: float = 0.0
    arrival_rate: float | None = None
    canons_at: tuple[int, int] | None = None


def start_order_msg(order: StartOrder) -> dict[str, Any]:
    """The ``msg`` of a start order with gturret's additions (only those given)."""
    msg: dict[str, Any] = {"gturret": PROTOCOL_VERSION}
    if order.start_at is not None:
        msg["start_at"] = round(order.start_at, 6)
    if order.rampup is not None:
        msg["rampup"] = order.rampup
    if order.ramp_phase:
        msg["ramp_phase"] = order.ramp_phase
    if order.arrival_rate is not None:
        msg["arrival_rate"] = order.arrival_rate
    if order.canons_at is not None:
        msg["canons_at"] = list(order.canons_at)
    return msg


def decode_start(msg: Any) -> StartOrder:
    """Read a start's ``msg``: the additions that are well formed, the rest ignored.

    A running turret must never fail on a start it cannot read in full, so a field
    of the wrong type or out of range counts as absent. Numbers are not capped here:
    an integer too large for a float reads as the largest float, for the turret to
    cap to its own limits (and say so).
    """
    if not isinstance(msg, dict) or not isinstance(msg.get("gturret"), int):
        return StartOrder()
    start_at = _number(msg.get("start_at"), low=0.0)
    rampup = _number(msg.get("rampup"), low=0.0)
    phase = _number(msg.get("ramp_phase"), low=0.0)
    rate = _number(msg.get("arrival_rate"), low=0.0)
    return StartOrder(
        start_at=start_at,
        rampup=rampup,
        ramp_phase=phase if phase is not None and phase < 1.0 else 0.0,
        arrival_rate=rate,
        canons_at=_canons_at(msg.get("canons_at")),
    )


def _canons_at(value: Any) -> tuple[int, int] | None:
    """``[first, total]``: two whole numbers, ``first`` at most ``total`` (equal: no
    room left in the fleet's feeders for this turret); else None."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    first, total = value
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        return None
    return (first, total) if 0 <= first <= total and total > 0 else None


def _number(value: Any, *, low: float) -> float | None:
    """``value`` as a finite float >= ``low``, else None (a 400-digit integer: the
    largest float of its sign, never an OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        number = sys.float_info.max if value > 0 else -sys.float_info.max
    return number if low <= number < math.inf else None


@dataclass(frozen=True, slots=True)
class JournalOrder:
    """A ``journal`` command: what the HQ holds of each sender, and whether to resend.

    ``acked[sender]`` is the highest seq N such that the HQ has committed every seq
    <= N of that sender; ``resend`` asks each sender for everything it keeps above it.
    """

    acked: dict[str, int]
    resend: bool = False

    def acked_of(self, sender: str) -> int:
        """The highest seq the HQ holds of ``sender`` (0: none, or a sender it never heard)."""
        return self.acked.get(sender, 0)


def journal_msg(order: JournalOrder) -> dict[str, Any]:
    """The ``msg`` of a ``journal`` command."""
    return {"acked": dict(order.acked), "resend": order.resend}


def decode_journal(msg: Any) -> JournalOrder:
    """Read a ``journal`` command's ``msg``; WireError unless it is exactly the object
    of docs/protocol.md: ``acked`` an object of sender -> whole number >= 0, ``resend``
    a bool. Unlike a start order nothing is taken in part: an ack read wrong would
    drop data the HQ never got."""
    if not isinstance(msg, dict):
        raise WireError(f"journal with a {type(msg).__name__} msg, not an object")
    acked = msg.get("acked")
    if not isinstance(acked, dict):
        raise WireError(f"journal's 'acked' is a {type(acked).__name__}, not an object")
    for sender, seq in acked.items():
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise WireError(
                f"journal's 'acked' gives {sender[:80]!r} {str(seq)[:40]}, not a whole number >= 0"
            )
    resend = msg.get("resend")
    if not isinstance(resend, bool):
        raise WireError(f"journal's 'resend' is a {type(resend).__name__}, not true or false")
    return JournalOrder(acked=acked, resend=resend)


def journal_tail(sender: str) -> bytes:
    """The end of ``sender``'s journaled data messages, with ``%d`` for the seq: it
    replaces a message's closing brace (``numbered``)."""
    return _journal_tail(sender).encode()


def _journal_tail(sender: str) -> str:
    sender_text = json_text(sender).replace("%", "%%")
    return f',"{SENDER}":{sender_text},"{SEQ}":%d}}'


def numbered(frame: bytes, tail: bytes, seq: int) -> bytes:
    """A data message (a JSON object, not empty) with its sender and ``seq`` added as
    its last keys.

    Spliced onto the encoded bytes rather than encoded again: a result costs one
    copy, and the message's other bytes stay exactly as they were.
    """
    return frame[:-1] + tail % seq


#: gturret's steering commands: direct orders from an HQ of ours to one of our
#: turrets while it runs (docs/protocol.md, "Steering"); a reference turret never
#: gets them. ``set_arrival_rate``: the turret's new rate (transactions/s, its share
#: of the fleet's), from now on; ``set_canons``: the canons it runs from now on.
SET_ARRIVAL_RATE = "set_arrival_rate"
SET_CANONS = "set_canons"


def arrival_rate_msg(rate: float) -> dict[str, Any]:
    """The ``msg`` of a ``set_arrival_rate`` order."""
    return {"gturret": PROTOCOL_VERSION, "arrival_rate": rate}


def canons_msg(canons: int) -> dict[str, Any]:
    """The ``msg`` of a ``set_canons`` order."""
    return {"gturret": PROTOCOL_VERSION, "canons": canons}


def decode_arrival_rate(msg: Any) -> float | None:
    """The rate of a ``set_arrival_rate`` msg (finite, >= 0), or None if it has none."""
    if not isinstance(msg, dict) or not isinstance(msg.get("gturret"), int):
        return None
    return _number(msg.get("arrival_rate"), low=0.0)


def decode_canons(msg: Any) -> int | None:
    """The canons of a ``set_canons`` msg (a whole number >= 1), or None if it has none."""
    if not isinstance(msg, dict) or not isinstance(msg.get("gturret"), int):
        return None
    canons = msg.get("canons")
    if isinstance(canons, bool) or not isinstance(canons, int) or canons < 1:
        return None
    return canons


def hq_wants(msg: Any) -> frozenset[str]:
    """What a ``status_request``'s ``msg`` asks for beyond the six status keys.

    The reference HQ always sends ``null``: it gets nothing more, since one unknown
    key in a later status crashes it. Anything that is not our handshake object, or
    a ``want`` entry we do not know, asks for nothing.
    """
    if not isinstance(msg, dict) or not isinstance(msg.get("gturret"), int):
        return frozenset()
    wants = msg.get("want")
    if not isinstance(wants, list):
        return frozenset()
    return frozenset(want for want in wants if isinstance(want, str))


def encode_status(
    *,
    turret: str,
    status: str,
    uuid: str,
    rampup: float,
    script: str,
    cannons: int,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """A status message: the six keys, then ``extra`` only for an HQ that asked for it.

    Never pass ``extra`` to an HQ whose ``status_request`` did not ask (``hq_wants``):
    the reference HQ dies at the second status that carries an unknown key.
    """
    message: dict[str, Any] = {
        "turret": turret,
        "status": status,
        "uuid": uuid,
        "rampup": rampup,
        "script": script,
        "cannons": cannons,
    }
    if extra:
        message.update(extra)
    return ujson.dumps(message).encode()


def encode_result(
    turret_name: str,
    elapsed: float,
    epoch: float,
    scriptrun_time: float,
    error: str,
    custom_timers: dict[str, float],
) -> bytes:
    """A result message with exactly the six keys, never containing ``status`` raw."""
    return result_encoder(turret_name)((elapsed, epoch, scriptrun_time, error, custom_timers))


#: One finished transaction: (elapsed, epoch, scriptrun_time, error, custom_timers).
ResultRecord = (
    tuple[float, float, float, str, dict[str, float]]
    | tuple[float, float, float, str, dict[str, float], float]
)
#: The key our HQ may ask results of a paced run to add (``WANT_UNCORRECTED``).
UNCORRECTED = "uncorrected_time"


class ResultEncoder(Protocol):
    """Encodes one result record; given a ``seq`` (a journaling HQ), numbered too."""

    def __call__(self, record: ResultRecord, seq: int = 0) -> bytes: ...


def result_encoder(
    turret_name: str, *, uncorrected: bool = False, sender: str = ""
) -> ResultEncoder:
    """An encoder of result records for one turret: the turret's hot path.

    A record is (elapsed, epoch, scriptrun_time, error, timers), and for a paced run
    also the uncorrected time (``run()`` alone; ``scriptrun_time`` then counts from
    when the transaction was due). With ``uncorrected`` (an HQ of ours asked for
    it) that time rides as a seventh key; otherwise results keep the six keys.
    Called with a ``seq`` (> 0), the result ends with ``sender`` and that seq, as
    ``numbered`` would make it, in the same one formatting: a journaling HQ's
    results cost next to nothing more.

    Encoding is most of a turret's work per transaction, so the parts that never
    change (the keys, the turret's name) go into a template once, the times are
    printed by C-level ``%`` formatting (microseconds for the clock readings,
    nanoseconds for ``scriptrun_time``: about twice as fast as the shortest-repr
    float printing of ``repr`` or ``ujson``), and JSON-encoding and the ``status``
    check run only on an error text or timers that are actually there.
    """
    name = json_text(turret_name).replace("%", "%%")
    head = '{"turret_name":' + name + ',"elapsed":%.6f,"epoch":%.6f,"scriptrun_time":%.9f,'
    plain = head + '"error":%s,"custom_timers":%s'
    with_time = plain + ',"' + UNCORRECTED + '":%.9f'
    tail = _journal_tail(sender)
    template, template_numbered = (plain + "}").encode(), (plain + tail).encode()
    with_uncorrected, with_uncorrected_numbered = (
        (with_time + "}").encode(),
        (with_time + tail).encode(),
    )
    no_error = b'""'
    no_timers = b"{}"

    def encode(record: ResultRecord, seq: int = 0) -> bytes:
        error, timers = record[3], record[4]
        fields = (
            record[0],
            record[1],
            record[2],
            json_text(error).encode() if error else no_error,
            json_text(timers).encode() if timers else no_timers,
        )
        if uncorrected and len(record) == 6:
            if seq:
                return with_uncorrected_numbered % (*fields, record[5], seq)
            return with_uncorrected % (*fields, record[5])
        if seq:
            return template_numbered % (*fields, seq)
        return template % fields

    return encode


def json_text(value: Any) -> str:
    """JSON text of ``value`` in which the substring ``status`` never appears.

    For the reference HQ, which takes any message whose raw text contains ``status``
    for a status (docs/protocol.md).
    """
    text: str = ujson.dumps(value)
    return text.replace(_STATUS, _STATUS_ESCAPED) if _STATUS in text else text


def decode_message(raw: bytes) -> dict[str, Any]:
    """Parse one turret message (status or result) into a dict; WireError if not one."""
    try:
        message = ujson.loads(raw)
    except (ValueError, OverflowError) as exc:
        raise WireError(f"message is not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise WireError(f"message is JSON {type(message).__name__}, not an object")
    return message


def is_status(message: dict[str, Any]) -> bool:
    """Tell a status from a result by its keys, never by substring (see docs/protocol.md)."""
    return "status" in message and "uuid" in message


def is_result(message: dict[str, Any]) -> bool:
    """True when the message has exactly the six result keys."""
    return len(message) == len(RESULT_KEYS) and all(key in message for key in RESULT_KEYS)
