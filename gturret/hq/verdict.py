"""The verdict of one test: every rule that fails a run, in one place.

Why it exists: a load test's verdict is what CI acts on, so it must never say PASS
over a failure it could see. A run fails (exit status 1) when any of these holds,
each named on its own line in the summary and in the JSON report:

0. the test was interrupted: a signal (SIGTERM, SIGINT) ended it before its run
   time, so it did not measure what was asked (CI's ``timeout`` must never read as
   a pass);
1. no transaction was recorded;
2. a turret was killed or aborted during the test, or did not come back to
   ``ready`` after the stop (it died, hung, or lost its link), or was already
   running when the HQ first heard from it (an earlier HQ started it: this run
   holds only part of its test);
3. results were lost: a turret says it produced more results than the HQ received
   from turrets of that name (those it dropped itself, its outbox full, and those
   lost on the way); only turrets that send counters can be checked;
4. canons starved: a turret started canons that never completed a transaction (the
   load generator, its connections or the target could not keep up);
5. the schedule was not kept (the open model): transactions were dropped because
   no canon could start them within ``max_lateness`` of their scheduled time, so the
   load the test asked for was not sent;
6. a transaction failed and no ``error_rate`` threshold on the transaction was
   given (as Locust exits 1 on any failure; such a threshold replaces this rule);
7. messages were rejected: a message failed the HQ's checks (malformed, out of
   range, not adding up: ``gturret.hq.messages``), came from a turret or a turret
   name past the HQ's caps, renamed a turret, or was left unread by a flood; the
   statistics hold only what could be counted, so they may be short;
8. the journal does not hold the whole run (``--journal``, docs/journal.md): a
   turret says it sent numbered data messages the HQ never got (lost with a dead
   HQ and gone from the turret's replay buffer, or the turret died), or the journal
   could not be written to the end (a full disk: the HQ ran on in memory);
9. a threshold failed; one marked ``:abort`` that failed while the test ran stopped
   it, and is named with the time it did so.

It must never compute statistics or print: it reads what was measured and says
what it means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gturret.errors import ExitStatus
from gturret.figures import format_duration
from gturret.hq.ledger import SenderLoss
from gturret.hq.messages import Pacing
from gturret.hq.roster import DeliveryRow, TurretRecord
from gturret.hq.stats import Summary
from gturret.hq.thresholds import Verdict
from gturret.wire import State

#: The rules of the module docstring but the last (each threshold is its own check),
#: as ``(key, what passing means, the limit)``: the JUnit report's testcases.
RULES = (
    (
        "interrupted",
        "the test ran its whole run time",
        "ended by --run-time, not by SIGTERM or SIGINT",
    ),
    ("transactions", "transactions were recorded", "at least 1 transaction"),
    (
        "turrets",
        "no turret died",
        "every turret started by this HQ, running to the stop, then ready again",
    ),
    ("delivery", "no results were lost", "0 results lost"),
    ("canons", "no canon starved", "every canon completes a transaction"),
    ("schedule", "the schedule was kept", "0 scheduled transactions dropped"),
    (
        "errors",
        "no transaction failed (without an error_rate threshold)",
        "0 failed transactions, unless an error_rate threshold allows some",
    ),
    (
        "messages",
        "every message was counted",
        "0 messages rejected (malformed, out of range, past a cap, or unread)",
    ),
    (
        "journal",
        "the journal holds the whole run",
        "every numbered message a turret sent received, the journal written to the end",
    ),
)


@dataclass(frozen=True, slots=True)
class Check:
    """One rule of the verdict: its key, title and limit (``RULES``), and what broke it.

    ``waived`` says why a rule did not apply (an ``error_rate`` threshold replaces
    the rule on failed transactions); a waived rule has no problems.
    """

    key: str
    title: str
    limit: str
    problems: tuple[str, ...] = ()
    waived: str | None = None

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class TestVerdict:
    """The test as a whole: passed or failed, why, every problem found, and each
    rule's own outcome (``checks``, in the order of ``RULES``)."""

    exit_status: int
    reason: str
    problems: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()

    @property
    def passed(self) -> bool:
        return self.exit_status == ExitStatus.OK


