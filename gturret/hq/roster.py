"""The roster: what the HQ knows of each turret, from its status messages alone.

Why it exists: the session must know how many turrets reported, which ones joined
after the start (they get a direct start), whether all are ready again after the
stop, and how many canons are active. It must never send anything: it only
remembers and answers; the session decides what to publish.

Its memory is bounded whatever turrets send: at most ``MAX_TURRETS`` uuids (statuses
of more are counted in ``ignored``, never kept), and a turret keeps the name of its
first status (a status that renames it is counted in ``renamed``): a uuid that
renames itself thousands of times stays one turret with one name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gturret.hq.memory import MemorySummary, MemoryTrack, summarize
from gturret.hq.messages import CanonCounts, Delivery, FeederReport, Pacing, Status
from gturret.wire import State

log = logging.getLogger(__name__)

#: Turrets (uuids) remembered; a fleet larger than this is not one HQ's to run.
MAX_TURRETS = 2_000
SETTLED_STATES = frozenset({State.READY, State.KILLED, State.ABORTED})


@dataclass(slots=True)
class TurretRecord:
    """One turret as last reported; times are the session's clock."""

    uuid: str
    name: str
    state: str
    canons: int | None
    canons_active: int | None
    script: str | None
    rampup: float | None
    first_seen: float
    last_seen: float
    delivery: Delivery | None = None
    canon_counts: CanonCounts | None = None
    pacing: Pacing | None = None
    #: It answered our handshake (its statuses carry the protocol version).
    speaks_gturret: bool = False
    joined_late: bool = False
    #: It was already running when it first reported, before our start: an earlier
    #: HQ started it (this one restarted?), so what it sent before is not ours.
    found_running: bool = False
    starts_sent: int = 0
    last_start_at: float | None = None
    memory: MemoryTrack = field(default_factory=MemoryTrack)
    feeders: dict[str, FeederReport] = field(default_factory=dict)
    canons_exhausted: int | None = None
    #: Where our start order placed its canons among the fleet's (first, total), which
    #: gives it its share of each fleet feeder's rows (docs/feeders.md).
    canons_at: tuple[int, int] | None = None

    def active_canons(self) -> int | None:
        """Active canons if known: reported, or 0 for a turret that is not running."""
        if self.canons_active is not None:
            return self.canons_active
        return None if self.state == State.RUNNING else 0


