"""Messages a hostile or broken turret could send our HQ, built field by field.

``interval`` and ``status`` start from what our turret sends (``gturret.aggregate``,
docs/protocol.md) and take overrides, so each test changes one thing; the histogram
builders make encodings whose header says what a test wants (another layout, a
payload length that lies, a zlib bomb) without the hdrh package's checks.
"""

from __future__ import annotations

import base64
import json
import struct
import uuid as uuid_module
import zlib
from typing import Any

import zmq
from hdrh.histogram import HdrHistogram

from gturret.looplag import lag_histogram
from gturret.wire import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS

_OUTER = struct.Struct(">II")
_PAYLOAD = struct.Struct(">IIIIqqd")
_COMPRESSION_COOKIE = 0x1C849314
_ENCODING_COOKIE = 0x1C849313


def histogram_of(*micros: int, layout: tuple[int, int, int] | None = None) -> str:
    """An encoded histogram of ``micros`` in our layout (or ``layout``)."""
    histogram = HdrHistogram(*(layout or (LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)))
    for value in micros:
        histogram.record_value(value)
    encoded: bytes = histogram.encode()
    return encoded.decode()


def lag_of(*micros: int) -> str:
    """An encoded loop-lag histogram, as a turret's status carries it."""
    histogram = lag_histogram()
    for value in micros:
        histogram.record_value(value)
    encoded: bytes = histogram.encode()
    return encoded.decode()


def raw_histogram(
    counts: bytes,
    *,
    layout: tuple[int, int, int] = (LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS),
    declared: int | None = None,
) -> str:
    """An encoding whose varint stream is ``counts`` and whose header declares
    ``declared`` bytes of it (its true length by default)."""
    lowest, highest, digits = layout
    length = len(counts) if declared is None else declared
    head = _PAYLOAD.pack(_ENCODING_COOKIE, length, 0, digits, lowest, highest, 1.0)
    stream = zlib.compress(head + counts)
    return base64.b64encode(_OUTER.pack(_COMPRESSION_COOKIE, len(stream)) + stream).decode()


def zlib_bomb(megabytes: int, *, declared: int = 16) -> str:
    """An encoding of our layout whose stream inflates to ``megabytes`` MB of counts
    (zeros: a varint 0 each) while its header declares ``declared`` bytes."""
    head = _PAYLOAD.pack(
        _ENCODING_COOKIE, declared, 0, SIGNIFICANT_DIGITS, LOWEST_US, HIGHEST_US, 1.0
    )
    deflate = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [deflate.compress(head)]
    parts += [deflate.compress(chunk) for _ in range(megabytes)]
    parts.append(deflate.flush())
    stream = b"".join(parts)
    return base64.b64encode(_OUTER.pack(_COMPRESSION_COOKIE, len(stream)) + stream).decode()


def series(*micros: int, errors: int = 0, **overrides: Any) -> dict[str, Any]:
    """One series of an interval, as the turret computes it, with ``overrides``."""
    data: dict[str, Any] = {"count": len(micros), "errors": errors}
    if micros:
        data |= {
            "min_us": min(micros),
            "max_us": max(micros),
            "sum_us": sum(micros),
            "histogram": histogram_of(*micros),
        }
    return data | overrides


def interval(name: str = "fake", *micros: int, errors: int = 0, **overrides: Any) -> dict:
    """An interval message of ``micros`` (5 ms by default), with ``overrides``."""
    micros = micros or (5000,)
    message: dict[str, Any] = {
        "gturret_interval": 1,
        "turret_name": name,
        "began_s": 1.0,
        "ended_s": 2.0,
        "epoch": 1_795_853_821.5,
        "count": len(micros),
        "errors": errors,
        "error_texts": {"HTTP 503": errors} if errors else {},
        "timers_dropped": 0,
        "series": {"transaction": series(*micros, errors=errors)},
    }
    return message | overrides


def result(name: str = "fake", **overrides: Any) -> dict[str, Any]:
    """A result message with the six keys, with ``overrides``."""
    message = {
        "turret_name": name,
        "elapsed": 1.0,
        "epoch": 1_795_853_821.5,
        "scriptrun_time": 0.005,
        "error": "",
        "custom_timers": {},
    }
    return message | overrides


def status(state: str = "running", **overrides: Any) -> dict[str, Any]:
    """A status of a turret of ours (a fresh uuid each time), with ``overrides``."""
    message: dict[str, Any] = {
        "turret": "hostile",
        "status": state,
        "uuid": str(uuid_module.uuid4()),
        "rampup": 0,
        "script": "hostile.py",
        "cannons": 1,
        "gturret": 1,
    }
    return message | overrides


def encode(message: Any) -> bytes:
    """A message as JSON bytes, with integers of any size and NaN as Python writes them."""
    return json.dumps(message, separators=(",", ":")).encode()


class HostilePush:
    """A raw PUSH socket to an HQ's PULL port: sends whatever it is given."""

    def __init__(self, rc_port: int) -> None:
        self._context = zmq.Context()
        self._push = self._context.socket(zmq.PUSH)
        self._push.setsockopt(zmq.SNDHWM, 0)
        self._push.connect(f"tcp://127.0.0.1:{rc_port}")

    def send(self, *messages: Any) -> None:
        for message in messages:
            self._push.send(message if isinstance(message, bytes) else encode(message))

    def close(self) -> None:
        self._push.close(linger=5000)
        self._context.term()
