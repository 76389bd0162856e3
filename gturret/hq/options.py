"""The settings of one HQ run, declared once, and the parsers for their text forms.

Why it exists: the ``gturret-hq`` CLI and the turret's ``--standalone`` mode both
build an :class:`HQOptions`; validation lives here so both get the same checks
and the same messages. It must never touch a socket or the clock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gturret.errors import UsageError, WireError
from gturret.hq.thresholds import Threshold
from gturret.wire import decode_message

LATE_START_MODES = {
    "direct": "context and start as direct orders to the turret's uuid (default)",
    "broadcast": "context and start broadcast again; running turrets ignore them. Use it "
    "when oct-turrets 0.2.8 turrets are in the fleet: any direct order, even one meant "
    "for another turret, makes them crash",
    "off": "never start a turret after the start, like the reference HQ",
}

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, *, name: str = "duration") -> float:
    """Seconds from ``"30s"``, ``"2m"``, ``"1h"``, ``"1m30s"``, ``"250ms"`` or plain ``"45"``."""
    compact = text.strip().replace(" ", "")
    try:
        seconds = float(compact)
    except ValueError:
        parts = _DURATION_PART.findall(compact)
        if not parts or "".join(number + unit for number, unit in parts) != compact:
            raise UsageError(
                f"{name} {text!r} is not a duration: use seconds (45), or 30s, 2m, 1h, 1m30s"
            ) from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{name} {text!r} must be a positive duration")
    return seconds


def parse_context(text: str) -> dict[str, Any]:
    """The ``--context`` JSON object handed to every Transaction."""
    try:
        return decode_message(text.encode())
    except WireError as exc:
        raise UsageError(f"--context: {exc}; give a JSON object, e.g. '{{}}'") from None


def format_duration(seconds: float) -> str:
    """``125.0`` → ``"2m5s"``: the short form used in logs and the summary."""
    whole = round(seconds)
    if abs(seconds - whole) > 0.05 or whole < 1:
        return f"{seconds:.1f}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


@dataclass(frozen=True, slots=True)
class HQOptions:
    """Everything one HQ run needs; ports 0 mean "any free port" (see ``on_bound``).

    ``out`` is where progress and the summary go (``None``: standard output).
    ``late_start`` is what a turret that reports ``ready`` during the run gets: see
    ``LATE_START_MODES``.
    """

    turrets: int = 1
    run_time: float = 30.0
    pub_port: int = 5000
    rc_port: int = 5001
    bind: str = "127.0.0.1"
    context: dict[str, Any] = field(default_factory=dict)
    thresholds: tuple[Threshold, ...] = ()
    json_path: Path | None = None
    html_path: Path | None = None
    wait_timeout: float = 60.0
    drain_timeout: float = 10.0
    late_start: str = "direct"
    status_interval: float = 1.0
    progress: bool = True
    progress_interval: float = 5.0
    out: TextIO | None = None

    def __post_init__(self) -> None:
        if self.turrets < 1:
            raise UsageError(f"turrets must be at least 1, not {self.turrets}")
        for name in ("pub_port", "rc_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise UsageError(f"{name} must be a TCP port (0-65535, 0: any free), not {port}")
        if self.pub_port and self.pub_port == self.rc_port:
            raise UsageError(f"the PUB and PULL ports must differ (both are {self.pub_port})")
        for name in (
            "run_time",
            "wait_timeout",
            "drain_timeout",
            "status_interval",
            "progress_interval",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise UsageError(f"{name} must be a positive number of seconds, not {value}")
        if self.late_start not in LATE_START_MODES:
            modes = ", ".join(LATE_START_MODES)
            raise UsageError(f"late_start must be one of {modes}, not {self.late_start!r}")
        if not self.bind:
            raise UsageError("bind must be an IP address, e.g. 127.0.0.1")


def plural(count: int, word: str) -> str:
    """``plural(1, "turret")`` → ``"1 turret"``; ``plural(3, "turret")`` → ``"3 turrets"``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