@dataclass(frozen=True, slots=True)
class EarlyStop:
    """A test a signal ended early: when (seconds after the start), of how long, by what."""

    at_s: float
    run_time_s: float
    signal: str


@dataclass(frozen=True, slots=True)
class ThresholdStop:
    """A test an ``:abort`` threshold stopped: when (seconds after the start), of how
    long, and the threshold's verdict over the run until then."""

    at_s: float
    run_time_s: float
    verdict: Verdict


def judge(
    summary: Summary,
    verdicts: tuple[Verdict, ...],
    *,
    turrets: Sequence[TurretRecord] = (),
    unsettled: Sequence[TurretRecord] = (),
    delivery: Sequence[DeliveryRow] = (),
    pacing: Pacing | None = None,
    ended_at: float = 0.0,
    rejected: Mapping[str, int] | None = None,
    early_stop: EarlyStop | None = None,
    losses: Sequence[SenderLoss] = (),
    journal_broken: str | None = None,
    threshold_stop: ThresholdStop | None = None,
) -> TestVerdict:
    """Apply every rule of the module docstring; ``ended_at`` is the session's clock;
    ``rejected``: messages not counted, by reason (``MessageCounts.rejected``)."""
    found: dict[str, list[str]] = {key: [] for key, _, _ in RULES}
    if early_stop is not None:
        found["interrupted"].append(
            f"the test was interrupted at {early_stop.at_s:.1f}s of"
            f" {format_duration(early_stop.run_time_s)} ({early_stop.signal or 'a signal'})"
        )
    if summary.transaction.count == 0:
        found["transactions"].append("no transactions were recorded: the turrets sent no results")
    found["turrets"] += _turret_problems(turrets, unsettled, ended_at)
    found["delivery"] += [_lost(row) for row in delivery if row.lost]
    found["canons"] += _starved(turrets)
    if pacing is not None and pacing.dropped:
        found["schedule"].append(
            f"the schedule was not kept: {pacing.dropped} of {pacing.scheduled} scheduled"
            " transactions dropped, too late to start (raise canons, or lower the rate)"
        )
    waived = _error_rate_threshold(verdicts)
    if waived is None:
        found["errors"] += _failed_transactions(summary)
    found["messages"] += [
        f"{count} {'message' if count == 1 else 'messages'} rejected: {reason}"
        for reason, count in sorted((rejected or {}).items(), key=lambda item: -item[1])
    ]
    found["journal"] += [_never_received(loss) for loss in losses]
    if journal_broken is not None:
        found["journal"].append(
            f"the journal is incomplete: it could not be written ({journal_broken}); the"
            " HQ ran on in memory, so this report is whole but the run cannot be resumed"
            " or reported again from the journal"
        )
    checks = tuple(
        Check(
            key,
            title,
            limit,
            tuple(found[key]),
            f"replaced by the threshold {waived}" if key == "errors" and waived else None,
        )
        for key, title, limit in RULES
    )
    problems = [problem for check in checks for problem in check.problems]
    if threshold_stop is not None:
        problems.insert(
            0,
            f"the threshold {threshold_stop.verdict.threshold.expression} stopped the test at"
            f" {threshold_stop.at_s:.1f}s of {format_duration(threshold_stop.run_time_s)}:"
            f" {threshold_stop.verdict.detail}",
        )
    failed = [verdict for verdict in verdicts if not verdict.passed]
    if failed:
        names = ", ".join(verdict.threshold.expression for verdict in failed)
        problems.append(f"{len(failed)} of {len(verdicts)} thresholds failed: {names}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return TestVerdict(ExitStatus.FAILED, problems[0] + more, tuple(problems), checks)
    if len(verdicts) == 1:
        return TestVerdict(ExitStatus.OK, "the threshold passed", checks=checks)
    if verdicts:
        return TestVerdict(ExitStatus.OK, f"all {len(verdicts)} thresholds passed", checks=checks)
    return TestVerdict(
        ExitStatus.OK, "transactions recorded, none failed; no thresholds were set", checks=checks
    )


def turret_label(record: TurretRecord) -> str:
    """``navigation (d7b8a1cc)``: a name people know and enough uuid to tell twins apart."""
    return f"{record.name} ({record.uuid[:8]})"


def _never_received(loss: SenderLoss) -> str:
    dropped = (
        f", {loss.dropped} of them dropped from its replay buffer (full)" if loss.dropped else ""
    )
    return (
        f"sender {loss.sender}: {loss.missing} of the {loss.sent} numbered data messages it"
        f" sent never reached the journal{dropped}"
    )


def _turret_problems(
    turrets: Sequence[TurretRecord], unsettled: Sequence[TurretRecord], ended_at: float
) -> list[str]:
    problems = []
    unsettled_ids = {record.uuid for record in unsettled}
    for record in turrets:
        label = turret_label(record)
        if record.found_running:
            problems.append(
                f"turret {label} was already running when this HQ first heard from it"
                " (started by an earlier HQ, or this one restarted): what it did before"
                " is not in this run"
            )
        if record.state == State.KILLED:
            problems.append(f"turret {label} was killed during the test")
        elif record.state == State.ABORTED:
            problems.append(f"turret {label} aborted during the test (see the turret's log)")
        elif record.uuid in unsettled_ids:
            silent = ended_at - record.last_seen
            problems.append(
                f"turret {label} did not come back to ready after the stop (last status "
                f"{record.state!r}, {silent:.1f}s before the end): it died, hung or lost its link"
            )
    return problems


def _lost(row: DeliveryRow) -> str:
    parts = []
    if row.dropped:
        parts.append(f"{row.dropped} dropped by the turret: its outbox was full")
    if row.lost_on_the_way:
        parts.append(f"{row.lost_on_the_way} sent but never received")
    turrets = "turret" if row.turrets == 1 else f"{row.turrets} turrets"
    return f"{turrets} {row.name}: {row.lost} of {row.produced} results lost ({'; '.join(parts)})"


def _starved(turrets: Sequence[TurretRecord]) -> list[str]:
    problems = []
    for record in turrets:
        counts = record.canon_counts
        if counts is None or not counts.never_completed:
            continue
        killed = sum(number for number, _ in counts.killed.values())
        longest = max((seconds for _, seconds in counts.killed.values()), default=0.0)
        details = []
        if counts.never_started:
            details.append(
                f"{counts.never_started} never started: the turret's CPU was full (use"
                " --processes, more turrets, or gturret.http)"
            )
        if killed:
            details.append(f"{killed} killed at the stop, the longest after {longest:.1f}s")
        problems.append(
            f"turret {turret_label(record)}: {counts.never_completed} of {counts.spawned}"
            " canons never completed a transaction (starved: the load generator, its"
            " connections or the target could not keep up)"
            + "".join(f"; {detail}" for detail in details)
        )
    return problems


def _error_rate_threshold(verdicts: tuple[Verdict, ...]) -> str | None:
    """The expression of an ``error_rate`` threshold on the transaction, if one was given."""
    for verdict in verdicts:
        threshold = verdict.threshold
        if threshold.metric == "error_rate" and threshold.timer is None:
            return threshold.expression
    return None


def _failed_transactions(summary: Summary) -> list[str]:
    transaction = summary.transaction
    if not transaction.errors:
        return []
    return [
        f"{transaction.errors} of {transaction.count} transactions failed "
        f"({transaction.error_rate_pct or 0:.2f} %) and no error_rate threshold was given "
        "(add --threshold 'error_rate<N%' to allow some)"
    ]
