"""Each turret's memory over a test: after the rampup, at the end, its highest, a leak.

Why it exists: a script that keeps something per transaction (a list it appends to,
a cache without bound) grows its turret until the machine swaps or the kernel kills
it, long after the figures stopped meaning anything. Our turrets report their
resident memory (``rss_bytes``, ``rss_peak_bytes``) in every status to our HQ, and
this module keeps, per turret and in fixed memory, what the summary, the report and
the ``rss_max``/``rss_growth`` thresholds need.

Only statuses that say ``running`` during the test count. The baseline is the first
of them at least the rampup after the turret's first: canons, their connections and
their imports are all there by then, so what comes after is the test's own growth.

A turret **keeps growing** (the summary's warning) when all of these hold:

- its memory at the end is at least ``LEAK_MIN_BYTES`` (50 MB) and ``LEAK_MIN_SHARE``
  (25 %) above the baseline: small turrets drift by a few MB (arenas, pools, the
  outbox), and a large fleet by a few percent, with nothing wrong;
- over its last ``RISING_STATUSES`` (5) statuses it never went down and ended higher
  than it began: a turret that grew while warming up (caches filling, connections
  opening) and then held steady is not leaking, one still climbing at the stop is.

It cannot tell a leak from a test that was meant to grow; the threshold
``rss_growth`` decides what is allowed. It must never read sockets or print.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

#: Growth since the baseline below which a turret is never said to leak.
LEAK_MIN_BYTES = 50 * 2**20
#: ... and the share of its baseline the growth must reach too.
LEAK_MIN_SHARE = 0.25
#: Statuses at the end over which the memory must still be rising.
RISING_STATUSES = 5
#: The byte count of the ``MB`` in the summary, the report and the thresholds.
MB = 2**20


@dataclass(slots=True)
class MemoryTrack:
    """One turret's memory in this test, as its ``running`` statuses said."""

    first_at: float | None = None
    baseline: int | None = None
    last: int | None = None
    highest: int = 0
    peak: int | None = None
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=RISING_STATUSES))

    def observe(self, rss: int, peak: int | None, now: float, rampup: float) -> None:
        """A ``running`` status's memory at ``now``; ``rampup``: seconds before the baseline."""
        if self.first_at is None:
            self.first_at = now
        self.last = rss
        self.highest = max(self.highest, rss)
        self.peak = peak if peak is not None else self.peak
        if self.baseline is None:
            if now - self.first_at < rampup:
                return
            self.baseline = rss
        self.recent.append(rss)

    @property
    def growth(self) -> int | None:
        """Bytes gained from the baseline to the last status (None: no baseline yet)."""
        if self.baseline is None or self.last is None:
            return None
        return self.last - self.baseline

    @property
    def leaking(self) -> bool:
        """It keeps growing, by the rule of the module docstring."""
        growth = self.growth
        if growth is None or self.baseline is None or len(self.recent) < RISING_STATUSES:
            return False
        rising = all(b >= a for a, b in pairwise(self.recent)) and self.recent[-1] > self.recent[0]
        return rising and growth >= LEAK_MIN_BYTES and growth >= LEAK_MIN_SHARE * self.baseline


@dataclass(frozen=True, slots=True)
class TurretMemory:
    """One turret's memory for the summary and the report, in bytes."""

    label: str
    rss_end: int
    rss_highest: int
    rss_peak: int | None
    baseline: int | None
    growth: int | None
    leaking: bool


@dataclass(frozen=True, slots=True)
class MemorySummary:
    """The memory of every turret that reported it, the largest growth first."""

    turrets: tuple[TurretMemory, ...]

    @property
    def rss_max(self) -> int:
        """The highest memory any turret reported while running."""
        return max(turret.rss_highest for turret in self.turrets)

    @property
    def growth_max(self) -> int | None:
        """The largest growth of a turret since its baseline (None: none had one)."""
        growths = [turret.growth for turret in self.turrets if turret.growth is not None]
        return max(growths) if growths else None

    @property
    def leaking(self) -> tuple[TurretMemory, ...]:
        return tuple(turret for turret in self.turrets if turret.leaking)


def summarize(tracks: Iterable[tuple[str, MemoryTrack]]) -> MemorySummary | None:
    """The memory of ``(label, track)`` pairs; None when no turret reported any."""
    turrets = [
        TurretMemory(
            label, end, track.highest, track.peak, track.baseline, track.growth, track.leaking
        )
        for label, track in tracks
        if (end := track.last) is not None
    ]
    if not turrets:
        return None
    turrets.sort(
        key=lambda turret: -math.inf if turret.growth is None else turret.growth, reverse=True
    )
    return MemorySummary(tuple(turrets))


def megabytes(count: int) -> str:
    """``142 MB``, ``3.5 MB``: bytes as a person reads them (MB = 2**20 bytes)."""
    value = count / MB
    return f"{value:.0f} MB" if abs(value) >= 10 else f"{value:.1f} MB"


def leak_warning(turret: TurretMemory) -> str:
    """The summary's and the report's line about a turret that keeps growing."""
    growth, baseline = turret.growth or 0, turret.baseline or 1
    return (
        f"turret {turret.label} kept growing: +{megabytes(growth)} (+{100 * growth / baseline:.0f}"
        f" %) since the rampup, to {megabytes(turret.rss_end)}, and still rising over its last"
        f" {RISING_STATUSES} statuses: a leak in the script? (--threshold 'rss_growth<100MB'"
        " fails such a run)"
    )
