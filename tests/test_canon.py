"""A canon that holds the CPU yields to the hub after its time budget.

A real battery in this process, its canons on gevent's loop; ``drain`` (what a canon
calls as it yields) is counted.
"""

from __future__ import annotations

import time
from typing import Any

import gevent

from gturret.battery import Battery, FiringPlan
from gturret.canon import YIELD_BUDGET
from gturret.outbox import Outbox


class _Script:
    def __init__(self, config: dict[str, Any], context: Any = None) -> None:
        self.custom_timers: dict[str, float] = {}

    def setup(self) -> None:
        pass

    def tear_down(self) -> None:
        pass


class Spins(_Script):
    """A transaction that holds the CPU past the budget without yielding."""

    def run(self) -> None:
        until = time.perf_counter() + 2 * YIELD_BUDGET
        while time.perf_counter() < until:
            pass


def _fire(script: type[_Script], transactions: int) -> tuple[int, int]:
    """Run 5 canons of ``script`` until ``transactions`` are done; (done, drains)."""
    drains = 0

    def drain() -> None:
        nonlocal drains
        drains += 1

    outbox = Outbox(limit=100_000)
    battery = Battery(script, {}, None, outbox, drain, FiringPlan(canons=5, rampup=0))
    battery.start()
    deadline = time.monotonic() + 30
    while outbox.produced < transactions and time.monotonic() < deadline:
        gevent.sleep(0.01)
    battery.stop(grace=1.0)
    return outbox.produced, drains


def test_a_canon_that_holds_the_cpu_yields_after_its_budget():
    done, drains = _fire(Spins, 100)
    assert done >= 100
    # Each transaction outlasts the budget and nothing else ran meanwhile: a yield each.
    assert drains >= done - 5
