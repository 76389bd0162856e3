"""One test, from the first ``status_request`` to the last drained result.

The sequence (docs/protocol.md, with the reference HQ's gaps closed):

1. ``status_request`` now and every ``status_interval`` until ``turrets`` turrets
   have reported (HQError after ``wait_timeout``);
2. ``set_transaction_context`` and ``start``, back to back, to every turret;
3. collect for ``run_time`` (or until a signal: :mod:`gturret.hq.interrupt`, or an
   ``:abort`` threshold that fails over the run so far, judged once a second),
   asking for statuses every ``status_interval`` (they carry ``canons_active``); a
   turret that reports ``ready`` during the run, new or one that missed the
   broadcast, gets the context and ``start`` again: as direct orders
   (``"<uuid> {json}"``), broadcast, or not at all (``late_start``);
4. ``stop``, then keep reading until every turret has said ``ready`` again (or
   ``drain_timeout``; a turret already silent for ``SILENT_S`` at the stop is not
   waited for), then until every result the turrets say they sent has arrived and
   the socket has been quiet for ``QUIET_S`` (or for ``LATE_RESULTS_S`` if some
   are still missing).

Every ``status_request`` carries gturret's handshake (docs/protocol.md): our
turrets then add their counters to each status, which the verdict needs.

Each start order to one of our turrets says where its canons sit among the fleet's
(``canons_at``: the turrets in start order, each its canons' worth of slots, then
``--feeder-reserve`` slots): that places its share of each ``fleet`` feeder's rows
(docs/feeders.md). A turret started again keeps its place; one that joins late takes
the next free slots of the reserve (none left: no rows). A turret whose feeder ran
out with ``on_exhausted: stop_test`` ends the test early.

Reading never runs past the moment the loop must wake: a batch of up to ``BATCH``
messages is handled until that time, and what is left of it waits, in order, for the
next read; so a flood can cost a slower run, never a late stop. A message that fails
a check (``messages.classify``), a status from a turret past the roster's cap, and
what a flood left unread when the drain ends are counted by reason in
``MessageCounts.rejected``, which the verdict names.

Why it exists: the order of commands and the bookkeeping of what came back are
the HQ's contract with the turrets; nothing else sends commands. It must never
block without a deadline, never drop a message it has read (everything is
counted as a status, a result, or unknown) and never crash on what a turret sends.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hdrh.histogram import HdrHistogram

from gturret import wire
from gturret.config import MAX_CANONS
from gturret.errors import HQError, RunInterrupted, SteeringError
from gturret.figures import format_duration, format_number, plural
from gturret.hq.histograms import percentiles
from gturret.hq.interrupt import Interruption
from gturret.hq.journal import Journal, Kind
from gturret.hq.ledger import GAP_S, Ledger
from gturret.hq.link import HQLink
from gturret.hq.messages import Interval, Result, Status, classify
from gturret.hq.options import HQOptions
from gturret.hq.progress import Progress, Snapshot
from gturret.hq.roster import MAX_TURRETS, Roster, TurretRecord
from gturret.hq.stats import MAX_TURRET_NAMES, OTHER_TURRETS, Stats
from gturret.hq.thresholds import Verdict, aborting, evaluate_so_far, parse_threshold
from gturret.wire import State

log = logging.getLogger(__name__)

BATCH = 1000
#: The least time a read spends on messages already received, even when the loop is
#: due to wake at once: the backlog of a flood still moves.
HANDLE_AT_LEAST_S = 0.005
QUIET_S = 0.3
#: Seconds of quiet after which results a turret says it sent are given up on.
LATE_RESULTS_S = 1.0
#: Seconds without a status after which a turret counts as silent (warned about
#: while the test runs; not waited for after the stop).
SILENT_S = 5.0
#: What every status_request asks of our turrets (the reference ones ignore it):
#: with ``--per-result``, every result; by default one aggregated message a second;
#: and, when the HQ journals, numbered data messages kept until acknowledged.
PER_RESULT = wire.status_request_msg(wire.WANT_COUNTERS, wire.WANT_UNCORRECTED)
AGGREGATED = wire.status_request_msg(wire.WANT_COUNTERS, wire.WANT_UNCORRECTED, wire.WANT_AGGREGATE)
PER_RESULT_JOURNALED = wire.status_request_msg(
    wire.WANT_COUNTERS, wire.WANT_UNCORRECTED, wire.WANT_JOURNAL
)
AGGREGATED_JOURNALED = wire.status_request_msg(
    wire.WANT_COUNTERS, wire.WANT_UNCORRECTED, wire.WANT_AGGREGATE, wire.WANT_JOURNAL
)
#: A turret's loop lag (p99 of an interval, ms) from which the HQ warns while it runs.
LOOP_LAG_WARN_MS = 10.0
#: Seconds between two reads of one turret's loop-lag p99 (a turret sends one a second).
LOOP_LAG_CHECK_S = 1.0
#: Seconds from the start orders to the start time of a fleet of our turrets: time
#: for every order to arrive, so all rampups begin together.
START_LEAD_S = 0.25
START_RETRY_S = 1.0
MAX_STARTS = 5
LOGGED_UNKNOWN = 5
#: The reasons of ``MessageCounts.rejected`` that are not a check of ``classify``.
PAST_TURRET_CAP = f"a status from a turret past the first {MAX_TURRETS} (not kept)"
RENAMED = "a status that renamed a turret (its first name is kept)"
PAST_NAME_CAP = (
    f"a result of a turret name past the first {MAX_TURRET_NAMES} (counted as {OTHER_TURRETS})"
)
UNREAD = "a message still unread when the drain ended (a flood)"
FAILED = "a message the HQ failed on (a bug: see the log)"
#: Seconds between two looks at the signal flag while the session waits for messages.
INTERRUPT_CHECK_S = 0.1
#: Seconds between two judgements of the ``:abort`` thresholds over the run so far.
ABORT_CHECK_S = 1.0


@dataclass(slots=True)
class MessageCounts:
    """Every message read, by kind; ``stray_results`` arrived before the start."""

    results: int = 0
    statuses: int = 0
    intervals: int = 0
    unknown: int = 0
    stray_results: int = 0
    unnamed_results: int = 0
    late_starts: int = 0
    #: Numbered data messages received again (a turret's resend): dropped, not counted.
    duplicates: int = 0
    #: Messages not counted (or not as sent), by reason: ``unknown`` ones by the check
    #: they failed, and those past the caps.
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """A change a person made to the running test (the console or its API): ``at_s``
    seconds after the start; ``kind`` is start, rate, canons or stop."""

    at_s: float
    kind: str
    detail: str


class Phase:
    """Where the session is, as the console shows it."""

    WAITING = "waiting for turrets"
    READY = "ready to start"
    RUNNING = "running"
    STOPPING = "stopping"
    DONE = "done"


@dataclass(slots=True)
class Outcome:
    """What happened, beyond the statistics."""

    started_at: float = 0.0
    duration_s: float = 0.0
    drain_s: float = 0.0
    interrupted: bool = False
    interrupted_by: str = ""
    unsettled: list[TurretRecord] = field(default_factory=list)
    ended_at: float = 0.0
    counts: MessageCounts = field(default_factory=MessageCounts)
    #: The ``:abort`` threshold that stopped the test, as judged then, and when
    #: (seconds after the start).
    stopped_by: Verdict | None = None
    stopped_at_s: float | None = None
    #: The changes made while it ran, in order (``steer``: the console).
    events: list[Event] = field(default_factory=list)


class Session:
    """Drives one test over ``link``; feeds ``stats`` and ``roster``; shows ``progress``."""

    def __init__(
        self,
        link: HQLink | None,
        options: HQOptions,
        stats: Stats,
        roster: Roster,
        progress: Progress,
        clock: Callable[[], float] = time.monotonic,
        on_start: Callable[[], None] | None = None,
        interruption: Interruption | None = None,
        steer: bool = False,
        journal: Journal | None = None,
        base: float | None = None,
    ) -> None:
        """``steer``: a console steers this test (Start waits for it unless
        ``options.autostart``; stop, rate and canons may change while it runs)."""
        self._link = link
        self._options = options
        self._stats = stats
        self._roster = roster
        self._progress = progress
        self._clock = clock
        self._on_start = on_start
        self._interruption = interruption
        self._t0: float | None = None
        self._running = False
        self._silent_warned: set[str] = set()
        self._lag_warned: set[str] = set()
        self._lag_checked: dict[str, float] = {}
        self._backlog: deque[bytes] = deque()
        #: The fleet's canon slots for feeders, and the next free one of the reserve.
        self._slots = 0
        self._next_slot = 0
        self._aborts = tuple(threshold for threshold in options.thresholds if threshold.abort)
        self._go = not steer or options.autostart
        self._steered_start = False
        self._stop_asked = False
        self.phase = Phase.WAITING
        self.outcome = Outcome()
        #: The journal's clock: an entry's ``at`` is ``now - base`` (``Journal.epoch``).
        self._base = clock() if base is None else base
        self._journal = journal
        self._sampled: tuple[int, int | None] | None = None
        self._resent_at: float | None = None
        self._stopped_at: float | None = None
        self.ledger = Ledger()

    @property
    def _hq(self) -> HQLink:
        if self._link is None:
            raise HQError("a session replaying a journal has no link to the turrets")
        return self._link

    @property
    def options(self) -> HQOptions:
        """The options of this test: as given, with what the console's Start set."""
        return self._options

    def elapsed(self) -> float:
        """Seconds since the start (0 before it; the run's duration once stopped)."""
        if self._t0 is None:
            return 0.0
        if not self._running:
            return self.outcome.duration_s
        return max(0.0, self._clock() - self._t0)

    def run(self) -> Outcome:
        """The whole sequence; HQError when the turrets never came. A resumed session
        (``base`` given, its journal replayed) is past its start: it asks its turrets to
        resend what it lacks and collects to the original end."""
        if self._t0 is None:
            self._wait_for_turrets()
            self.phase = Phase.READY
            self._wait_for_go()
            self._start()
        else:
            self._adopt()
        self.phase = Phase.RUNNING
        if self._stopped_at is None:
            try:
                self._collect()
            finally:
                self.phase = Phase.STOPPING
                stopped_at = self._stop()
        else:
            self.phase = Phase.STOPPING
            stopped_at = self._resend_stop(self._stopped_at)
        self._drain(stopped_at)
        self.phase = Phase.DONE
        if self._journal is not None:
            self._journal.set_meta("outcome", self.outcome_record())
            self._commit(self._clock(), force=True)
        return self.outcome

    def outcome_record(self) -> dict[str, Any]:
        """The outcome as the journal keeps it: times on its clock, turrets by uuid."""
        outcome = self.outcome
        return {
            "started_at": outcome.started_at,
            "duration_s": outcome.duration_s,
            "drain_s": outcome.drain_s,
            "interrupted": outcome.interrupted,
            "interrupted_by": outcome.interrupted_by,
            "unsettled": [record.uuid for record in outcome.unsettled],
            "ended_at": outcome.ended_at - self._base,
            "counts": asdict(outcome.counts),
            "stopped_by": None
            if outcome.stopped_by is None
            else {
                "expression": outcome.stopped_by.threshold.expression,
                "passed": outcome.stopped_by.passed,
                "actual": outcome.stopped_by.actual,
                "detail": outcome.stopped_by.detail,
            },
            "stopped_at_s": outcome.stopped_at_s,
            "events": [asdict(event) for event in outcome.events],
        }

    def restore_outcome(self, record: dict[str, Any]) -> Outcome:
        """The outcome a finished run's journal kept (``outcome_record``), on this clock."""
        turrets = {turret.uuid: turret for turret in self._roster.records()}
        self.outcome = Outcome(
            started_at=record["started_at"],
            duration_s=record["duration_s"],
            drain_s=record["drain_s"],
            interrupted=record["interrupted"],
            interrupted_by=record["interrupted_by"],
            unsettled=[turrets[uuid] for uuid in record["unsettled"] if uuid in turrets],
            ended_at=record["ended_at"] + self._base,
            counts=MessageCounts(**record["counts"]),
            stopped_by=_threshold_verdict(record.get("stopped_by")),
            stopped_at_s=record.get("stopped_at_s"),
            events=[Event(**event) for event in record.get("events", [])],
        )
        return self.outcome

    # Steering: called by the console's requests, in their greenlets on this loop.

    def begin(self, run_time: float, arrival_rate: float, context: dict[str, Any]) -> None:
        """Start the test with these (the console's Start); SteeringError if not ready."""
        if self.phase != Phase.READY or self._go:
            raise SteeringError(f"the test cannot start: it is {self.phase}")
        self._options = replace(
            self._options, run_time=run_time, arrival_rate=arrival_rate, context=context
        )
        if self._journal is not None:
            settings = dict(self._journal.meta("settings"))
            settings.update(run_time=run_time, arrival_rate=arrival_rate, context=context)
            self._journal.set_meta("settings", settings)
        self._go = True

    def end(self) -> None:
        """Stop the test now (the console's Stop); SteeringError unless it runs."""
        if self.phase != Phase.RUNNING or self._stop_asked:
            raise SteeringError(f"the test cannot stop: it is {self.phase}")
        self._stop_asked = True

    def change_rate(self, rate: float) -> None:
        """Pace the fleet at ``rate`` transactions/s from now on: each of our turrets
        gets its share (by its share of the canons) in a direct ``set_arrival_rate``.
        SteeringError unless the test runs paced, with turrets of ours."""
        if self.phase != Phase.RUNNING:
            raise SteeringError(f"the rate cannot change: the test is {self.phase}")
        ours = [record for record in self._roster.records() if record.speaks_gturret]
        paced = self._options.arrival_rate > 0 or any(record.pacing for record in ours)
        if not ours or not paced:
            raise SteeringError(
                "the rate cannot change: this test runs the closed model (each canon"
                " starts its next transaction when the last ends); start it with an"
                " arrival rate to steer the rate"
            )
        if not 0 <= rate < math.inf:
            raise SteeringError(f"the rate must be 0 or more transactions/s, not {rate}")
        shares = self._roster.canon_shares(ours)
        for record in ours:
            self._hq.publish(
                wire.SET_ARRIVAL_RATE,
                wire.arrival_rate_msg(rate * shares[record.uuid]),
                record.uuid,
            )
        before = self._options.arrival_rate
        self._options = replace(self._options, arrival_rate=rate)
        self._event(
            "rate",
            f"arrival rate {format_number(before)} → {format_number(rate)} transactions/s",
        )

    def change_canons(self, uuid: str, canons: int) -> None:
        """Give turret ``uuid`` ``canons`` canons from now on (a direct ``set_canons``).
        SteeringError for an unknown turret, a reference one, or a count out of range."""
        if self.phase not in (Phase.READY, Phase.RUNNING):
            raise SteeringError(f"canons cannot change: the test is {self.phase}")
        record = next((r for r in self._roster.records() if r.uuid == uuid), None)
        if record is None:
            raise SteeringError(f"no turret {uuid!r} has reported")
        if not record.speaks_gturret:
            raise SteeringError(
                f"turret {record.name} is a reference turret (oct-turrets): it knows no"
                " set_canons, and a direct order it does not know would crash it;"
                " its canons stay as its config says"
            )
        if not 1 <= canons <= MAX_CANONS:
            raise SteeringError(f"canons must be 1 to {MAX_CANONS}, not {canons}")
        self._hq.publish(wire.SET_CANONS, wire.canons_msg(canons), uuid)
        before = record.canons
        self._event("canons", f"turret {record.name} ({uuid[:8]}): canons {before} → {canons}")

    def _event(self, kind: str, detail: str) -> None:
        at_s = self.elapsed()
        self.outcome.events.append(Event(round(at_s, 3), kind, detail))
        log.info("%s at %s: %s", kind, format_duration(at_s), detail)

    def _wait_for_go(self) -> None:
        """Until the console's Start (at once without a console, or with autostart)."""
        if self._go:
            return
        log.info("waiting for Start in the console")
        next_request = self._clock()
        while not self._go:
            signal_name = self._signal()
            if signal_name is not None:
                raise RunInterrupted(f"{signal_name} while waiting for Start: no test ran")
            now = self._clock()
            if now >= next_request:
                self._request_statuses()
                next_request = now + self._options.status_interval
            self._read(min(next_request - now, INTERRUPT_CHECK_S))
        self._steered_start = True

    def _wait_for_turrets(self) -> None:
        wanted = self._options.turrets
        start = self._clock()
        deadline = start + self._options.wait_timeout
        next_request = start
        while len(self._roster) < wanted:
            signal_name = self._signal()
            if signal_name is not None:
                raise RunInterrupted(
                    f"{signal_name} while waiting for turrets ({len(self._roster)} of"
                    f" {wanted} reported): no test ran"
                )
            now = self._clock()
            if now >= deadline:
                raise HQError(self._missing_turrets_message(wanted))
            if now >= next_request:
                self._request_statuses()
                next_request = now + self._options.status_interval
            self._read(min(deadline, next_request, now + INTERRUPT_CHECK_S) - now)

    def _signal(self) -> str | None:
        """The signal that asked to end the run, if one did."""
        return None if self._interruption is None else self._interruption.signal

    def _request_statuses(self) -> None:
        if self._journal is None:
            request = PER_RESULT if self._options.per_result else AGGREGATED
        else:
            per_result = self._options.per_result
            request = PER_RESULT_JOURNALED if per_result else AGGREGATED_JOURNALED
        self._hq.publish("status_request", request)

    def take(self, raw: bytes, now: float) -> None:
        """Handle one message as if read at ``now``: a journal's entry replayed."""
        self._handle_safely(raw, now)

    def started(self, t0: float, started_at: float) -> None:
        """Replay the start of a journaled run (``t0`` on this session's clock,
        ``started_at`` wall-clock): what follows counts in the test."""
        self._t0 = t0
        self.outcome.started_at = started_at
        for record in self._roster.records():
            record.starts_sent, record.last_start_at = 1, t0

    def stopped(self, now: float) -> None:
        """Replay the stop: a run resumed after it only drains (``_resend_stop``)."""
        self._stopped_at = now

    def started_late(self, uuid: str, now: float) -> None:
        """Replay a late start of turret ``uuid`` (``_start_if_idle``)."""
        for record in self._roster.records():
            if record.uuid == uuid:
                record.starts_sent += 1
                record.last_start_at = now

    def attach(self, journal: Journal) -> None:
        """Journal from now on (a resumed run, once its journal is replayed)."""
        self._journal = journal

    def sample(self, elapsed: float, canons_active: int | None) -> None:
        """Replay one sample of the per-second series."""
        self._stats.series.advance(elapsed, canons_active)

    def _commit(self, now: float, *, force: bool = False) -> None:
        """Commit the journal when due (or ``force``), then acknowledge what it holds."""
        journal = self._journal
        if journal is None or not (force or journal.due(now)):
            return
        for record in self._roster.records():
            journal.turret(record.uuid, record.name, record.canons, record.script)
        # Acknowledged: what is committed, or held in memory by an HQ whose journal broke
        # (it runs on without one); nothing while the file is busy.
        if journal.commit() or journal.broken is not None:
            self._acknowledge(resend=self.ledger.behind(now) and self._may_resend(now))

    def _adopt(self) -> None:
        """Take over the turrets of a resumed run: each known uuid counts as heard
        from now (given ``SILENT_S`` to answer, as a turret of this run, not one found
        running), and every turret is asked to resend what this HQ does not hold."""
        now = self._clock()
        for record in self._roster.records():
            record.last_seen = now
        # No turret that says ready is started while adopting: the run may be past its
        # end or its stop (``_running`` then says so).
        self._running = False
        self._hear_from_adopted(now)
        self._running = self._stopped_at is None
        journal = self._journal
        if journal is not None and (journal.commit() or journal.broken is not None):
            self._acknowledge(resend=True)
        self._resent_at = now = self._clock()
        log.info(
            "resumed at %s of %s: adopting %s",
            format_duration(max(0.0, now - (self._t0 or now))),
            format_duration(self._options.run_time),
            plural(len(self._roster), "turret"),
        )

    def _hear_from_adopted(self, since: float) -> None:
        """Ask for statuses until every adopted turret has answered (its SUB socket has
        joined again: a command published before would be lost) or ``SILENT_S`` passed."""
        deadline = since + SILENT_S
        next_request = since
        while (now := self._clock()) < deadline and any(
            record.last_seen <= since for record in self._roster.records()
        ):
            if now >= next_request:
                self._request_statuses()
                next_request = now + self._options.status_interval / 4
            self._read(min(deadline, next_request, now + INTERRUPT_CHECK_S) - now)

    def _may_resend(self, now: float) -> bool:
        """At most one resend every ``GAP_S``: the turrets need time to answer it."""
        if self._resent_at is not None and now - self._resent_at < GAP_S:
            return False
        self._resent_at = now
        return True

    def _acknowledge(self, *, resend: bool) -> None:
        """Broadcast what the HQ holds (``journal``, docs/protocol.md): only to a fleet
        that speaks gturret (oct-turrets 0.2.8 ignore an unknown broadcast command)."""
        if self._journal is None or not any(r.speaks_gturret for r in self._roster.records()):
            return
        order = wire.JournalOrder(acked=self.ledger.acked(), resend=resend)
        if resend:
            log.info("asking the turrets to resend what this HQ does not hold")
        self._hq.publish("journal", wire.journal_msg(order))

    def _missing_turrets_message(self, wanted: int) -> str:
        seen = ", ".join(f"{r.name} ({r.uuid})" for r in self._roster.records()) or "none"
        refused = "; ".join(self._hq.handshake_problems)
        return (
            f"only {len(self._roster)} of {wanted} turrets reported within "
            f"{format_duration(self._options.wait_timeout)} (--wait-timeout); seen: {seen}. "
            + (
                f"Handshakes failed: {refused}."
                if refused
                else f"Point turrets at hq_publisher {self._hq.pub_port} and hq_rc "
                f"{self._hq.rc_port} on this host."
            )
        )

    def _start(self) -> None:
        self._hq.publish("set_transaction_context", self._options.context)
        records = self._roster.records()
        lead = 0.0
        if records and all(record.speaks_gturret for record in records):
            lead = START_LEAD_S
            self._start_together(records, time.time() + lead)
        else:
            plain = records
            if self._options.arrival_rate:
                plain = self._start_paced(self._options.arrival_rate)
            if plain:
                self._hq.publish("start", "open fire")
        if self._on_start is not None:
            self._on_start()
        self._t0 = self._clock() + lead
        self._running = True
        self.outcome.started_at = time.time() + lead
        if self._journal is not None:
            self._journal.event(
                self._t0 - self._base,
                "start",
                t0=self._t0 - self._base,
                started_at=self.outcome.started_at,
            )
            self._commit(self._clock(), force=True)
        for record in records:
            record.starts_sent, record.last_start_at = 1, self._t0
        if self._steered_start:
            self._event("start", self._start_detail())
        log.info(
            "started %s (%s canons)%s; collecting for %s",
            plural(len(self._roster), "turret"),
            self._roster.canons_total() or "?",
            f" together in {lead:g}s" if lead else "",
            format_duration(self._options.run_time),
        )

    def _start_detail(self) -> str:
        options = self._options
        rate = options.arrival_rate
        return (
            f"run time {format_duration(options.run_time)}, "
            + (f"arrival rate {format_number(rate)} transactions/s" if rate else "closed model")
            + (f", context {options.context}" if options.context else "")
        )

    def _start_together(self, records: list[TurretRecord], start_at: float) -> None:
        """Start a fleet of our turrets at one time, on one rampup, with their canons
        interleaved and each its share of ``--arrival-rate`` (by its share of canons)."""
        shares = self._roster.canon_shares(records)
        rampup = max((record.rampup or 0.0 for record in records), default=0.0)
        rate = self._options.arrival_rate
        self._place_canons(records)
        for position, record in enumerate(records):
            order = wire.StartOrder(
                start_at=start_at,
                rampup=rampup,
                ramp_phase=position / len(records),
                arrival_rate=rate * shares[record.uuid] if rate else None,
                canons_at=record.canons_at,
            )
            self._hq.publish("start", wire.start_order_msg(order), record.uuid)
            if rate:
                log.info(
                    "turret %s (%s): %s transactions/s",
                    record.name,
                    record.uuid,
                    format_number(rate * shares[record.uuid]),
                )

    def _start_paced(self, rate: float) -> list[TurretRecord]:
        """Give each turret of ours its share of ``rate`` (by its share of the canons)
        in a direct start order; the turrets that cannot take one, to start plainly."""
        records = self._roster.records()
        ours = [record for record in records if record.speaks_gturret]
        shares = self._roster.canon_shares(ours)
        self._place_canons(ours)
        for record in ours:
            share = rate * shares[record.uuid]
            order = wire.StartOrder(arrival_rate=share, canons_at=record.canons_at)
            self._hq.publish("start", wire.start_order_msg(order), record.uuid)
            log.info(
                "turret %s (%s): %s transactions/s", record.name, record.uuid, format_number(share)
            )
        plain = [record for record in records if not record.speaks_gturret]
        log.warning(
            "%d turrets do not speak gturret's extensions and start with their own"
            " configs, not a share of --arrival-rate",
            len(plain),
        )
        return plain

    def _place_canons(self, records: list[TurretRecord]) -> None:
        """Give each turret its canon slots, in start order, then keep the reserve."""
        firsts = []
        first = 0
        for record in records:
            firsts.append(first)
            first += record.canons or 0
        self._next_slot = first
        self._slots = max(1, first + self._options.feeder_reserve)
        for record, at in zip(records, firsts, strict=True):
            record.canons_at = (at, self._slots)

    def _place_late(self, record: TurretRecord) -> tuple[int, int] | None:
        """A late turret's slots: its own if it had some, else the reserve's next."""
        if record.canons_at is None and self._slots:
            first = self._next_slot
            self._next_slot = min(self._slots, first + (record.canons or 0))
            record.canons_at = (first, self._slots)
            if first + (record.canons or 0) > self._slots:
                log.warning(
                    "turret %s (%s) joined late: fleet feeders have room for %d of its %d"
                    " canons (--feeder-reserve %d)",
                    record.name,
                    record.uuid,
                    self._slots - first,
                    record.canons or 0,
                    self._options.feeder_reserve,
                )
        return record.canons_at

    def _collect(self) -> None:
        t0 = self._t0 if self._t0 is not None else self._clock()
        end = t0 + self._options.run_time
        next_request = t0 + self._options.status_interval
        next_judgement = t0 + ABORT_CHECK_S
        while (now := self._clock()) < end:
            if self._stop_asked:
                self._event("stop", "stopped in the console")
                return
            signal_name = self._signal()
            if signal_name is not None:
                self.outcome.interrupted = True
                self.outcome.interrupted_by = signal_name
                log.warning(
                    "interrupted (%s) at %s of %s: stopping the test early; a second"
                    " signal exits at once, without reports",
                    signal_name,
                    format_duration(max(0.0, now - t0)),
                    format_duration(self._options.run_time),
                )
                return
            if now >= next_request:
                self._request_statuses()
                next_request = now + self._options.status_interval
                self._warn_silent(now)
            exhausted = self._roster.stop_test_feeder()
            if exhausted is not None:
                log.warning(
                    "feeder %s ran out of rows (on_exhausted: stop_test): ending the test after %s",
                    exhausted,
                    format_duration(max(0.0, now - t0)),
                )
                return
            elapsed = self._sample(now)
            if self._aborts and now >= next_judgement:
                next_judgement = now + ABORT_CHECK_S
                if self._crossed(elapsed):
                    return
            if self._progress.due(elapsed):
                self._progress.show(self._snapshot(elapsed))
            wake = min(
                end, next_request, now + self._progress.next_due(elapsed), now + INTERRUPT_CHECK_S
            )
            self._read(wake - now)

    def _crossed(self, elapsed: float) -> bool:
        """Judge the ``:abort`` thresholds past their delay over the run so far; True
        (after saying which, and when) if one failed: the test stops."""
        due = tuple(threshold for threshold in self._aborts if elapsed >= threshold.abort_after_s)
        if not due:
            return False
        verdicts = evaluate_so_far(due, self._stats, elapsed, self._roster.memory)
        crossed = aborting(verdicts, elapsed)
        if crossed is None:
            return False
        self.outcome.stopped_by, self.outcome.stopped_at_s = crossed, elapsed
        log.warning(
            "threshold %s failed at %s of %s: %s; stopping the test",
            crossed.threshold.expression,
            format_duration(elapsed),
            format_duration(self._options.run_time),
            crossed.detail,
        )
        return True

    def _stop(self) -> float:
        self._hq.publish("stop", "premature stop")
        stopped_at = self._clock()
        if self._journal is not None:
            self._journal.event(stopped_at - self._base, "stop")
            self._commit(stopped_at, force=True)
        self._running = False
        t0 = self._t0 if self._t0 is not None else stopped_at
        # Never negative: a signal may end the test before the fleet's start time.
        self.outcome.duration_s = max(0.0, stopped_at - t0)
        self._progress.finish()
        log.info(
            "stop sent after %s; draining until %s ready (--drain-timeout %s)",
            format_duration(self.outcome.duration_s),
            "the turret is" if len(self._roster) == 1 else f"{len(self._roster)} turrets are",
            format_duration(self._options.drain_timeout),
        )
        return stopped_at

    def _resend_stop(self, stopped_at: float) -> float:
        """Stop again a run whose HQ died after its stop (the turrets may have missed
        it); the run keeps its first stop's duration, and drains from now."""
        self._hq.publish("stop", "premature stop")
        self._running = False
        t0 = self._t0 if self._t0 is not None else stopped_at
        self.outcome.duration_s = max(0.0, stopped_at - t0)
        log.info(
            "the run had stopped after %s; draining again (--drain-timeout %s)",
            format_duration(self.outcome.duration_s),
            format_duration(self._options.drain_timeout),
        )
        return self._clock()

    def _warn_silent(self, now: float) -> None:
        """Say once, while the test runs, when a turret stops answering."""
        for record in self._roster.silent(now, SILENT_S):
            ended = record.state in (State.KILLED, State.ABORTED)
            if record.uuid not in self._silent_warned and not ended:
                self._silent_warned.add(record.uuid)
                log.warning(
                    "turret %s (%s) has sent no status for %.0fs: is it still alive?",
                    record.name,
                    record.uuid,
                    now - record.last_seen,
                )

    def _drain(self, stopped_at: float) -> None:
        deadline = stopped_at + self._options.drain_timeout
        next_request = stopped_at + self._options.status_interval
        gone = {record.uuid for record in self._roster.silent(stopped_at, SILENT_S)}
        while (now := self._clock()) < deadline and any(
            record.uuid not in gone for record in self._roster.unsettled(stopped_at)
        ):
            self._sample(now)
            if now >= next_request:
                self._request_statuses()
                next_request = now + self._options.status_interval
            self._read(min(deadline, next_request, now + INTERRUPT_CHECK_S) - now)
        quiet_since = self._clock()
        while (now := self._clock()) < deadline:
            if now >= next_request:
                self._request_statuses()
                next_request = now + self._options.status_interval
            if self._read(QUIET_S):
                quiet_since = self._clock()
            elif not self._results_missing() or now - quiet_since >= self._late_results_s():
                break
        self._sample(self._clock())
        # The last line once every result is in: the summary's own figures, where one
        # shown at the stop would lack the last second's (an interval a second).
        self._progress.show(self._snapshot(self.outcome.duration_s))
        self._progress.finish()
        unsettled = self._roster.unsettled(stopped_at)
        self.outcome.unsettled = unsettled
        self.outcome.ended_at = self._clock()
        if unsettled:
            log.warning(
                "%d turrets did not report ready within --drain-timeout %s: %s",
                len(unsettled),
                format_duration(self._options.drain_timeout),
                "; ".join(f"{r.name} ({r.uuid}): {r.state}" for r in unsettled),
            )
        self.outcome.drain_s = self._clock() - stopped_at
        self._count_floods()

    def _count_floods(self) -> None:
        """Add what the caps held back, and what was never read, to the rejected."""
        rejected = self.outcome.counts.rejected
        for reason, count in (
            (PAST_TURRET_CAP, self._roster.ignored),
            (RENAMED, self._roster.renamed),
            (PAST_NAME_CAP, self._stats.turrets_pooled),
            (UNREAD, len(self._backlog)),
        ):
            if count:
                rejected[reason] = rejected.get(reason, 0) + count

    def _late_results_s(self) -> float:
        """How long a quiet socket is waited on for what is missing: ``LATE_RESULTS_S``,
        or, while numbered messages are missing, time for a resend to be asked (a gap
        lasts ``GAP_S``) and answered."""
        if self._journal is not None and self.ledger.missing():
            return 2 * GAP_S + LATE_RESULTS_S
        return LATE_RESULTS_S

    def _results_missing(self) -> bool:
        """True while a turret says it sent results (or numbered messages) that have
        not all arrived."""
        if self._journal is not None and self.ledger.missing():
            return True
        received = self._stats.results_by_turret()
        return any(
            row.produced - row.dropped > row.received
            for row in self._roster.delivery(received)
            if row.produced is not None and row.dropped is not None
        )

    def _sample(self, now: float) -> float:
        """Close the past seconds of the series with the active canons; returns elapsed.
        A sample that changes the series (a new second, a new canon count) is journaled."""
        elapsed = max(0.0, now - (self._t0 if self._t0 is not None else now))
        canons_active = self._roster.canons_active()
        self._stats.series.advance(elapsed, canons_active)
        if self._journal is not None and self._sampled != (int(elapsed), canons_active):
            self._sampled = (int(elapsed), canons_active)
            value = -1 if canons_active is None else canons_active
            self._journal.add(Kind.SAMPLE, elapsed, value=value)
        return elapsed

    def _snapshot(self, elapsed: float) -> Snapshot:
        transaction = self._stats.transaction
        return Snapshot(
            elapsed_s=elapsed,
            run_time_s=self._options.run_time,
            canons_active=self._roster.canons_active(),
            canons_total=self._roster.canons_total(),
            tx=transaction.count,
            tx_per_s=transaction.rate(elapsed),
            errors=transaction.errors,
            p95_ms=transaction.percentile_ms(95.0),
        )

    def _read(self, timeout_s: float) -> int:
        """Handle messages for up to ``timeout_s`` (at least ``HANDLE_AT_LEAST_S``):
        those left from the last read first, then new batches as they come until the
        time is up; what is left then waits for the next read. Returns how many were
        handled.

        The callers' checks (the end, the signals, the console's stop, the series'
        seconds) run between two reads, so at most every ``INTERRUPT_CHECK_S`` rather
        than after each batch: with a hundred turrets a batch holds a message or two,
        and the checks walk every turret."""
        start = self._clock()
        self._commit(start)
        until = start + max(timeout_s, HANDLE_AT_LEAST_S)
        handled = 0
        now = start
        while True:
            if not self._backlog:
                self._backlog.extend(self._hq.receive(max(0.0, until - now), BATCH))
                if not self._backlog:
                    break
                now = self._clock()
            while self._backlog and (not handled or now < until):
                self._handle_safely(self._backlog.popleft(), now)
                handled += 1
                now = self._clock()
            if now >= until:
                break
        return handled

    def _handle_safely(self, raw: bytes, now: float) -> None:
        """Handle one message; one that makes the HQ fail is counted, never fatal.

        ``classify`` checks every field so that nothing after it can fail: a failure
        here is a bug of ours, logged with its traceback (once) and counted."""
        try:
            self._handle(raw, now)
        except Exception:
            if FAILED not in self.outcome.counts.rejected:
                log.exception("a message made the HQ fail%s", _preview(raw))
            self._reject(FAILED)

    def _reject(self, reason: str) -> None:
        rejected = self.outcome.counts.rejected
        rejected[reason] = rejected.get(reason, 0) + 1

    def _handle(self, raw: bytes, now: float) -> None:
        counts = self.outcome.counts
        message = classify(raw)
        if (
            isinstance(message, Result | Interval)
            and message.sender is not None
            and not self.ledger.take(message.sender, message.seq or 0)
        ):
            counts.duplicates += 1
            return
        if self._journal is not None:
            if isinstance(message, Result):
                self._journal.add_result(now - self._base, raw)
            elif isinstance(message, Interval):
                at = now - self._base
                self._journal.add(Kind.DATA, at, raw, sender=message.sender, seq=message.seq)
            else:
                kind = Kind.STATUS if isinstance(message, Status) else Kind.DATA
                self._journal.add(kind, now - self._base, raw)
        if isinstance(message, Status):
            counts.statuses += 1
            if message.senders is not None:
                self.ledger.report(message.senders, now)
            record = self._roster.update(message, now, started=self._t0 is not None)
            if record is not None and message.loop_lag is not None:
                self._file_loop_lag(record, message.loop_lag, now)
            if record is not None and self._running:
                self._start_if_idle(record, now)
        elif isinstance(message, Result | Interval):
            results = 1 if isinstance(message, Result) else message.count
            if self._t0 is None:
                counts.stray_results += results
                if counts.stray_results == results:
                    log.warning(
                        "results arrived before the start (a turret still busy "
                        "with an earlier test?); counted apart, not in the statistics"
                    )
                return
            counts.results += results
            if isinstance(message, Result):
                counts.unnamed_results += message.turret_name is None
                self._stats.record(message, max(0.0, now - self._t0))
            else:
                counts.intervals += 1
                self._stats.record_interval(message, max(0.0, now - self._t0))
        else:
            counts.unknown += 1
            self._reject(message.reason)
            if counts.unknown <= LOGGED_UNKNOWN:
                log.warning(
                    "ignored a message: %s%s",
                    message.reason,
                    _preview(raw),
                )

    def _file_loop_lag(self, record: TurretRecord, interval: HdrHistogram, now: float) -> None:
        """Add a turret's loop lag (in the second it arrived, once the test has started);
        warn, once a turret, when its loop falls behind.

        A percentile walks the histogram's buckets in Python (milliseconds each), so
        it is read only when the interval's maximum could put the p99 over the line,
        and at most once per ``LOOP_LAG_CHECK_S`` a turret: with a hundred turrets, or
        one that floods statuses, that is most of the HQ's CPU otherwise.
        """
        at_s = None if self._t0 is None else now - self._t0
        self._stats.record_loop_lag(f"{record.name} ({record.uuid[:8]})", interval, at_s)
        if record.uuid in self._lag_warned:
            return
        if interval.get_max_value() < LOOP_LAG_WARN_MS * 1000:
            return
        if now - self._lag_checked.get(record.uuid, now - LOOP_LAG_CHECK_S) < LOOP_LAG_CHECK_S:
            return
        self._lag_checked[record.uuid] = now
        p99 = percentiles(interval, (99.0,))[99.0] / 1000.0
        if p99 < LOOP_LAG_WARN_MS:
            return
        self._lag_warned.add(record.uuid)
        log.warning(
            "turret %s (%s) is saturated: its loop woke up to %.0f ms late (p99 over the"
            " last interval); latencies below about that are not trustworthy",
            record.name,
            record.uuid,
            p99,
        )

    def _start_if_idle(self, record: TurretRecord, now: float) -> None:
        """Start a turret that says ``ready`` while the test runs (per ``late_start``)."""
        mode = self._options.late_start
        if record.state != State.READY or mode == "off":
            return
        if record.last_start_at is not None and now - record.last_start_at < START_RETRY_S:
            return
        if record.starts_sent >= MAX_STARTS:
            if record.starts_sent == MAX_STARTS:
                log.warning(
                    "turret %s (%s) ignored %d starts; giving up on it",
                    record.name,
                    record.uuid,
                    MAX_STARTS,
                )
                record.starts_sent += 1
            return
        log.info(
            "turret %s (%s) is ready while the test runs: starting it (%s)",
            record.name,
            record.uuid,
            "direct order" if mode == "direct" else "broadcast",
        )
        channel = record.uuid if mode == "direct" else ""
        context: Any = self._options.context
        self._hq.publish("set_transaction_context", context, channel=channel)
        start: Any = "open fire"
        if channel and record.speaks_gturret:
            start = wire.start_order_msg(wire.StartOrder(canons_at=self._place_late(record)))
        self._hq.publish("start", start, channel=channel)
        record.starts_sent += 1
        record.last_start_at = now
        self.outcome.counts.late_starts += 1
        if self._journal is not None:
            self._journal.event(now - self._base, "late_start", uuid=record.uuid)


def _threshold_verdict(kept: dict[str, Any] | None) -> Verdict | None:
    """The ``:abort`` threshold's verdict as ``outcome_record`` kept it."""
    if kept is None:
        return None
    threshold = parse_threshold(kept["expression"])
    return Verdict(threshold, kept["passed"], kept["actual"], kept["detail"])


def _preview(raw: bytes) -> str:
    text = raw[:120].decode("utf-8", "replace")
    return f" ({text!r}{'…' if len(raw) > 120 else ''})"
