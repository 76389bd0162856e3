"""The battery: every canon of one test, started on the rampup schedule.

Why a ``gevent.pool.Group`` and not a ``Pool``: the rampup schedule already bounds
how many canons run (exactly ``canons``), so a Pool's size limit would only add a
semaphore to every spawn. Spawning is kept apart from the canon loop (as Locust keeps
dispatch apart from its runners): canon *i* starts at ``i * rampup / canons`` seconds
after start, computed from the clock each tick, never by accumulating sleeps, so a
10,000-canon rampup does not drift; all starts that are due in one tick are spawned
together. A worker of a fleet (``--processes N``) runs its :class:`Share` of the
canons, every N-th global index, on the same global schedule, so N workers start
canons exactly as one turret would. This module must never talk to sockets.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from time import perf_counter
from typing import Any

import gevent
from gevent.event import Event
from gevent.pool import Group
from gevent.queue import Queue

from gturret.aggregate import Interval
from gturret.canon import fire
from gturret.counts import CanonCounts
from gturret.errors import FeederExhausted, describe
from gturret.feeders import Feeders
from gturret.outbox import Outbox
from gturret.pacing import Schedule
from gturret.script import TransactionFactory

log = logging.getLogger(__name__)

#: Seconds a stop waits for killed canons to unwind before giving up on them.
KILL_TIMEOUT = 2.0
#: Shortest wait of the rampup between two spawns. Never 0: ``sleep(0)`` is a loop
#: callback, queued behind every canon that is ready to run (thousands, right after
#: a large spawn), while a timer fires at the loop's next turn.
RAMP_MIN_WAIT = 0.001
#: A canon's pause after a failed ``setup()``: doubled with each failure in a row up
#: to ``SETUP_BACKOFF_MAX``, back to nothing after a setup that succeeds.
SETUP_BACKOFF_FIRST = 0.01
SETUP_BACKOFF_MAX = 1.0
#: Seconds the pacer may issue tickets without a pause when it runs behind its
#: schedule (a rate its loop cannot keep up with): then it still gives the loop away,
#: so commands, statuses and signals get through whatever the rate.
PACE_BUDGET = 0.005


@dataclass(frozen=True, slots=True)
class Share:
    """The canons one process runs: global indices ``index``, ``index + count``, …"""

    index: int = 0
    count: int = 1

    def of(self, canons: int) -> range:
        """The global indices of this share among ``canons`` canons."""
        return range(self.index, canons, self.count)


#: A turret on its own runs every canon.
WHOLE = Share()


@dataclass(frozen=True, slots=True)
class FiringPlan:
    """How the canons of one test fire, from the config and the start order.

    ``schedule``: the open model, this process's share of it already taken;
    ``aggregate``: canons record into intervals rather than queue each result;
    ``ramp_phase``: canon *i* starts at ``(i + ramp_phase) * rampup / canons``, so
    the canons of the turrets of a fleet interleave on one rampup.
    """

    canons: int
    rampup: float
    share: Share = WHOLE
    schedule: Schedule | None = None
    max_lateness: float = 1.0
    aggregate: bool = False
    ramp_phase: float = 0.0


class Battery:
    """The canons of one test; built at ``start``, discarded after ``stop``."""

    def __init__(
        self,
        factory: TransactionFactory,
        config: dict[str, Any],
        context: Any,
        outbox: Outbox,
        drain: Callable[[], object],
        plan: FiringPlan,
        feeders: Feeders | None = None,
    ) -> None:
        """Canons build their Transaction with ``factory(config, context)`` and hand
        results to ``outbox``, calling ``drain`` at their yields; ``feeders`` hand them
        rows."""
        self.factory = factory
        self.config = config
        self.context = context
        self.outbox = outbox
        self.drain = drain
        self.plan = plan
        self.feeders = feeders
        self.mine = plan.share.of(plan.canons)
        self.counts = CanonCounts()
        self.firing = False
        self.started_at = 0.0
        self.setup_failures = 0
        #: Canons asked to leave (``set_canons`` lowered them): each canon that has
        #: completed a transaction takes one and ends before its next.
        self.retiring = 0
        self.tickets: Queue[float | None] | None = None if plan.schedule is None else Queue()
        self.interval: Interval | None = Interval(0.0) if plan.aggregate else None
        self._group = Group()
        self._ceased = Event()
        self._ramp: gevent.Greenlet | None = None
        self._pacer: gevent.Greenlet | None = None

    @property
    def max_lateness(self) -> float:
        """Seconds late past which a due transaction is dropped (the open model)."""
        return self.plan.max_lateness

    @property
    def active(self) -> int:
        """Canons spawned and not yet finished."""
        return len(self._group)

    @property
    def finished(self) -> int:
        """Canons whose greenlet has ended (stopped, killed, or failed to start)."""
        return self.counts.canons_spawned - len(self._group)

    def is_canon(self, greenlet: object) -> bool:
        """True if ``greenlet`` is one of this battery's canons (safe from another thread)."""
        return greenlet in self._group.greenlets

    def start(self, at: float | None = None) -> None:
        """Open fire at ``at`` (``perf_counter`` time; now if None, and at once if it is
        past): the rampup greenlet spawns the canons on schedule (and, in the open
        model, the pacer hands them due transactions)."""
        self.started_at = perf_counter() if at is None else at
        self.firing = True
        self._ramp = gevent.spawn(self._ramp_up)
        if self.plan.schedule is not None:
            self._pacer = gevent.spawn(self._pace, self.plan.schedule, self.started_at)

    def close_interval(self) -> Interval | None:
        """Hand over the interval recorded so far and begin the next (aggregate mode)."""
        closed = self.interval
        if closed is not None:
            self.interval = Interval(perf_counter() - self.started_at)
        return closed

    def set_rate(self, rate: float) -> bool:
        """Steering: pace at ``rate`` (the turret's, of which this process runs its
        share) from now on; False in the closed model, which has no rate to change.

        The pacer starts again on a constant schedule from now (the config's stages
        are over once a person took the wheel); tickets already issued stay queued.
        """
        schedule = self.plan.schedule
        if schedule is None or self.tickets is None:
            return False
        share = self.plan.share
        steered = Schedule(rate, (), schedule.arrival, seed=schedule.seed)
        schedule = steered.share(share.index, share.count)
        self.plan = replace(self.plan, schedule=schedule)
        if self._pacer is not None:
            self._pacer.kill()
        if self.firing:
            self._pacer = gevent.spawn(self._pace, schedule, max(perf_counter(), self.started_at))
        return True

    def set_canons(self, canons: int) -> None:
        """Steering: run this process's share of ``canons`` from now on.

        The rampup, if still under way, ends: new canons are spawned at once, and
        fewer canons are asked to leave, each after the transaction it is in (a canon
        that has completed none yet stays until it has: never counted as starved).
        """
        if self._ramp is not None:
            self._ramp.kill()
        self.plan = replace(self.plan, canons=canons)
        self.mine = self.plan.share.of(canons)
        wanted = len(self.mine)
        staying = len(self._group) - self.retiring
        if wanted < staying:
            self.retiring += staying - wanted
            return
        kept = min(self.retiring, wanted - staying)
        self.retiring -= kept
        for _ in range(wanted - staying - kept):
            if not self.firing:
                return
            # The next index of this share, as the rampup would have given it (its
            # feeders' per-canon rows follow it).
            share = self.plan.share
            self._group.spawn(fire, self, share.index + self.counts.canons_spawned * share.count)
            self.counts.canons_spawned += 1

    def _pace(self, schedule: Schedule, origin: float) -> None:
        """Issue a ticket (its due time) for each arrival; drop those too late to start.

        Tickets wait in a queue for a free canon. One already ``max_lateness`` late
        when the next is issued is dropped and counted, so a stalled server cannot
        make the queue grow without end; one the pacer itself issues that late (its
        loop cannot keep up with the rate) is counted as dropped at once. Behind its
        schedule it pauses every ``PACE_BUDGET``: it never holds the loop.
        """
        assert self.tickets is not None
        tickets = self.tickets
        counts = self.counts
        max_lateness = self.plan.max_lateness
        pause_at = perf_counter() + PACE_BUDGET
        for offset in schedule.due_times():
            due = origin + offset
            now = perf_counter()
            if due > now:
                gevent.sleep(max(RAMP_MIN_WAIT, due - now))
                pause_at = perf_counter() + PACE_BUDGET
            elif now > pause_at:
                gevent.sleep(RAMP_MIN_WAIT)
                pause_at = perf_counter() + PACE_BUDGET
            counts.pacing_scheduled += 1
            if perf_counter() - due > max_lateness:
                counts.pacing_dropped += 1
                continue
            while tickets.qsize() and perf_counter() - tickets.peek_nowait() > max_lateness:
                tickets.get_nowait()
                counts.pacing_dropped += 1
            tickets.put(due)

    def _ramp_up(self) -> None:
        canons = self.plan.canons
        step = self.plan.rampup / canons
        phase = self.plan.ramp_phase
        mine = self.mine
        counts = self.counts
        spawn = self._group.spawn
        if step == 0:
            self._wait_until(0.0)
        while counts.canons_spawned < len(mine) and self.firing:
            since = perf_counter() - self.started_at
            due = canons if step == 0 else min(canons, math.floor(since / step - phase) + 1)
            while counts.canons_spawned < len(mine) and mine[counts.canons_spawned] < due:
                spawn(fire, self, mine[counts.canons_spawned])
                counts.canons_spawned += 1
            if counts.canons_spawned < len(mine):
                self._wait_until((mine[counts.canons_spawned] + phase) * step)

    def _wait_until(self, offset: float) -> None:
        """Sleep until ``offset`` seconds after the start (never a bare ``sleep(0)``)."""
        wait = offset - (perf_counter() - self.started_at)
        if wait > 0 or offset > 0:
            gevent.sleep(max(RAMP_MIN_WAIT, wait))

    def stop(self, grace: float, unwind: float = KILL_TIMEOUT) -> int:
        """Cease fire; canons still busy after ``grace`` seconds are killed, and given
        ``unwind`` seconds to end. Returns how many were killed."""
        self.firing = False
        self._ceased.set()
        for helper in (self._ramp, self._pacer):
            if helper is not None:
                helper.kill()
        if self.tickets is not None:
            # Canons waiting for a ticket are not busy: let them go at once.
            while self.tickets.qsize():
                self.tickets.get_nowait()
            for _ in range(len(self._group)):
                self.tickets.put(None)
        self._group.join(timeout=grace)
        busy = len(self._group)
        if busy:
            self._group.kill(block=True, timeout=unwind)
        return busy

    def killed_in(self, phase: str, since: float) -> None:
        """Note a canon killed in ``phase``, which it entered at ``since`` (perf_counter)."""
        self.counts.killed_in(phase, perf_counter() - since)

    def exhausted(self, exc: FeederExhausted, completed: bool) -> None:
        """A canon ended for want of rows: counted; the first one logged. With
        ``on_exhausted: stop_test`` the status tells the HQ, and an HQ of ours ends the
        test; meanwhile each canon ends at its next ``feed()`` of that feeder, as with
        ``stop_canon``.

        A canon that ran out before it finished a transaction counts as completed
        too: its work is done, and the HQ must not take it for one starved of CPU.
        """
        self.counts.canons_exhausted += 1
        if not completed:
            self.counts.canons_completed += 1
        if self.counts.canons_exhausted == 1:
            log.warning(
                "feeder %r has no row left: %s",
                exc.feeder,
                "the HQ ends the test (on_exhausted: stop_test)"
                if exc.stop_test
                else "its canons end as they ask for one (on_exhausted: stop_canon)",
            )

    def back_off(self, error: str, pause: float) -> float:
        """Pause a canon whose ``setup()`` just failed with ``error``; ``pause`` is its
        last pause (0 after a setup that succeeded). Returns the pause just made.

        Without it a setup that always fails spins (hundreds of thousands of errors a
        second at 0 ms each) and saturates the turret with its own failures; with it,
        a broken script shows as a few setup failures a second per canon, the first
        one logged. The pause ends at once at a stop (a kill interrupts it as any
        sleep). In the open model the ticket the canon took is its failed transaction;
        the tickets due while it pauses wait for another canon, dropped and counted
        past ``max_lateness`` as any others.
        """
        self.setup_failures += 1
        if self.setup_failures == 1:
            log.error(
                "a canon's setup() failed: %s; a canon whose setup fails pauses before its"
                " next transaction, %g ms doubling up to %g s",
                error.removeprefix("setup: "),
                SETUP_BACKOFF_FIRST * 1000,
                SETUP_BACKOFF_MAX,
            )
        pause = min(SETUP_BACKOFF_MAX, pause * 2) if pause else SETUP_BACKOFF_FIRST
        self.drain()
        self._ceased.wait(pause)
        return pause

    def canon_failed(self, exc: BaseException) -> None:
        """A canon could not build its Transaction: report it once per canon, log once.

        The canon ends there, not retried and so never spinning (a Transaction() that
        always raises is refused before the turret starts: ``script.check_construction``);
        it is counted in ``canons_failed``.
        """
        self.counts.canons_failed += 1
        error = "Transaction() raised " + describe(exc)
        if self.counts.canons_failed == 1:
            log.error("a canon could not start: %s", error)
        self.outbox.put_result((perf_counter() - self.started_at, time.time(), 0.0, error, {}))