class Roster:
    """Every turret that reported, by uuid, in the order they first reported."""

    def __init__(self) -> None:
        self._turrets: dict[str, TurretRecord] = {}
        #: Statuses of turrets past ``MAX_TURRETS``, and statuses that renamed a turret.
        self.ignored = 0
        self._longest_rampup = 0.0
        self.renamed = 0

    def __len__(self) -> int:
        return len(self._turrets)

    def records(self) -> list[TurretRecord]:
        return list(self._turrets.values())

    def update(self, status: Status, now: float, *, started: bool) -> TurretRecord | None:
        """Remember a status; ``started``: the test has begun (new turrets are late).

        Returns None for a new turret past ``MAX_TURRETS`` (counted in ``ignored``).
        """
        record = self._turrets.get(status.uuid)
        if record is None:
            if len(self._turrets) >= MAX_TURRETS:
                self.ignored += 1
                return None
            record = TurretRecord(
                uuid=status.uuid,
                name=status.name,
                state=status.state,
                canons=status.canons,
                canons_active=status.canons_active,
                script=status.script,
                rampup=status.rampup,
                first_seen=now,
                last_seen=now,
                delivery=status.delivery,
                canon_counts=status.canon_counts,
                pacing=status.pacing,
                speaks_gturret=status.speaks_gturret,
                feeders=status.feeders,
                canons_exhausted=status.canons_exhausted,
                joined_late=started,
                found_running=not started and status.state == State.RUNNING,
            )
            self._turrets[status.uuid] = record
            log.info(
                "turret %s (%s) reported: %s, %s canons%s",
                record.name,
                record.uuid,
                status.status,
                "?" if record.canons is None else record.canons,
                " (joined after the start)" if started else "",
            )
            self._observe_memory(record, status, now, started)
            return record
        if record.state != status.state:
            log.info("turret %s (%s) is now %s", record.name, record.uuid, status.status)
        self.renamed += status.name != record.name
        record.state = status.state
        record.canons = status.canons
        record.canons_active = status.canons_active
        record.script = status.script
        record.rampup = status.rampup
        record.delivery = status.delivery
        record.canon_counts = status.canon_counts
        record.pacing = status.pacing or record.pacing
        record.speaks_gturret = status.speaks_gturret or record.speaks_gturret
        record.feeders = status.feeders or record.feeders
        if status.canons_exhausted is not None:
            record.canons_exhausted = status.canons_exhausted
        record.last_seen = now
        self._observe_memory(record, status, now, started)
        return record

    def _observe_memory(
        self, record: TurretRecord, status: Status, now: float, started: bool
    ) -> None:
        """File a running status's memory; the baseline waits for the fleet's rampup."""
        self._longest_rampup = max(self._longest_rampup, status.rampup or 0.0)
        if started and status.state == State.RUNNING and status.rss_bytes is not None:
            record.memory.observe(
                status.rss_bytes, status.rss_peak_bytes, now, self._longest_rampup
            )

    def memory(self) -> MemorySummary | None:
        """Every turret's memory in this test (None: no turret reported any)."""
        return summarize((f"{r.name} ({r.uuid[:8]})", r.memory) for r in self._turrets.values())

    def canons_total(self) -> int | None:
        """Sum of every turret's canons; None if a turret did not say."""
        counts = [record.canons for record in self._turrets.values()]
        return None if not counts or None in counts else sum(c for c in counts if c is not None)

    def canons_active(self) -> int | None:
        """Sum of active canons; None unless every turret's count is known."""
        counts = [record.active_canons() for record in self._turrets.values()]
        return None if not counts or None in counts else sum(c for c in counts if c is not None)

    def canon_shares(self, records: list[TurretRecord]) -> dict[str, float]:
        """Each turret's share of the canons of ``records`` (equal where unknown)."""
        canons = [record.canons or 0 for record in records]
        total = sum(canons)
        if not total:
            return {record.uuid: 1.0 / len(records) for record in records}
        return {record.uuid: n / total for record, n in zip(records, canons, strict=True)}

    def pacing(self) -> Pacing | None:
        """The paced turrets' counts added up; None if no turret was paced."""
        counts = [record.pacing for record in self._turrets.values() if record.pacing]
        if not counts:
            return None
        return Pacing(
            sum(c.scheduled for c in counts),
            sum(c.late for c in counts),
            sum(c.dropped for c in counts),
        )

    def canon_summary(self) -> CanonSummary:
        """Canons of every turret that sends canon counts, added up."""
        counts = [r.canon_counts for r in self._turrets.values() if r.canon_counts is not None]
        killed: dict[str, tuple[int, float]] = {}
        for count in counts:
            for phase, (number, longest) in count.killed.items():
                before = killed.get(phase, (0, 0.0))
                killed[phase] = (before[0] + number, max(before[1], longest))
        return CanonSummary(
            reporting=len(counts),
            spawned=sum(c.spawned for c in counts),
            started=sum(c.started for c in counts),
            never_completed=sum(c.never_completed for c in counts),
            never_started=sum(c.never_started for c in counts),
            killed=dict(sorted(killed.items())),
        )

    def feeders(self) -> FeederSummary | None:
        """Every turret's feeders added up by name; None if no turret reported one."""
        by_name: dict[str, list[tuple[TurretRecord, FeederReport]]] = {}
        for record in self._turrets.values():
            for name, report in record.feeders.items():
                by_name.setdefault(name, []).append((record, report))
        if not by_name:
            return None
        totals = []
        for name, reports in sorted(by_name.items()):
            lefts = [report.left for _, report in reports]
            totals.append(
                FeederTotal(
                    name=name,
                    served=sum(report.served for _, report in reports),
                    left=None if None in lefts else sum(n for n in lefts if n is not None),
                    exhausted=sum(report.exhausted for _, report in reports),
                    exhausted_at=tuple(
                        sorted(
                            (at, f"{record.name} ({record.uuid[:8]})")
                            for record, report in reports
                            for at in report.exhausted_at
                        )
                    ),
                    stop_test=any(report.stop_test for _, report in reports),
                )
            )
        exhausted = [r.canons_exhausted or 0 for r in self._turrets.values()]
        return FeederSummary(tuple(totals), sum(exhausted))

    def stop_test_feeder(self) -> str | None:
        """The name of a feeder whose turret asks to end the test (``stop_test``)."""
        for record in self._turrets.values():
            for name, report in record.feeders.items():
                if report.stop_test:
                    return f"{name} on turret {record.name} ({record.uuid})"
        return None

    def unsettled(self, since: float) -> list[TurretRecord]:
        """Turrets with no ready/killed/aborted status received after ``since``."""
        return [
            record
            for record in self._turrets.values()
            if record.state not in SETTLED_STATES or record.last_seen < since
        ]

    def silent(self, now: float, after: float) -> list[TurretRecord]:
        """Turrets not heard from for more than ``after`` seconds."""
        return [record for record in self._turrets.values() if now - record.last_seen > after]

    def delivery(self, received_by_name: dict[str, int]) -> tuple[DeliveryRow, ...]:
        """Per turret name: what its turrets say they produced against what arrived.

        Results carry the turret's name, not its uuid, so turrets sharing a name are
        added up. Counts stay None where a turret of that name sent no counters
        (the reference turret never does).
        """
        by_name: dict[str, list[TurretRecord]] = {}
        for record in self._turrets.values():
            by_name.setdefault(record.name, []).append(record)
        rows = []
        for name, records in by_name.items():
            deliveries = [record.delivery for record in records]
            received = received_by_name.get(name, 0)
            if any(delivery is None for delivery in deliveries):
                rows.append(DeliveryRow(name, len(records), None, received, None, None))
                continue
            produced = sum(d.produced for d in deliveries if d is not None)
            dropped = sum(d.dropped for d in deliveries if d is not None)
            lost = max(0, produced - received)
            rows.append(DeliveryRow(name, len(records), produced, received, dropped, lost))
        return tuple(rows)


@dataclass(frozen=True, slots=True)
class CanonSummary:
    """Canons over the turrets that report them (``reporting`` of them)."""

    reporting: int
    spawned: int
    started: int
    never_completed: int
    never_started: int
    killed: dict[str, tuple[int, float]]


@dataclass(frozen=True, slots=True)
class FeederTotal:
    """One feeder over the fleet: rows served and left (None: a mode that never runs
    out), how often it ran out and when (epoch seconds, turret), whether that ended
    the test."""

    name: str
    served: int
    left: int | None
    exhausted: int
    exhausted_at: tuple[tuple[float, str], ...]
    stop_test: bool


@dataclass(frozen=True, slots=True)
class FeederSummary:
    """The fleet's feeders, and the canons that ended for want of rows."""

    feeders: tuple[FeederTotal, ...]
    canons_exhausted: int


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """Results of the turrets named ``name``: produced (their count), received (ours)."""

    name: str
    turrets: int
    produced: int | None
    received: int
    dropped: int | None
    lost: int | None

    @property
    def lost_on_the_way(self) -> int | None:
        """Lost after the turret sent them (the rest of ``lost`` it dropped itself)."""
        if self.lost is None or self.dropped is None:
            return None
        return max(0, self.lost - self.dropped)
