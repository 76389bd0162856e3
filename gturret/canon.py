"""One canon: a virtual user looping setup → timed run → tear_down.

Why its own module: this loop is the hot path of the whole turret, so it stays
small, allocation-light and free of logging and locks. It must never block on the
network (results go to the outbox) and never hold the CPU for long: after a time
budget it yields to the gevent hub, so a script that never does I/O cannot starve
the command dispatcher or the other canons. Yielding after every transaction would
cost a hub switch each; a budget costs one switch per millisecond at most.

Before it yields, a canon drains the outbox (non-blocking sends, time-boxed). Left
to a pusher greenlet alone, sending would get the CPU only when the hub comes round
to it, which under full load is far less often than canons produce results: the
queue would grow without end and statuses would wait behind it. Paying for sending
at the yield keeps sending in step with producing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

from gevent import GreenletExit, sleep

from gturret.errors import FeederExhausted, describe
from gturret.timers import clean_timers
from gturret.wire import LATE_AFTER

if TYPE_CHECKING:
    from gevent.queue import Queue

    from gturret.aggregate import Interval
    from gturret.counts import CanonCounts
    from gturret.feeders import Feeders
    from gturret.outbox import Outbox
    from gturret.script import TransactionFactory

#: Longest stretch, in seconds, a canon runs transactions without yielding to the hub.
YIELD_BUDGET = 0.001


class Battery(Protocol):
    """What a canon reads of its battery (:class:`gturret.battery.Battery` is one).

    Declared here, so that the battery depends on its canons and never the other
    way round. Typing only: a canon reads the battery's own attributes, no wrapper.
    """

    factory: TransactionFactory
    config: dict[str, Any]
    context: Any
    outbox: Outbox
    drain: Callable[[], object]
    counts: CanonCounts
    firing: bool
    retiring: int
    started_at: float
    tickets: Queue[float | None] | None
    interval: Interval | None
    feeders: Feeders | None

    @property
    def max_lateness(self) -> float:
        """Seconds late past which a due transaction is dropped (the open model)."""

    def canon_failed(self, exc: BaseException) -> None:
        """A canon could not build its Transaction."""

    def back_off(self, error: str, pause: float) -> float:
        """Pause a canon whose ``setup()`` just failed; the pause made."""

    def killed_in(self, phase: str, since: float) -> None:
        """Note a canon killed in ``phase``, entered at ``since``."""

    def exhausted(self, exc: FeederExhausted, completed: bool) -> None:
        """A canon ended for want of rows (a ``unique`` feeder ran out); ``completed``:
        it had finished a transaction before."""


def fire(battery: Battery, index: int = 0) -> None:
    """Run one canon until the battery stops firing; the greenlet target.

    Closed model: the next transaction starts when the last one ends. Open model
    (the battery has a schedule): the canon takes the next due transaction, and
    its ``scriptrun_time`` counts from when it was due (wrk2's rule); the time
    spent in ``run()`` alone is kept as the uncorrected figure. After a failed
    ``setup()`` the canon backs off (``Battery.back_off``) rather than spin.
    ``index`` is the canon's place among its turret's canons: its feeders' rows
    (``per_canon``) follow it. A feeder out of rows ends the canon.
    """
    counts = battery.counts
    counts.canons_started += 1
    try:
        transaction = battery.factory(battery.config, battery.context)
    except GreenletExit:
        raise
    except BaseException as exc:
        battery.canon_failed(exc)
        return
    if battery.feeders is not None:
        transaction._feeds = battery.feeders.for_canon(index)
    put = battery.outbox.put_result
    drain = battery.drain
    clock = perf_counter
    wall = time.time
    t0 = battery.started_at
    tickets = battery.tickets
    max_lateness = battery.max_lateness
    now = clock()
    yield_at = now + YIELD_BUDGET
    completed = False
    pause = 0.0
    late = 0.0
    due: float | None = None
    while battery.firing:
        if completed and battery.retiring:
            battery.retiring -= 1
            return
        if tickets is not None:
            due = tickets.get()
            if due is None:
                return
            now = clock()
            late = now - due
            if late > max_lateness:
                counts.pacing_dropped += 1
                due = None
            elif late > LATE_AFTER:
                counts.pacing_late += 1
        if tickets is None or due is not None:
            try:
                run_time, error, set_up = run_once(transaction, battery, now)
            except FeederExhausted as exc:
                battery.exhausted(exc, completed)
                return
            now = clock()
            # Read back, not the dict handed out: OCT reads the attribute after run(),
            # so a script may assign a dict of its own. An empty dict, the usual case
            # of a script without timers, needs no look.
            timers = getattr(transaction, "custom_timers", None)
            if timers or type(timers) is not dict:
                timers, timer_error = clean_timers(timers)
                if timer_error:
                    error = f"{error}; {timer_error}" if error else timer_error
            corrected = run_time if tickets is None else run_time + max(0.0, late)
            # Looked up after run(): the interval may have been closed while it ran.
            interval = battery.interval
            if interval is not None:
                interval.transaction.values.append(int(corrected * 1_000_000 + 0.5))
                if error:
                    interval.error(error)
                if timers:
                    interval.timers_of(timers, bool(error))
                if tickets is not None:
                    interval.paced(run_time, corrected - run_time, bool(error))
            elif tickets is None:
                put((now - t0, wall(), run_time, error, timers))
            else:
                put((now - t0, wall(), corrected, error, timers, run_time))
            if not completed:
                completed = True
                counts.canons_completed += 1
            if not set_up:
                pause = battery.back_off(error, pause)
                now = clock()
                yield_at = now + YIELD_BUDGET
            elif pause:
                pause = 0.0
        if now >= yield_at:
            drain()
            sleep(0)
            now = clock()
            yield_at = now + YIELD_BUDGET


def run_once(transaction: Any, battery: Battery, began_setup: float) -> tuple[float, str, bool]:
    """setup → timed run → tear_down; the seconds in ``run()``, the error text, and
    whether ``setup()`` succeeded (a canon backs off after one that failed).

    A kill (GreenletExit) is noted with the phase it hit and passed on.
    """
    transaction.custom_timers = {}
    error = ""
    run_time = 0.0
    try:
        transaction.setup()
    except GreenletExit:
        battery.killed_in("setup", began_setup)
        raise
    except FeederExhausted:
        raise
    except BaseException as exc:
        return run_time, "setup: " + describe(exc), False
    began = perf_counter()
    try:
        transaction.run()
    except GreenletExit:
        battery.killed_in("run", began)
        raise
    except FeederExhausted:
        raise
    except BaseException as exc:
        ran = perf_counter()
        error = describe(exc)
    else:
        ran = perf_counter()
    run_time = ran - began
    try:
        transaction.tear_down()
    except GreenletExit:
        battery.killed_in("tear_down", ran)
        raise
    except FeederExhausted:
        raise
    except BaseException as exc:
        error = error or "tear_down: " + describe(exc)
    return run_time, error, True
