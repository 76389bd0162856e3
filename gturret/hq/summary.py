"""The end-of-test summary printed on standard output: a table, then the verdicts.

Why it exists: one place decides how numbers look to a person (milliseconds, three
significant places, aligned columns, PASS/FAIL words that survive any terminal
encoding). It must never compute a statistic or decide a verdict; it only formats, and every
text that came from the wire or a script (names, error texts, the problems that
quote them) goes out as :func:`gturret.text.display` text.
"""

from __future__ import annotations

from gturret.figures import format_duration, format_number, plural
from gturret.hq.findings import Findings
from gturret.hq.memory import MemorySummary, leak_warning, megabytes
from gturret.hq.messages import Pacing
from gturret.hq.roster import CanonSummary, DeliveryRow, FeederSummary
from gturret.hq.stats import LoopLagSummary, MetricSummary, Summary
from gturret.text import display
from gturret.wire import LATE_AFTER

COLUMNS = ("count", "errors", "tx/s", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max")
NAME_WIDTH = 28
TOP_ERRORS_SHOWN = 5
#: Loop lag (p99, ms) from which the summary says the generator was saturated.
LOOP_LAG_HIGH_MS = 10.0
#: Turrets whose memory the summary lists, the largest growth first (all: the JSON).
MEMORY_TURRETS_SHOWN = 10


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _cells(metric: MetricSummary) -> list[str]:
    return [
        str(metric.count),
        str(metric.errors),
        f"{metric.tx_per_s:.1f}",
        *(
            _ms(value)
            for value in (
                metric.min_ms,
                metric.mean_ms,
                metric.p50_ms,
                metric.p90_ms,
                metric.p95_ms,
                metric.p99_ms,
                metric.p99_9_ms,
                metric.max_ms,
            )
        ),
    ]


def _label(text: str) -> str:
    text = display(text)
    return text if len(text) <= NAME_WIDTH else text[: NAME_WIDTH - 1] + "…"


def render_table(summary: Summary) -> str:
    """The table: the transaction first, then each custom timer; times in ms."""
    rows = [("transaction", _cells(summary.transaction))]
    if summary.transaction_uncorrected is not None:
        rows.append(("transaction (uncorrected)", _cells(summary.transaction_uncorrected)))
    if summary.schedule_lag is not None:
        rows.append(("schedule lag", _cells(summary.schedule_lag)))
    rows += [(_label(f"timer {name}"), _cells(metric)) for name, metric in summary.timers.items()]
    name_width = max(len(name) for name, _ in rows)
    widths = [
        max(len(column), *(len(cells[i]) for _, cells in rows)) for i, column in enumerate(COLUMNS)
    ]
    lines = [
        " ".join([" " * name_width, *(c.rjust(w) for c, w in zip(COLUMNS, widths, strict=True))])
    ]
    for name, cells in rows:
        lines.append(
            " ".join(
                [name.ljust(name_width), *(c.rjust(w) for c, w in zip(cells, widths, strict=True))]
            )
        )
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def render_delivery(rows: tuple[DeliveryRow, ...]) -> str:
    """Per turret name: results produced (the turrets' count), received, dropped, lost."""
    header = ("results", "produced", "received", "dropped", "lost")
    table = [
        (
            _label(row.name),
            _count(row.produced),
            str(row.received),
            _count(row.dropped),
            _count(row.lost),
        )
        for row in rows
    ]
    widths = [max(len(header[i]), *(len(cells[i]) for cells in table)) for i in range(5)]
    lines = [
        " ".join(
            [
                header[0].ljust(widths[0]),
                *(h.rjust(w) for h, w in zip(header[1:], widths[1:], strict=True)),
            ]
        )
    ]
    lines += [
        " ".join(
            [
                cells[0].ljust(widths[0]),
                *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)),
            ]
        )
        for cells in table
    ]
    return "\n".join(lines)


def render_pacing(pacing: Pacing) -> str:
    """The open model's figures: what was scheduled, started late, dropped."""
    return (
        f"pacing: {pacing.scheduled} transactions scheduled, {pacing.late} started more than"
        f" {LATE_AFTER * 1000:g} ms late, {pacing.dropped} dropped (too late to start);"
        " transaction times count from when each was due"
    )


def render_loop_lag(lag: LoopLagSummary) -> list[str]:
    """How late the turrets' loops were, and what that means for the figures above."""
    overall = lag.overall
    lines = [f"loop lag: p99 {_ms(overall.p99_ms)} ms, max {_ms(overall.max_ms)} ms"]
    if len(lag.turrets) > 1:
        lines += [
            f"  {display(name)}: p99 {_ms(figures.p99_ms)} ms, max {_ms(figures.max_ms)} ms"
            for name, figures in lag.turrets.items()
        ]
    if overall.p99_ms >= LOOP_LAG_HIGH_MS:
        lines.append(
            f"the load generator was saturated: latencies below about {overall.p99_ms:.0f} ms"
            " are not trustworthy"
        )
    return lines


