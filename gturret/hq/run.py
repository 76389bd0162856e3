"""Run one test with our HQ, in-process: bind, call back, drive, summarize, report.

Why it exists: ``gturret-hq`` and ``gturret config.json --standalone`` share this
one entry point, so both behave the same. It returns an exit status instead of
exiting: 0 passed, 1 failed (by a rule of :mod:`gturret.hq.verdict`), 2 no test
could run (a port it cannot bind, turrets that never came, a report it cannot
write), 130 a signal before the test started (a signal during it ends it early: a
failed verdict, reports written). It must never call ``sys.exit``, monkey-patch or
install signal handlers: the caller owns the process (and its ``Interruption``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent

from gturret.errors import ExitStatus, HQError, JournalError, JournalFull, RunInterrupted
from gturret.figures import format_duration, plural
from gturret.hq.document import build_document, write_json
from gturret.hq.findings import Findings
from gturret.hq.interrupt import Interruption
from gturret.hq.journal import Journal
from gturret.hq.link import HQLink
from gturret.hq.options import HQOptions
from gturret.hq.progress import Progress
from gturret.hq.reportfile import CSV_KINDS, csv_paths
from gturret.hq.resume import options_from, replay, settings_of
from gturret.hq.roster import Roster
from gturret.hq.session import INTERRUPT_CHECK_S, Outcome, Session
from gturret.hq.stats import Stats
from gturret.hq.summary import render_summary
from gturret.hq.thresholds import evaluate_all
from gturret.hq.verdict import EarlyStop, ThresholdStop, judge

if TYPE_CHECKING:
    from gturret.hq.console import Console

__all__ = ["HQOptions", "run_hq"]

log = logging.getLogger(__name__)

#: Seconds ZeroMQ gets to deliver ``--kill-turrets``' kill before the HQ exits: a
#: subscriber on the same network takes it in far less.
KILL_LINGER_S = 2.0


def run_hq(
    options: HQOptions,
    *,
    on_bound: Callable[[int, int], None] | None = None,
    on_start: Callable[[], None] | None = None,
    interruption: Interruption | None = None,
) -> int:
    """Run one test; ``on_bound(pub_port, rc_port)`` is called once both sockets are
    bound, ``on_start()`` right after the start is sent; ``interruption`` holds the
    signals the caller's handlers received."""
    out = options.out or sys.stdout
    resumed: Journal | None = None
    try:
        if options.resume is not None:
            resumed = _resumable(options.resume)
        link = HQLink(options.bind, options.pub_port, options.rc_port, options.keys)
    except (HQError, JournalError) as exc:
        log.error("%s", exc)
        return ExitStatus.USAGE
    stats, roster = Stats(latency_by_turret=options.metrics_port is not None), Roster()
    progress = Progress(out, enabled=options.progress, plain_interval=options.progress_interval)
    base = None if resumed is None else time.monotonic() - (time.time() - resumed.epoch)
    session = Session(
        link,
        options,
        stats,
        roster,
        progress,
        on_start=on_start,
        interruption=interruption,
        steer=options.web_port is not None,
        base=base,
    )
    ports = (link.pub_port, link.rc_port)
    unwritten: str | None = None
    try:
        journal = resumed or _new_journal(options, ports)
    except JournalFull as exc:
        log.warning("%s: the HQ runs on in memory, and the verdict says so", exc)
        journal, unwritten = None, str(exc)
    except JournalError as exc:
        link.close()
        log.error("%s", exc)
        return ExitStatus.USAGE
    if resumed is not None and base is not None:
        replay(resumed, session, base)
        log.info(
            "resuming the run of %s: %s replayed from it",
            resumed.path,
            plural(len(roster), "turret"),
        )
    if journal is not None:
        session.attach(journal)
    if interruption is not None:
        interruption.before_exit(link.last_stop)
    metrics = console = None
    try:
        if options.metrics_port is not None:
            from gturret.hq.metricsserver import MetricsServer

            metrics = MetricsServer(options.metrics_bind, options.metrics_port, stats, roster)
            metrics.start()
        if options.web_port is not None:
            from gturret.hq.console import Console

            def so_far(*, lag_by_turret: bool = True) -> Findings:
                outcome = replace(session.outcome, duration_s=session.elapsed())
                return _findings(
                    session.options, ports, outcome, stats, roster, session, None, lag_by_turret
                )

            console = Console(options, session, roster, so_far)
            console.start()
        log.info(
            "HQ bound: commands (PUB) on %s, results (PULL) on %s%s; waiting for %s "
            "(--wait-timeout %s)",
            link.pub_endpoint,
            link.rc_endpoint,
            ""
            if options.keys is None
            else f" over CurveZMQ ({plural(len(options.keys.turrets.keys), 'turret key')})",
            plural(options.turrets, "turret"),
            format_duration(options.wait_timeout),
        )
        if on_bound is not None:
            on_bound(*ports)
        session.run()
    except RunInterrupted as exc:
        log.warning("%s", exc)
        _stop(console)
        return ExitStatus.INTERRUPTED
    except HQError as exc:
        log.error("%s", exc)
        _stop(console)
        return ExitStatus.USAGE
    finally:
        if interruption is not None:
            interruption.before_exit(None)
        if options.kill_turrets:
            link.publish("kill", "the test is over (--kill-turrets)")
        link.close(KILL_LINGER_S if options.kill_turrets else 0.0)
        if metrics is not None:
            metrics.stop()
        if journal is not None:
            journal.close()

    broken = unwritten if journal is None else journal.broken
    findings = _findings(session.options, ports, session.outcome, stats, roster, session, broken)
    return _report(session.options, findings, console, interruption)


