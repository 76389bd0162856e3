"""The bench's results: rows of repeated samples, the checks against the goals, and
the one table (Markdown, printed and written) plus its JSON twin.

Pure data and formatting: nothing here measures, so a row's numbers can only come
from a run, and a row that could not run says why ("n/a: ...") instead of a number.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Sample:
    """One repetition of one row: its ``value`` in the row's unit, and what came along."""

    value: float
    errors: int = 0
    first_error: str = ""
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Row:
    """One line of the table: a load generator in a scenario, measured ``reps`` times."""

    scenario: str
    name: str
    unit: str
    na: str = ""
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.na and bool(self.samples)

    def median(self, key: str | None = None) -> float:
        """Median of the values, or of ``extra[key]`` where every sample has it."""
        if key is None:
            return statistics.median(sample.value for sample in self.samples)
        return statistics.median(sample.extra[key] for sample in self.samples)

    @property
    def why_not(self) -> str:
        return self.na or (self.failures[0] if self.failures else "no sample")


@dataclass(frozen=True, slots=True)
class Check:
    """A ratio or an absolute value held against its goal; ``met`` is None when n/a."""

    row: str
    label: str
    value: float | None
    goal: str
    met: bool | None


def ratio(row: Row, peer: Row, goal: float | None) -> Check:
    """``row`` / ``peer`` (medians), with ``goal`` as the least ratio that passes."""
    label = f"vs {peer.name}"
    goal_text = f"≥ {goal:g}x" if goal is not None else "(reference)"
    if not (row.ok and peer.ok):
        return Check(row.name, label, None, goal_text, None)
    value = row.median() / peer.median()
    return Check(row.name, label, value, goal_text, None if goal is None else value >= goal)


def bound(
    row: Row,
    label: str,
    key: str | None,
    limit: float | None,
    at_most: bool,
    show: Callable[[float], str],
) -> Check:
    """The median (of ``extra[key]`` if given) against ``limit``; None: shown, no goal."""
    goal_text = "(info)" if limit is None else f"{'≤' if at_most else '≥'} {show(limit)}"
    if not row.ok:
        return Check(row.name, label, None, goal_text, None)
    value = row.median(key)
    if limit is None:
        return Check(row.name, label, value, goal_text, None)
    return Check(row.name, label, value, goal_text, value <= limit if at_most else value >= limit)


def _plain(value: float, unit: str) -> str:
    return f"{value:.3f}" if unit == "s" else f"{value:,.0f}"


def _number(value: float, unit: str) -> str:
    return f"{_plain(value, unit)} {unit}"


def _check_value(check: Check, row: Row) -> str:
    if check.value is None:
        return "n/a"
    if check.label.startswith("vs ") or check.label.startswith("of ideal"):
        return f"{check.value:.2f}x"
    return _number(check.value, "MB" if "RSS" in check.label else row.unit)


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: ""}[met]


def markdown(rows: list[Row], checks: list[Check]) -> str:
    """The table: one line per row, then one line per further check of that row."""
    lines = [
        "| scenario | row | median | reps | check | value | goal | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if row.ok:
            median = _number(row.median(), row.unit)
            reps = ", ".join(_plain(sample.value, row.unit) for sample in row.samples)
        else:
            median, reps = f"n/a: {row.why_not}", ""
        own: list[Check | None] = [check for check in checks if check.row == row.name]
        own = own or [None]
        for index, check in enumerate(own):
            cells = [row.scenario, row.name, median, reps] if index == 0 else ["", "", "", ""]
            if check is None:
                cells += ["", "", "", ""]
            else:
                cells += [check.label, _check_value(check, row), check.goal, _verdict(check.met)]
            lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    notes = [f"- **{row.name}**: {note}" for row in rows for note in row.notes]
    notes += [
        f"- **{row.name}**: failed rep: {failure}" for row in rows for failure in row.failures
    ]
    return "\n".join(lines + (["", *notes] if notes else []))


def as_json(rows: list[Row], checks: list[Check]) -> list[dict[str, Any]]:
    """Rows with their samples and checks, for machines."""
    return [
        {
            "scenario": row.scenario,
            "row": row.name,
            "unit": row.unit,
            "median": row.median() if row.ok else None,
            "na": "" if row.ok else row.why_not,
            "samples": [
                {"value": s.value, "errors": s.errors, "first_error": s.first_error, **s.extra}
                for s in row.samples
            ],
            "failures": row.failures,
            "notes": row.notes,
            "checks": [
                {"check": c.label, "value": c.value, "goal": c.goal, "met": c.met}
                for c in checks
                if c.row == row.name
            ],
        }
        for row in rows
    ]
