"""Encode and decode every message of the OCT wire contract (PROTOCOL.md).

Pure functions on bytes and plain values: no sockets, no clock, no logging, so the
exact bytes the HQ sees are tested on their own. It must never accept a command it
cannot read (it raises WireError) and never emit a result the reference HQ would
misfile as a status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ujson

from gturret.errors import WireError

RESULT_KEYS = ("turret_name", "elapsed", "epoch", "scriptrun_time", "error", "custom_timers")

# The reference HQ tells a status from a result by looking for this substring in the
# raw text. JSON lets us spell the same string without it: "st\u0061tus" decodes to
# "status". Only string contents can hold it (no result key does), and a backslash
# before it is always escaped itself ("\\status"), so the swap never changes meaning.
_STATUS = b"status"
_STATUS_ESCAPED = b"st\\u0061tus"


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


def encode_status(
    *,
    turret: str,
    status: str,
    uuid: str,
    rampup: int,
    script: str,
    cannons: int,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """A status message; ``extra`` keys ride along (the reference HQ ignores them)."""
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
    raw: bytes = ujson.dumps(
        {
            "turret_name": turret_name,
            "elapsed": elapsed,
            "epoch": epoch,
            "scriptrun_time": scriptrun_time,
            "error": error,
            "custom_timers": custom_timers,
        }
    ).encode()
    if _STATUS in raw:
        raw = raw.replace(_STATUS, _STATUS_ESCAPED)
    return raw


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
    """Tell a status from a result by its keys, never by substring (see PROTOCOL.md)."""
    return "status" in message and "uuid" in message


def is_result(message: dict[str, Any]) -> bool:
    """True when the message has exactly the six result keys."""
    return len(message) == len(RESULT_KEYS) and all(key in message for key in RESULT_KEYS)