def report_journal(path: Path, **outputs: Any) -> int:
    """``gturret-hq report PATH``: the summary and the reports ``outputs`` asks for
    (``resume.OUTPUTS``; none: the journal's own), from the journal of a finished run."""
    try:
        journal = Journal.open(path)
        outcome = journal.meta("outcome")
        if outcome is None:
            raise JournalError(
                f"the run in {path} has no end (its HQ died?): resume it with"
                f" gturret-hq --resume {path}"
            )
        options = options_from(journal, **outputs) if outputs else options_from(journal)
        stats = Stats(latency_by_turret=options.metrics_port is not None)
        roster = Roster()
        session = Session(
            None,
            options,
            stats,
            roster,
            Progress(sys.stdout, enabled=False, plain_interval=options.progress_interval),
        )
        replay(journal, session, base=0.0)
        session.restore_outcome(outcome)
        settings = journal.meta("settings")
        journal.release()
    except JournalError as exc:
        log.error("%s", exc)
        return ExitStatus.USAGE
    ports = (settings["pub_port"], settings["rc_port"])
    findings = _findings(options, ports, session.outcome, stats, roster, session, None)
    return _report(options, findings)


def _resumable(path: Path) -> Journal:
    """The journal of a run to resume; JournalError for one whose run has ended."""
    journal = Journal.open(path)
    if journal.meta("outcome") is not None:
        raise JournalError(f"the run in {path} has ended: report it with gturret-hq report {path}")
    return journal


def _new_journal(options: HQOptions, ports: tuple[int, int]) -> Journal | None:
    """The journal ``--journal`` asks for, its settings written; None without one."""
    if options.journal_path is None:
        return None
    journal = Journal.create(options.journal_path)
    journal.set_meta("settings", settings_of(options, ports))
    journal.commit()
    log.info(
        "journal: %s (if this HQ dies: gturret-hq --resume %s)",
        options.journal_path,
        options.journal_path,
    )
    return journal


