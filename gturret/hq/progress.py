"""The live progress line while a test runs.

On a terminal it is one line redrawn in place (carriage return, then "erase to end
of line"); anywhere else it is a plain line every ``plain_interval`` seconds, with
no carriage return at all, so logs and CI output stay readable. It must never
compute statistics: it is handed a snapshot and only formats and writes it. The
snapshot holds what the summary would say at that second (the same counts, and
tx/s over the whole elapsed time as the summary computes it), never a rate of its
own over the time since the last line, which showed 0.0 tx/s whenever no result
happened to arrive in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from gturret.figures import format_duration

TTY_INTERVAL = 0.5
_ERASE_LINE = "\x1b[K"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the line shows; None where it is not known."""

    elapsed_s: float
    run_time_s: float
    canons_active: int | None
    canons_total: int | None
    tx: int
    tx_per_s: float
    errors: int
    p95_ms: float | None


def _known(value: int | None) -> str:
    return "?" if value is None else str(value)


def format_line(snapshot: Snapshot) -> str:
    """One progress line, without any line ending."""
    p95 = "-" if snapshot.p95_ms is None else f"{snapshot.p95_ms:.1f} ms"
    return (
        f"{format_duration(snapshot.elapsed_s)}/{format_duration(snapshot.run_time_s)}"
        f"  canons {_known(snapshot.canons_active)}/{_known(snapshot.canons_total)}"
        f"  {snapshot.tx_per_s:.1f} tx/s  {snapshot.tx} tx  errors {snapshot.errors}  p95 {p95}"
    )


class Progress:
    """Writes snapshots to ``stream`` at the pace its kind (TTY or not) calls for."""

    def __init__(self, stream: TextIO, *, enabled: bool, plain_interval: float) -> None:
        self._stream = stream
        self._enabled = enabled
        self._tty = enabled and stream.isatty()
        self._interval = TTY_INTERVAL if self._tty else plain_interval
        self._last_shown: float | None = None
        self._drawn = False

    def due(self, elapsed_s: float) -> bool:
        """True when a new line should be shown now."""
        if not self._enabled:
            return False
        return self._last_shown is None or elapsed_s - self._last_shown >= self._interval

    def next_due(self, elapsed_s: float) -> float:
        """Seconds until the next line is due (a large number when disabled)."""
        if not self._enabled or self._last_shown is None:
            return 0.0 if self._enabled else 3600.0
        return max(0.0, self._last_shown + self._interval - elapsed_s)

    def show(self, snapshot: Snapshot) -> None:
        """Write one line and remember when."""
        if not self._enabled:
            return
        self._last_shown = snapshot.elapsed_s
        line = format_line(snapshot)
        if self._tty:
            self._stream.write(f"\r{line}{_ERASE_LINE}")
            self._drawn = True
        else:
            self._stream.write(f"progress {line}\n")
        self._stream.flush()

    def finish(self) -> None:
        """End the redrawn line so what follows starts on a fresh line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
