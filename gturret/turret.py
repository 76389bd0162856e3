"""The turret: its state machine, on the turret face (:mod:`gturret.dispatch`).

Why it exists: one place decides what each HQ command means in each state for a
process that runs canons, so the rules of docs/protocol.md read top to bottom here.
Every state change happens in the one dispatcher greenlet (signals only raise a flag
it reads), so no two commands ever interleave. It must never die from a malformed
frame: the face counts those and ignores them.

States::

    INIT ─► READY ─start─► RUNNING ─stop─► READY ─► …
              │                │
              └──kill/signal───┴──► KILLED (exit 0)      any crash ─► ABORTED (exit 1)
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from time import monotonic, perf_counter
from typing import Any

import gevent

from gturret import wire
from gturret.aggregate import INTERVAL
from gturret.battery import KILL_TIMEOUT, WHOLE, Battery, FiringPlan, Share
from gturret.config import MAX_ARRIVAL_RATE, MAX_CANONS, MAX_RAMPUP, TurretConfig
from gturret.counts import CanonCounts
from gturret.dispatch import StatusCounters, TurretFace, process_memory
from gturret.errors import HandshakeError
from gturret.feeders import FeederFile, Feeders, Place
from gturret.figures import format_number
from gturret.link import Link, Route
from gturret.looplag import LoopLag
from gturret.outbox import Outbox
from gturret.pacing import Schedule
from gturret.script import TransactionFactory
from gturret.watchdog import Watchdog
from gturret.wire import State

log = logging.getLogger(__name__)

#: Longest wait for a command before the turret looks at what else may end its
#: wait: a kill asked by a signal, a failed handshake, hq_wait, hq_timeout. A
#: command wakes it at once; an idle turret wakes 10 times a second (it polled
#: every 5 ms before, 200 wakeups a second: 5 % of a core doing nothing).
COMMAND_WAIT = 0.1
#: Seconds a kill may take, from the order to the sockets closed, whatever the HQ
#: does: canons get ``KILL_GRACE`` to finish and ``KILL_UNWIND`` to unwind once
#: killed; results, then the ``killed`` status, then the sockets' linger share the
#: rest. Under the 2 s promised; should the loop never come back to do it (canons
#: that starve it), the watchdog ends the process (``watchdog.KILL_OVERRUN``).
KILL_WITHIN = 1.3
KILL_GRACE = 0.3
KILL_UNWIND = 0.2
#: Seconds of ``KILL_WITHIN`` kept for the ``killed`` status and for closing.
KILL_STATUS_RESERVE = 0.4
KILL_CLOSE_RESERVE = 0.2
#: At an abort, seconds to deliver what is queued.
ABORT_FLUSH_TIMEOUT = 1.0
#: At stop, seconds to deliver what is queued before reporting ready anyway.
STOP_FLUSH_TIMEOUT = 5.0
#: Seconds between the fleet's start time and this machine's clock beyond which the
#: clocks are taken to disagree, and the turret starts when the order comes.
MAX_START_SKEW = 10.0


class Turret(TurretFace):
    """One turret: takes commands from the HQ, runs batteries, reports."""

    def __init__(
        self,
        config: TurretConfig,
        factory: TransactionFactory,
        uuid: str | None = None,
        route: Route | None = None,
        share: Share = WHOLE,
        owns_process: bool = True,
        feeder_files: dict[str, FeederFile] | None = None,
    ) -> None:
        """``route`` and ``share`` make it a worker of a fleet (see ``gturret.worker``);
        ``owns_process=False`` (``--standalone``: the HQ decides the exit) keeps the
        watchdog from ever ending the process. ``feeder_files``: the config's feeders,
        scanned at start (:func:`gturret.feeders.scan_feeders`)."""
        super().__init__(config, uuid)
        self.factory = factory
        self.feeder_files = feeder_files or {}
        self.context: dict[str, Any] = {}
        self.outbox = Outbox(config.outbox_limit)
        self.link = Link(config, self.uuid, self.outbox, route)
        self.share = share
        self.battery: Battery | None = None
        self._counts_at_start = (0, 0, 0)
        self._last_frame_at = monotonic()
        self._heard_hq = False
        self._intervals: gevent.Greenlet | None = None
        self._kill_deadline: float | None = None
        self.loop_lag = LoopLag(running=lambda: self.state is State.RUNNING)
        self.watchdog = Watchdog(
            self.link.route,
            self.is_for_me,
            running=lambda: self.state is State.RUNNING,
            is_canon=lambda greenlet: self.battery is not None and self.battery.is_canon(greenlet),
            cease_fire=self._halt_canons,
            killed_status=lambda: self.status_frame(State.KILLED),
            may_exit=owns_process,
        )

    def open(self) -> bool:
        self.link.start_pusher()
        self.watchdog.start()
        self.loop_lag.start()
        return True

    def commands_endpoint(self) -> str:
        return self.link.route.commands

    def turn(self) -> None:
        frame = self.link.hq.receive_within(COMMAND_WAIT)
        if frame is not None:
            self._last_frame_at = monotonic()
            self._heard_hq = True
            self.handle_frame(frame)
            return
        problem = self.link.hq.handshake_failure()
        if problem is not None:
            raise HandshakeError(problem)
        if self._hq_never_answered():
            log.error(
                "no HQ answered at %s within %ss (hq_wait): exiting",
                self.link.route.commands,
                format_number(self.config.hq_wait),
            )
            self.state = State.ABORTED
            return
        if self._hq_silent():
            log.warning(
                "no frame from the HQ for %ss while running (hq_timeout): ceasing fire",
                format_number(self.config.hq_timeout),
            )
            self._cease_fire(self.config.stop_grace, STOP_FLUSH_TIMEOUT)
            self.set_state(State.READY)

    def close(self) -> None:
        self.loop_lag.close()
        self.watchdog.close()
        self.link.close(None if self._kill_deadline is None else self._kill_left())

    def _hq_never_answered(self) -> bool:
        """No frame yet ``hq_wait`` seconds after start: the HQ is not there (a wrong
        address, or an HQ that never came), and a container must not wait forever. A
        fleet's worker leaves this to its parent, whose route is the HQ's."""
        wait = self.config.hq_wait
        return (
            wait > 0
            and not self._heard_hq
            and not self.link.route.to_parent
            and monotonic() - self._last_frame_at > wait
        )

    def _hq_silent(self) -> bool:
        timeout = self.config.hq_timeout
        return (
            timeout > 0
            and self.state is State.RUNNING
            and monotonic() - self._last_frame_at > timeout
        )

    def request_kill(self, reason: str) -> None:
        """Ask for a kill at the next tick; the watchdog learns of it too, in case a
        script holds the loop."""
        super().request_kill(reason)
        self.watchdog.order("kill")

    def counters(self) -> StatusCounters:
        """This process's counters; canons and results count since the last start."""
        produced, sent, dropped = self._counts_since_start()
        battery = self.battery
        counts = battery.counts if battery else CanonCounts()
        rss, rss_peak = process_memory()
        return StatusCounters(
            **counts.as_counters(),
            canons_active=battery.active if battery else 0,
            results_produced=produced,
            results_sent=sent,
            results_dropped=dropped,
            results_queued=self.outbox.queued,
            frames_ignored=self.frames_ignored,
            loop_blocked_s=round(self.watchdog.loop_blocked_for, 3),
            rss_bytes=rss,
            rss_peak_bytes=rss_peak,
            feeders=battery.feeders.report() if battery and battery.feeders else {},
            **self._journal_counters(),
        )

    def _journal_counters(self) -> dict[str, Any]:
        """While the HQ journals: this process's seq and replay buffer, at the top and
        as the one entry of ``senders`` (the shape a fleet's status has too)."""
        if not self.link.journaling:
            return {}
        mine = self.link.replay.counters()
        return {**mine, "senders": {self.uuid: mine}}

    def take_loop_lag(self) -> str | None:
        return self.loop_lag.take()

    def answer_status_request(self) -> None:
        """Answer at once; results of a paced run carry the uncorrected time if asked,
        and data messages go out numbered and kept while the HQ journals."""
        self.link.encode_uncorrected(wire.WANT_UNCORRECTED in self.hq_wants)
        self.link.journal(wire.WANT_JOURNAL in self.hq_wants)
        self.send_status()

    def push_status(self, frame: bytes) -> None:
        self.outbox.put_status(frame)
        self.link.drain()

    def journal(self, order: wire.JournalOrder) -> None:
        """Drop what the HQ holds of ours; push again what it lacks if it asks."""
        acked = order.acked_of(self.uuid)
        self.link.replay.ack(acked)
        if order.resend:
            self.link.resend(acked)

    def _halt_canons(self) -> None:
        """Stop canons from starting new transactions (safe from the watchdog thread)."""
        if self.battery is not None:
            self.battery.firing = False

    def set_context(self, context: dict[str, Any]) -> None:
        self.context.update(context)

    def start_test(self, msg: Any) -> None:
        if self.state is not State.READY:
            log.info("start while %s: ignored", self.state.value)
            return
        order = _within_limits(wire.decode_start(msg))
        plan = _plan_for(
            self.config,
            order,
            self.share,
            aggregate=wire.WANT_AGGREGATE in self.hq_wants,
            canons=self.canons,
        )
        feeders = self._feeders_for(order)
        if self.state is not State.READY:  # aborted: a fleet feeder without its place
            return
        self.battery = Battery(
            self.factory,
            self.config.raw,
            self.context,
            self.outbox,
            self.link.drain,
            plan,
            feeders,
        )
        self._counts_at_start = self._counts()
        self._last_frame_at = monotonic()
        self.battery.start(perf_counter() + _start_delay(order.start_at))
        if self.battery.interval is not None:
            self._intervals = gevent.spawn(self._send_intervals, self.battery.started_at)
        schedule = plan.schedule
        log.info(
            "open fire: %d canons over %ss%s",
            len(self.battery.mine),
            format_number(plan.rampup),
            ""
            if schedule is None
            else f", {format_number(schedule.rate)} transactions/s ({schedule.arrival})",
        )
        self.set_state(State.RUNNING)

    def _feeders_for(self, order: wire.StartOrder) -> Feeders | None:
        """This process's feeders for a test (None without any). When a ``fleet`` feeder
        cannot be placed (the start order did not say where this turret's canons sit in
        the fleet: the reference HQ), the turret aborts with one line."""
        if not self.feeder_files:
            return None
        canons = self.config.canons
        share = self.share
        first = sum(len(Share(index, share.count).of(canons)) for index in range(share.index))
        turret = Place(first, len(share.of(canons)), canons)
        fleet = None
        if order.canons_at is not None:
            fleet_first, total = order.canons_at
            fleet = Place(fleet_first, canons, total)
        needs_fleet = [f.spec.name for f in self.feeder_files.values() if f.spec.scope == "fleet"]
        if needs_fleet and fleet is None:
            log.error(
                "feeder %r has scope fleet: it needs gturret's HQ (gturret-hq), whose start"
                " order gives each turret its share of the rows; this start had none:"
                " aborting (give it scope turret to run under another HQ)",
                needs_fleet[0],
            )
            self.abort(None)
            return None
        return Feeders(self.feeder_files, turret, fleet)

    def stop_test(self, msg: Any) -> None:
        if self.state is not State.RUNNING:
            self.send_status()
            return
        self._cease_fire(self.config.stop_grace, STOP_FLUSH_TIMEOUT)
        self.set_state(State.READY)

    def set_arrival_rate(self, rate: float) -> None:
        """Steering: the battery paces at ``rate`` from now on (capped as a start's)."""
        rate = _within_limits(wire.StartOrder(arrival_rate=rate)).arrival_rate or 0.0
        if self.state is not State.RUNNING or self.battery is None:
            log.info("set_arrival_rate while %s: ignored", self.state.value)
            return
        if not self.battery.set_rate(rate):
            log.warning(
                "set_arrival_rate ignored: this test runs the closed model (no arrival"
                " rate); start it with one to steer its rate"
            )
            return
        log.info("arrival rate now %s transactions/s", format_number(rate))

    def set_canons(self, canons: int) -> None:
        """Steering: run ``canons`` from now on (this test's, and the next tests')."""
        if canons > MAX_CANONS:
            log.warning("set_canons asks for %d canons: capped at %d", canons, MAX_CANONS)
            canons = MAX_CANONS
        before, self.canons = self.canons, canons
        if self.state is State.RUNNING and self.battery is not None:
            self.battery.set_canons(canons)
        log.info("canons now %d (were %d)", canons, before)
        self.send_status()

    def kill(self, reason: str) -> None:
        """Cease fire, report ``killed`` and leave ``serve``, all within ``KILL_WITHIN``."""
        log.info("killing the turret (%s)", reason)
        self._kill_deadline = monotonic() + KILL_WITHIN
        if self.state is State.RUNNING:
            grace = min(self.config.stop_grace, KILL_GRACE)
            flush = self._kill_left(grace + KILL_UNWIND + KILL_STATUS_RESERVE)
            self._cease_fire(grace, flush, KILL_UNWIND)
        self.set_state(State.KILLED)
        self.link.flush(self._kill_left(KILL_CLOSE_RESERVE))

    def _kill_left(self, reserve: float = 0.0) -> float:
        """Seconds of the kill's time left, less ``reserve`` kept for later steps."""
        assert self._kill_deadline is not None
        return max(0.0, self._kill_deadline - monotonic() - reserve)

    def abort(self, why: str | None) -> None:
        """Halt the canons and tell the HQ (``why`` is already logged by the face)."""
        self._halt_canons()
        self.state = State.ABORTED
        try:
            self.send_status()
            self.link.flush(ABORT_FLUSH_TIMEOUT)
        except Exception:
            log.exception("could not report the abort to the HQ")

    def _counts(self) -> tuple[int, int, int]:
        return (self.outbox.produced, self.outbox.sent, self.outbox.dropped)

    def _counts_since_start(self) -> tuple[int, int, int]:
        """Results produced, sent and dropped since the last start (the HQ's test)."""
        produced, sent, dropped = (
            now - then for now, then in zip(self._counts(), self._counts_at_start, strict=True)
        )
        return produced, sent, dropped

    def _send_intervals(self, started_at: float) -> None:
        """Aggregate mode: close and queue an interval every INTERVAL from the start
        (a fleet started together closes its intervals together)."""
        closes = 0
        while True:
            closes += 1
            gevent.sleep(max(0.0, started_at + closes * INTERVAL - perf_counter()))
            self._queue_interval()

    def _queue_interval(self) -> None:
        assert self.battery is not None
        interval = self.battery.close_interval()
        if interval is None:
            return
        ended = perf_counter() - self.battery.started_at
        frame = interval.encode(self.config.name, ended, time.time())
        self.outbox.put_interval(frame, interval.count)
        self.link.drain()

    def _cease_fire(self, grace: float, flush_timeout: float, unwind: float = KILL_TIMEOUT) -> None:
        """Stop the battery (``grace``, then ``unwind`` for the killed canons), queue the
        last interval and flush for up to ``flush_timeout``."""
        assert self.battery is not None
        killed = self.battery.stop(grace, unwind)
        if self._intervals is not None:
            self._intervals.kill()
            self._intervals = None
        # The last, partial interval goes before the ready: nothing is lost at a stop.
        self._queue_interval()
        delivered = self.link.flush(flush_timeout)
        phases = ", ".join(
            f"in {phase}: {killed['count']}, the longest after {killed['longest_s']:.1f}s"
            for phase, killed in sorted(self.battery.counts.canons_killed.items())
        )
        self.log_cease_fire(
            self.counters(),
            f"; {killed} canons killed after {format_number(grace)}s grace"
            + (f" ({phases})" if phases else ""),
        )
        if not delivered:
            log.warning(
                "the HQ did not take every result within %.1fs; %d stay queued for it",
                flush_timeout,
                self.outbox.queued,
            )


