"""What the canons of one test count, declared once.

Why its own module: the battery and its canons increment these counts where things
happen, and the status is built from them (:class:`gturret.dispatch.StatusCounters`
extends :class:`CanonCounts`, so each field here is a status counter of the same
name). A new count is a field here and the line that increments it, nothing more.
It lives apart from :mod:`gturret.battery` so that :mod:`gturret.canon` can name it
without importing the battery. It must never compute anything: the canons' hot path
only adds to these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CanonCounts:
    """One test's canons: spawned on the rampup schedule, started once the greenlet
    first ran, failed if the Transaction could not be built, completed once a
    transaction finished; ``canons_killed`` maps a phase to the canons killed there
    at the stop and the longest time one had spent in it. In the open model,
    ``pacing_*`` count the transactions scheduled, those started late and those
    dropped for being too late. ``canons_exhausted`` counts the canons ended because a
    ``unique`` feeder had no row left for them (:mod:`gturret.feeders`); one that ran
    out before its first transaction ended counts as completed: its work is done."""

    canons_spawned: int = 0
    canons_started: int = 0
    canons_failed: int = 0
    canons_completed: int = 0
    canons_killed: dict[str, dict[str, float]] = field(default_factory=dict)
    pacing_scheduled: int = 0
    pacing_late: int = 0
    pacing_dropped: int = 0
    canons_exhausted: int = 0

    def killed_in(self, phase: str, spent: float) -> None:
        """Count a canon killed in ``phase`` after ``spent`` seconds in it."""
        killed = self.canons_killed.setdefault(phase, {"count": 0, "longest_s": 0.0})
        killed["count"] += 1
        killed["longest_s"] = max(killed["longest_s"], spent)

    def as_counters(self) -> dict[str, Any]:
        """Every count as a status carries it (a copy; the longest kills in ms)."""
        counters = {name: getattr(self, name) for name in CanonCounts.__dataclass_fields__}
        counters["canons_killed"] = {
            phase: {"count": killed["count"], "longest_s": round(killed["longest_s"], 3)}
            for phase, killed in sorted(self.canons_killed.items())
        }
        return counters