def render_memory(memory: MemorySummary) -> list[str]:
    """Each turret's memory at the end and its growth since the rampup; leaks warned."""
    lines = ["memory (resident, MB = 2^20 bytes):"]
    for turret in memory.turrets[:MEMORY_TURRETS_SHOWN]:
        growth = "? since the rampup (none after it)"
        if turret.growth is not None:
            sign = "+" if turret.growth >= 0 else "-"
            growth = f"{sign}{megabytes(abs(turret.growth))} since the rampup"
        lines.append(
            f"  {display(turret.label)}: {megabytes(turret.rss_end)} at the end, {growth},"
            f" highest {megabytes(turret.rss_highest)}"
        )
    if len(memory.turrets) > MEMORY_TURRETS_SHOWN:
        lines.append(f"  … and {len(memory.turrets) - MEMORY_TURRETS_SHOWN} more (--json)")
    lines += [f"WARNING: {display(leak_warning(turret))}" for turret in memory.leaking]
    return lines


def render_canons(canons: CanonSummary) -> str:
    """Canons spawned, those that never completed a transaction, those killed at the stop."""
    line = (
        f"canons: {canons.spawned} spawned, {canons.never_completed} never completed a transaction"
    )
    if canons.never_started:
        line += f" ({canons.never_started} never started)"
    if canons.killed:
        killed = ", ".join(
            f"{count} in {display(phase)} (the longest after {longest:.1f}s)"
            for phase, (count, longest) in canons.killed.items()
        )
        line += f"; killed at the stop: {killed}"
    return line


def render_feeders(feeders: FeederSummary, started_at: float) -> list[str]:
    """Each feeder's rows served and left, and when it first ran out (after the start)."""
    lines = ["feeders:"]
    for total in feeders.feeders:
        line = f"  {display(total.name)}: {format_number(total.served)} rows served"
        if total.left is not None:
            line += f", {format_number(total.left)} left"
        if total.exhausted:
            at, turret = total.exhausted_at[0]
            line += (
                f"; ran out {plural(total.exhausted, 'time')}, first"
                f" {format_duration(max(0.0, at - started_at))} after the start"
                f" on {display(turret)}"
            )
            if total.stop_test:
                line += " (on_exhausted stop_test: the test ended)"
        lines.append(line)
    if feeders.canons_exhausted:
        lines.append(f"  {plural(feeders.canons_exhausted, 'canon')} ended for want of rows")
    return lines


def render_summary(findings: Findings) -> str:
    """The whole block printed at the end of a test (ends with a newline)."""
    summary, verdicts, verdict = findings.summary, findings.verdicts, findings.verdict
    canons, canon_summary = findings.canons_total, findings.canons
    delivery, pacing = findings.delivery, findings.pacing
    canon_text = "? canons" if canons is None else plural(canons, "canon")
    parts = [
        "",
        f"summary: {format_duration(summary.duration_s)} from start to stop, "
        f"{plural(len(findings.turrets), 'turret')}, {canon_text}; times in ms",
        render_table(summary),
    ]
    if pacing is not None:
        parts.append("")
        parts.append(render_pacing(pacing))
    if summary.loop_lag is not None:
        parts.append("")
        parts += render_loop_lag(summary.loop_lag)
    if canon_summary.reporting:
        parts.append("")
        parts.append(render_canons(canon_summary))
    if summary.memory is not None:
        parts.append("")
        parts += render_memory(summary.memory)
    if findings.feeders is not None:
        parts.append("")
        parts += render_feeders(findings.feeders, findings.outcome.started_at)
    if summary.top_errors:
        parts.append("")
        parts.append(f"top errors ({plural(summary.error_kinds, 'kind')}):")
        parts += [
            f"  {count:>8}  {display(text)}"
            for text, count in summary.top_errors[:TOP_ERRORS_SHOWN]
        ]
    if delivery:
        parts.append("")
        parts.append(render_delivery(delivery))
    if verdicts:
        parts.append("")
        parts.append("thresholds:")
        width = max(len(display(v.threshold.expression)) for v in verdicts)
        stopped_by = findings.outcome.stopped_by
        parts += [
            f"  {'PASS' if v.passed else 'FAIL'}  {display(v.threshold.expression).ljust(width)}"
            f"  {display(v.detail)}"
            + (
                f"; stopped the test at {findings.outcome.stopped_at_s or 0.0:.1f}s"
                if stopped_by is not None and stopped_by.threshold == v.threshold
                else ""
            )
            for v in verdicts
        ]
    if len(verdict.problems) > 1:
        parts.append("")
        parts.append("problems:")
        parts += [f"  FAIL  {display(problem)}" for problem in verdict.problems]
    parts.append("")
    parts.append(f"{'PASS' if verdict.passed else 'FAIL'}: {display(verdict.reason)}")
    return "\n".join(parts) + "\n"
