"""The open model's schedule: when each transaction is due, whatever the server does.

Why it exists: in the closed model a canon starts its next transaction when the
last one ends, so a server that stalls slows the load down and the stall hides in a
few slow samples (coordinated omission). With an arrival rate the load is fixed in
advance: transaction *i* is due at its scheduled time, and its latency counts from
then (wrk2's rule), however late a canon could start it.

A schedule is a rate in transactions per second, optionally changed over time by
stages in the manner of k6's ramping-arrival-rate: each stage moves the rate
linearly from where it was to its ``target`` over its ``duration`` seconds; after the
last stage the rate stays at the last target (a target of 0 ends the schedule).
Arrivals are evenly spaced (``constant``) or a Poisson process (``poisson``), both
following the rate: the i-th arrival is where the cumulative rate reaches i (for
Poisson, a sum of i exponential steps of mean 1), by the time-rescaling theorem.

A fleet of N processes splits a schedule with :meth:`Schedule.share`: each runs the
rate divided by N; evenly spaced shares are offset so that together they arrive as
one evenly spaced stream. This module is pure: no clock, no gevent.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

ARRIVALS = ("constant", "poisson")


@dataclass(frozen=True, slots=True)
class Stage:
    """Move the rate linearly to ``target`` transactions/s over ``duration`` seconds."""

    duration: float
    target: float


@dataclass(frozen=True, slots=True)
class Schedule:
    """When transactions are due, in seconds after the start."""

    rate: float
    stages: tuple[Stage, ...] = ()
    arrival: str = "constant"
    #: The first arrival is at ``offset`` units of cumulative rate (0 to 1).
    offset: float = 0.0
    seed: int | None = None

    def share(self, index: int, count: int) -> Schedule:
        """Process ``index`` of ``count``'s part: 1/count of the rate, offset in turn."""
        scale = 1.0 / count
        return replace(
            self,
            rate=self.rate * scale,
            stages=tuple(Stage(s.duration, s.target * scale) for s in self.stages),
            offset=index / count if self.arrival == "constant" else 0.0,
            seed=None if self.seed is None else self.seed + index,
        )

    def rate_at(self, t: float) -> float:
        """The rate, transactions per second, ``t`` seconds after the start."""
        start, rate = 0.0, self.rate
        for stage in self.stages:
            if t < start + stage.duration:
                return rate + (stage.target - rate) * (t - start) / stage.duration
            start, rate = start + stage.duration, stage.target
        return rate

    def due_times(self) -> Iterator[float]:
        """Every arrival, in order, as seconds after the start; ends when the rate does."""
        steps = self._steps()
        arrival = self.offset if self.arrival == "constant" else next(steps)
        reached = 0.0
        for start, duration, begin, end in self._pieces():
            area = math.inf if duration == math.inf else duration * (begin + end) / 2.0
            while arrival <= reached + area:
                yield _when(start, duration, begin, end, arrival - reached)
                arrival += next(steps)
            reached += area

    def _steps(self) -> Iterator[float]:
        if self.arrival == "constant":
            while True:
                yield 1.0
        rng = random.Random(self.seed)
        while True:
            yield rng.expovariate(1.0)

    def _pieces(self) -> Iterator[tuple[float, float, float, float]]:
        """(start, duration, rate at start, rate at end) of each linear piece."""
        start, rate = 0.0, self.rate
        for stage in self.stages:
            yield start, stage.duration, rate, stage.target
            start, rate = start + stage.duration, stage.target
        if rate > 0:
            yield start, math.inf, rate, rate


def _when(start: float, duration: float, begin: float, end: float, needed: float) -> float:
    """The time, inside a piece, at which its rate has brought ``needed`` arrivals."""
    slope = 0.0 if duration == math.inf else (end - begin) / duration
    if slope == 0.0:
        return start + needed / begin
    # begin·x + slope·x²/2 = needed: the root that lies inside the piece
    return start + (-begin + math.sqrt(max(0.0, begin * begin + 2.0 * slope * needed))) / slope
