"""The report document: everything one test measured, as plain JSON data.

``--json PATH`` writes it; the HTML report is rendered from the same document, so
both always agree. It must never hold anything but JSON types and valid Unicode
(a lone surrogate from the wire, as an undecodable file name in an error text,
is kept as its escape ``\\udcff``: every report encodes to UTF-8), and a key once
published keeps its meaning (add keys; bump ``schema`` to change one).

Schema ``gturret-hq/1`` (times in milliseconds unless the key ends in ``_s``;
``null`` where a value is unknown or there was no data)::

    {
      "schema": "gturret-hq/1",
      "generated_at": "2026-01-31T12:00:00Z",      # UTC, ISO 8601
      "test": {
        "started_at": "…Z" | null,                 # when start was sent (UTC)
        "run_time_s": 120.0,                        # asked for (--run-time)
        "duration_s": 120.01,                       # start sent → stop sent
        "drain_s": 0.42,                            # stop sent → last message read
        "interrupted": false,                       # SIGTERM or SIGINT ended it early
        "stopped_by": {"threshold": "p99<500ms:abort",   # null, or the :abort threshold
                       "at_s": 12.0,                # that stopped the test, when (s after
                       "detail": "transaction p99 = …"} | null,  # the start), and why
        "context": {},                              # set_transaction_context msg
        "bind": "127.0.0.1", "pub_port": 5000, "rc_port": 5001
      },
      "events": [{"at_s": 12.5, "kind": "rate",    # changes made in the console (--web)
                  "detail": "arrival rate 50 → 200 transactions/s"}],  # kind: start, stop,
                                                    # rate or canons; [] without a console
      "verdict": {"passed": true, "exit_status": 0, "reason": "all 2 thresholds passed",
                  "problems": [],             # every failed rule (gturret/hq/verdict.py)
                  "checks": [{"key": "delivery", "title": "no results were lost",
                              "limit": "0 results lost",        # one per rule, in order
                              "passed": true, "problems": [],
                              "waived": null}]},  # or why it did not apply
      "turrets": [{
        "uuid": "…", "name": "navigation", "state": "ready",   # last status, lower case
        "canons": 50 | null, "canons_active": 0 | null,       # as last reported
        "script": "v_user.py" | null, "rampup": 10 | null,
        "joined_late": false,                                  # first seen after start
        "found_running": false,                      # running when first seen: restarted HQ?
        "starts_sent": 1,                                      # the start + late starts
        "results_produced": 1234 | null,   # the turret's own counts for this test, from
        "results_sent": 1234 | null,       # its last status; null when it sends none
        "results_dropped": 0 | null,       # (the reference turret)
        "results_queued": 0 | null,
        "rss_bytes": 73400320 | null,      # its memory (resident) at its last running
        "rss_growth_bytes": 1048576 | null,  # status; gained since its first after the
        "rss_highest_bytes": 75497472 | null,  # rampup; its highest while running; its
        "rss_peak_bytes": 80000000 | null,   # process's peak (a fleet: added up); null:
        "memory_leak": false               # none reported; kept growing (hq/memory.py)
      }],
      "unsettled_turrets": ["name (uuid): running"],           # not ready after drain
      "delivery": [{                          # per turret name (results carry no uuid)
        "name": "navigation", "turrets": 1,
        "produced": 1234 | null, "received": 1234,
        "dropped": 0 | null, "lost": 0 | null  # null: a turret of that name sent no counts
      }],
      "canons": {"total": 150 | null,        # configured; null: a turret did not say
                 "spawned": 150 | null,      # by the rampup; null: no turret sent counts
                 "started": 150 | null,      # whose greenlet ran
                 "never_completed": 0 | null,  # spawned, built, never finished a transaction
                 "never_started": 0 | null,  # spawned, never ran: the turret's CPU was full
                 "killed_at_stop": {"run": {"count": 3, "longest_s": 12.5}}},
      "transaction": METRIC,         # scriptrun_time of each result; in a paced run
                                     # counted from when each transaction was due
      "transaction_uncorrected": METRIC | null,   # paced: run() alone (actual starts)
      "pacing": {"scheduled": 600, "late_starts": 3,          # null unless paced;
                 "dropped_starts": 0, "schedule_lag_p99_ms": 1.2},  # late: > 10 ms
      "loop_lag": {"p99_ms": 1.1, "max_ms": 4.0,              # null: no turret said;
                   "turrets": {"nav (d7b8a1cc)": {"p99_ms": 1.1, "max_ms": 4.0}}},
      "memory": {"rss_max_bytes": 75497472,           # null: no turret said; the highest,
                 "rss_growth_max_bytes": 1048576 | null,  # the largest growth of a turret
                 "warnings": ["turret nav (d7b8a1cc) kept growing: …"]},  # leaks
      "feeders": {"canons_exhausted": 0,      # null: no turret had feeders; canons ended
                  "by_name": {"users": {          # for want of rows; per feeder, the fleet's:
                    "served": 100000, "left": 0 | null,   # rows (left: null unless unique)
                    "exhausted": 10,                      # times a process ran out
                    "exhausted_at": [{"at": "…Z", "turret": "nav (d7b8a1cc)"}],  # first 100
                    "stop_test": false}}},                # it ended the test
      "timers": {"login": METRIC, …},                          # one per custom timer, by name
      "errors": {"kinds": 2, "top": [{"error": "HTTP 503", "count": 12}, …]},  # top 10
      "results_by_turret": {"navigation": 1234, "(unnamed)": 0},
      "time_series": [{                                         # one point per second
        "second": 0,                  # covers [second, second+1) after the start; the
        "tx": 98, "errors": 0,        # last point may cover less; results are placed
        "p50_ms": 5.1, "p95_ms": 9.8, # by the time the HQ read them
        "canons_active": 30 | null,   # null unless every turret reports canons_active
        "p95_uncorrected_ms": 8.0 | null, # paced runs only
        "p99_ms": 12.0,
        "loop_lag_p99_ms": 0.9 | null     # the turrets' loop lag reported that second
      }],
      "thresholds": [{
        "expression": "p95<100ms", "timer": null, "metric": "p95", "op": "<",
        "limit": 100.0, "unit": "ms",  # ms, "%" (error_rate), "tx/s" or "MB" (rss_*)
        "passed": true, "actual": 23.1 | null, "detail": "transaction p95 = …",
        "abort": false, "abort_after_s": 0.0,   # :abort[:DELAY]: may stop the test
        "stopped_test_at_s": null               # s after the start, if it stopped it
      }],
      "messages": {"results": 1234,        # transactions, one by one or in intervals
                   "statuses": 40, "intervals": 10, "unknown": 0,
                   "stray_results": 0,     # results read before the start (not counted)
                   "unnamed_results": 0,   # results without turret_name (oct-turrets 0.2.8)
                   "late_starts": 0,       # starts for turrets ready mid-run (--late-start)
                   "duplicates": 0,        # numbered messages received again (journal)
                   "rejected": {"an interval with more errors than transactions": 1}},
                                           # not counted, by reason (verdict rule "messages")
      "limits": {"timers_dropped": 0,      # timer values past the 200-timer cap
                 "clamped_times": 0,       # times above 1 h, counted as 1 h
                 "bad_timer_values": 0}    # timer values that were not seconds >= 0
    }

    METRIC = {"name": "transaction", "count": 1234, "errors": 3,
              "error_rate_pct": 0.24 | null, "tx_per_s": 10.3,   # count / duration_s
              "min_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99_9_ms",
              "max_ms": float | null}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gturret.hq.findings import Findings
from gturret.hq.memory import leak_warning
from gturret.hq.messages import Pacing
from gturret.hq.reportfile import write_report
from gturret.hq.roster import FeederSummary, TurretRecord
from gturret.hq.session import Outcome
from gturret.hq.stats import Summary
from gturret.hq.thresholds import Verdict
from gturret.text import valid_data

SCHEMA = "gturret-hq/1"


def _iso(epoch: float | None) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _turret(record: TurretRecord) -> dict[str, Any]:
    delivery, memory = record.delivery, record.memory
    return {
        "uuid": record.uuid,
        "name": record.name,
        "state": record.state,
        "canons": record.canons,
        "canons_active": record.canons_active,
        "script": record.script,
        "rampup": record.rampup,
        "joined_late": record.joined_late,
        "found_running": record.found_running,
        "starts_sent": record.starts_sent,
        **{
            f"results_{key}": None if delivery is None else getattr(delivery, key)
            for key in ("produced", "sent", "dropped", "queued")
        },
        "rss_bytes": memory.last,
        "rss_growth_bytes": memory.growth,
        "rss_highest_bytes": memory.highest if memory.last is not None else None,
        "rss_peak_bytes": memory.peak,
        "memory_leak": memory.leaking,
    }


def _threshold(verdict: Verdict, outcome: Outcome) -> dict[str, Any]:
    threshold = verdict.threshold
    stopped = outcome.stopped_by is not None and outcome.stopped_by.threshold == threshold
    return {
        "expression": threshold.expression,
        "timer": threshold.timer,
        "metric": threshold.metric,
        "op": threshold.op,
        "limit": threshold.limit,
        "unit": threshold.unit,
        "passed": verdict.passed,
        "actual": verdict.actual,
        "detail": verdict.detail,
        "abort": threshold.abort,
        "abort_after_s": threshold.abort_after_s,
        "stopped_test_at_s": outcome.stopped_at_s if stopped else None,
    }


def _stopped_by(outcome: Outcome) -> dict[str, Any] | None:
    if outcome.stopped_by is None:
        return None
    return {
        "threshold": outcome.stopped_by.threshold.expression,
        "at_s": outcome.stopped_at_s,
        "detail": outcome.stopped_by.detail,
    }


def build_document(
    findings: Findings, *, now: float, sections: Collection[str] | None = None
) -> dict[str, Any]:
    """The document described in this module's docstring, generated at ``now``.

    ``sections``: only these top-level keys (the console's running frames, sent once a
    second, carry what the page shows and leave out what grows with the fleet or the
    run, such as ``turrets`` and ``time_series``); each built by the same function as
    in the whole document, so a section is the same whoever asks for it.
    """
    document = {
        key: build(findings, now)
        for key, build in SECTIONS.items()
        if sections is None or key in sections
    }
    cleaned: dict[str, Any] = valid_data(document)
    return cleaned


def time_series(summary: Summary, last: int | None = None) -> list[dict[str, Any]]:
    """The ``time_series`` section, or only its ``last`` points."""
    points = summary.series if last is None else summary.series[-last:]
    return [asdict(point) for point in points]


def _test(findings: Findings, now: float) -> dict[str, Any]:
    options, outcome = findings.options, findings.outcome
    return {
        "started_at": _iso(outcome.started_at),
        "run_time_s": options.run_time,
        "duration_s": outcome.duration_s,
        "drain_s": outcome.drain_s,
        "interrupted": outcome.interrupted,
        "stopped_by": _stopped_by(outcome),
        "context": options.context,
        "bind": options.bind,
        "pub_port": findings.ports[0],
        "rc_port": findings.ports[1],
    }


def _events(findings: Findings, now: float) -> list[dict[str, Any]]:
    return [
        {"at_s": event.at_s, "kind": event.kind, "detail": event.detail}
        for event in findings.outcome.events
    ]


def _verdict(findings: Findings, now: float) -> dict[str, Any]:
    verdict = findings.verdict
    return {
        "passed": verdict.passed,
        "exit_status": verdict.exit_status,
        "reason": verdict.reason,
        "problems": list(verdict.problems),
        "checks": [
            {
                "key": check.key,
                "title": check.title,
                "limit": check.limit,
                "passed": check.passed,
                "problems": list(check.problems),
                "waived": check.waived,
            }
            for check in verdict.checks
        ],
    }


def _delivery(findings: Findings, now: float) -> list[dict[str, Any]]:
    return [
        {
            "name": row.name,
            "turrets": row.turrets,
            "produced": row.produced,
            "received": row.received,
            "dropped": row.dropped,
            "lost": row.lost,
        }
        for row in findings.delivery
    ]


def _canons(findings: Findings, now: float) -> dict[str, Any]:
    canon_summary = findings.canons
    return {
        "total": findings.canons_total,
        **{
            key: getattr(canon_summary, key) if canon_summary.reporting else None
            for key in ("spawned", "started", "never_completed", "never_started")
        },
        "killed_at_stop": {
            phase: {"count": count, "longest_s": longest}
            for phase, (count, longest) in canon_summary.killed.items()
        },
    }


def _errors(findings: Findings, now: float) -> dict[str, Any]:
    summary = findings.summary
    return {
        "kinds": summary.error_kinds,
        "top": [{"error": text, "count": count} for text, count in summary.top_errors],
    }


def _limits(findings: Findings, now: float) -> dict[str, Any]:
    summary = findings.summary
    return {
        "timers_dropped": summary.timers_dropped,
        "clamped_times": summary.clamped,
        "bad_timer_values": summary.bad_timer_values,
    }


#: Each top-level key of the document, in its order, and what builds it.
SECTIONS: dict[str, Callable[[Findings, float], Any]] = {
    "schema": lambda findings, now: SCHEMA,
    "generated_at": lambda findings, now: _iso(now),
    "test": _test,
    "events": _events,
    "verdict": _verdict,
    "turrets": lambda findings, now: [_turret(record) for record in findings.turrets],
    "unsettled_turrets": lambda findings, now: [
        f"{r.name} ({r.uuid}): {r.state}" for r in findings.outcome.unsettled
    ],
    "delivery": _delivery,
    "canons": _canons,
    "transaction": lambda findings, now: asdict(findings.summary.transaction),
    "transaction_uncorrected": lambda findings, now: (
        asdict(findings.summary.transaction_uncorrected)
        if findings.summary.transaction_uncorrected
        else None
    ),
    "pacing": lambda findings, now: _pacing(findings.pacing, findings.summary),
    "loop_lag": lambda findings, now: _loop_lag(findings.summary),
    "memory": lambda findings, now: _memory(findings.summary),
    "feeders": lambda findings, now: _feeders(findings.feeders),
    "timers": lambda findings, now: {
        name: asdict(metric) for name, metric in findings.summary.timers.items()
    },
    "errors": _errors,
    "results_by_turret": lambda findings, now: findings.summary.results_by_turret,
    "time_series": lambda findings, now: time_series(findings.summary),
    "thresholds": lambda findings, now: [
        _threshold(v, findings.outcome) for v in findings.verdicts
    ],
    "messages": lambda findings, now: asdict(findings.outcome.counts),
    "limits": _limits,
}


def _pacing(pacing: Pacing | None, summary: Summary) -> dict[str, Any] | None:
    if pacing is None:
        return None
    lag = summary.schedule_lag
    return {
        "scheduled": pacing.scheduled,
        "late_starts": pacing.late,
        "dropped_starts": pacing.dropped,
        "schedule_lag_p99_ms": lag.p99_ms if lag else None,
    }


def _feeders(feeders: FeederSummary | None) -> dict[str, Any] | None:
    if feeders is None:
        return None
    return {
        "canons_exhausted": feeders.canons_exhausted,
        "by_name": {
            total.name: {
                "served": total.served,
                "left": total.left,
                "exhausted": total.exhausted,
                "exhausted_at": [
                    {"at": _iso(at), "turret": turret} for at, turret in total.exhausted_at
                ],
                "stop_test": total.stop_test,
            }
            for total in feeders.feeders
        },
    }


def _loop_lag(summary: Summary) -> dict[str, Any] | None:
    lag = summary.loop_lag
    if lag is None:
        return None
    return {
        **asdict(lag.overall),
        "turrets": {name: asdict(figures) for name, figures in lag.turrets.items()},
    }


def _memory(summary: Summary) -> dict[str, Any] | None:
    memory = summary.memory
    if memory is None:
        return None
    return {
        "rss_max_bytes": memory.rss_max,
        "rss_growth_max_bytes": memory.growth_max,
        "warnings": [leak_warning(turret) for turret in memory.leaking],
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write the document, indented, UTF-8; OSError if the path cannot be written."""
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    write_report(path, text + "\n")