def _within_limits(order: wire.StartOrder) -> wire.StartOrder:
    """The order with its rate and rampup capped to what a config may ask for, one
    line for each capped: an HQ's numbers never freeze (a rate no loop can keep) or
    stall (a rampup of centuries) a turret."""
    rate, rampup = order.arrival_rate, order.rampup
    if rate is not None and rate > MAX_ARRIVAL_RATE:
        log.warning(
            "the start order asks for %.3g transactions/s: capped at %d, about what one"
            " process can schedule",
            rate,
            MAX_ARRIVAL_RATE,
        )
        rate = MAX_ARRIVAL_RATE
    if rampup is not None and rampup > MAX_RAMPUP:
        log.warning("the start order asks for a %.3gs rampup: capped at %ds", rampup, MAX_RAMPUP)
        rampup = MAX_RAMPUP
    return replace(order, arrival_rate=rate, rampup=rampup)


def _plan_for(
    config: TurretConfig, order: wire.StartOrder, share: Share, aggregate: bool, canons: int
) -> FiringPlan:
    """How this process's canons fire (``canons`` of them: the config's, unless
    steered), as the start order amends the config."""
    schedule = _schedule_for(config, order)
    return FiringPlan(
        canons=canons,
        rampup=config.rampup if order.rampup is None else order.rampup,
        share=share,
        schedule=None if schedule is None else schedule.share(share.index, share.count),
        max_lateness=config.max_lateness,
        aggregate=aggregate,
        ramp_phase=order.ramp_phase,
    )


def _schedule_for(config: TurretConfig, order: wire.StartOrder) -> Schedule | None:
    """The open model's schedule: the config's, or the rate an HQ of ours sent with start.

    A rate in the start order (this turret's share of ``--arrival-rate``) replaces the
    config's rate and its stages with a constant one; 0 runs the closed model.
    """
    if order.arrival_rate is None:
        return config.schedule
    arrival = config.schedule.arrival if config.schedule else "constant"
    return Schedule(order.arrival_rate, (), arrival) if order.arrival_rate > 0 else None


def _start_delay(start_at: float | None) -> float:
    """Seconds until the fleet's start time (negative: already past), or 0 without one.

    A start time further than ``MAX_START_SKEW`` away from this machine's clock says
    the clocks disagree (no NTP?): the turret then starts at once, and says so.
    """
    if start_at is None:
        return 0.0
    delay = start_at - time.time()
    if abs(delay) > MAX_START_SKEW:
        log.warning(
            "the fleet's start time is %.1fs %s this machine's clock: starting now"
            " (are the clocks of the HQ and the turrets in sync?)",
            abs(delay),
            "ahead of" if delay > 0 else "behind",
        )
        return 0.0
    return delay
