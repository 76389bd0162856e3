"""How late the gevent loop is: the one figure that says when the generator is the bottleneck.

Why it exists: a canon's timings are true only while the loop runs it on time. A
greenlet here sleeps ``INTERVAL`` again and again and records how much later than
asked it woke (the loop was busy with other canons, or blocked by one) into an
HdrHistogram, in microseconds. Each status for an HQ that asked for counters takes
the histogram of the time since the last one, in HdrHistogram's standard encoded
form, so the HQ can add the intervals of every turret exactly. A lag of a few
milliseconds is normal; tens of milliseconds mean latencies below about that much
are not trustworthy.

It must never block the loop itself, nor send anything: the turret takes its
histograms.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

import gevent
from hdrh.histogram import HdrHistogram

#: Seconds between two wake-ups asked of the loop while a test runs, and while none
#: does (an idle turret's lag says little, and each wake-up costs it CPU).
INTERVAL = 0.05
IDLE_INTERVAL = 1.0
#: The histogram's range, microseconds (1 µs to 10 min) and its precision.
LOWEST_US = 1
HIGHEST_US = 600_000_000
SIGNIFICANT_DIGITS = 3


def lag_histogram() -> HdrHistogram:
    """An empty histogram of loop lag, in microseconds."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


class LoopLag:
    """Samples the loop's lag every INTERVAL while ``running()``, else every
    IDLE_INTERVAL; ``take()`` hands over what it saw."""

    def __init__(self, running: Callable[[], bool]) -> None:
        self._running = running
        self._histogram = lag_histogram()
        self._sampler: gevent.Greenlet | None = None

    def start(self) -> None:
        self._sampler = gevent.spawn(self._sample_forever)

    def close(self) -> None:
        if self._sampler is not None:
            self._sampler.kill()

    def take(self) -> str | None:
        """The encoded histogram since the last take (None if nothing was sampled)."""
        histogram = self._histogram
        if not histogram.get_total_count():
            return None
        self._histogram = lag_histogram()
        encoded: bytes = histogram.encode()
        return encoded.decode("ascii")

    def _sample_forever(self) -> None:
        while True:
            interval = INTERVAL if self._running() else IDLE_INTERVAL
            asked = perf_counter()
            gevent.sleep(interval)
            late = perf_counter() - asked - interval
            micros = min(max(LOWEST_US, round(late * 1_000_000)), HIGHEST_US)
            self._histogram.record_value(micros)