def _report(
    options: HQOptions,
    findings: Findings,
    console: Console | None = None,
    interruption: Interruption | None = None,
) -> int:
    """Show the summary and write the reports of ``findings``; the exit status. With a
    ``console`` it shows the end too, until Ctrl-C unless the test started itself."""
    out = options.out or sys.stdout
    out.write(render_summary(findings))
    out.flush()
    document = build_document(findings, now=time.time())
    written = _write_reports(options, document, findings.summary.errors)
    if console is not None:
        console.finish(document, written or {})
        if not options.autostart and interruption is not None and interruption.signal is None:
            log.info("the test is over; the console shows its end until Ctrl-C")
            while interruption.signal is None:
                gevent.sleep(INTERRUPT_CHECK_S)
        console.stop()
    if written is None:
        return ExitStatus.USAGE
    return findings.verdict.exit_status


def _stop(console: Console | None) -> None:
    if console is not None:
        console.stop()


def _findings(
    options: HQOptions,
    ports: tuple[int, int],
    outcome: Outcome,
    stats: Stats,
    roster: Roster,
    session: Session,
    journal_broken: str | None,
    lag_by_turret: bool = True,
) -> Findings:
    """Everything the test found (``outcome``: the session's, or so far), judged: what
    the summary, every report and the console show."""
    summary = replace(
        stats.summarize(outcome.duration_s, lag_by_turret=lag_by_turret), memory=roster.memory()
    )
    verdicts = evaluate_all(options.thresholds, summary)
    turrets = tuple(roster.records())
    delivery = roster.delivery(summary.results_by_turret)
    pacing = roster.pacing()
    verdict = judge(
        summary,
        verdicts,
        turrets=turrets,
        unsettled=outcome.unsettled,
        delivery=delivery,
        pacing=pacing,
        ended_at=outcome.ended_at,
        rejected=outcome.counts.rejected,
        early_stop=EarlyStop(outcome.duration_s, options.run_time, outcome.interrupted_by)
        if outcome.interrupted
        else None,
        losses=session.ledger.losses(),
        journal_broken=journal_broken,
        threshold_stop=ThresholdStop(outcome.stopped_at_s, options.run_time, outcome.stopped_by)
        if outcome.stopped_by is not None and outcome.stopped_at_s is not None
        else None,
    )
    return Findings(
        summary=summary,
        verdicts=verdicts,
        verdict=verdict,
        turrets=turrets,
        delivery=delivery,
        canons_total=roster.canons_total(),
        canons=roster.canon_summary(),
        pacing=pacing,
        outcome=outcome,
        options=options,
        ports=ports,
        feeders=roster.feeders(),
    )


def _write_reports(
    options: HQOptions, document: dict[str, Any], errors: tuple[tuple[str, int], ...]
) -> dict[str, Path] | None:
    """Write the asked-for reports of ``document``; the files written, by kind (json,
    html, junit, and csv_KIND for each of ``CSV_KINDS``), or None (after logging why)
    if one could not be written. The CSV takes every error text kept (``errors``: the
    document holds the top 10). The log line of each names the files it wrote (the
    CSV's files, not its prefix)."""
    writers: list[tuple[str, Path, Sequence[Path], Callable[[Path, dict[str, Any]], None]]] = []
    if options.json_path is not None:
        writers.append(("JSON", options.json_path, (options.json_path,), write_json))
    if options.html_path is not None:
        from gturret.hq.htmlreport import write_html

        writers.append(("HTML", options.html_path, (options.html_path,), write_html))
    if options.junit_path is not None:
        from gturret.hq.junit import write_junit

        writers.append(("JUnit", options.junit_path, (options.junit_path,), write_junit))
    if options.csv_prefix is not None:
        from gturret.hq.csvreport import write_csv

        prefix = options.csv_prefix
        writers.append(
            ("CSV", prefix, csv_paths(prefix), lambda path, doc: write_csv(path, doc, errors))
        )
    written: dict[str, Path] = {}
    failed = False
    for kind, path, files, write in writers:
        try:
            write(path, document)
            log.info("%s report written to %s", kind, ", ".join(str(file) for file in files))
        except OSError as exc:
            log.error("cannot write the %s report %s: %s", kind, path, exc)
            failed = True
            continue
        if kind == "CSV":
            written.update(zip((f"csv_{kind}" for kind in CSV_KINDS), files, strict=True))
        else:
            written[kind.lower()] = path
    return None if failed else written
