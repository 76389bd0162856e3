"""The bench's results: rows of repeated samples, the checks against the goals, and
the one table (Markdown, printed and written) plus its JSON twin.

Pure data and formatting: nothing here measures, so a row's numbers can only come
from a run, and a row that could not run says why ("n/a: ...") instead of a number.
"""

from __future__ import annotations

import math
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

    def has(self, key: str) -> bool:
        """True when every sample measured ``extra[key]`` (a row may lack one: oct-turrets)."""
        return all(key in sample.extra for sample in self.samples)

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
    """A ratio or an absolute value held against its goal; ``met`` is None when n/a.

    ``unit``, when given, is the unit ``value`` is shown in (else the row's, or MB).
    """

    row: str
    label: str
    value: float | None
    goal: str
    met: bool | None
    unit: str = ""


def ratio(row: Row, peer: Row, goal: float | None) -> Check:
    """``row`` / ``peer`` (medians), with ``goal`` as the least ratio that passes.

    A peer that completed nothing makes the ratio infinite (n/a if both did nothing).
    """
    label = f"vs {peer.name}"
    goal_text = f"≥ {goal:g}x" if goal is not None else "(reference)"
    if not (row.ok and peer.ok) or row.median() == peer.median() == 0:
        return Check(row.name, label, None, goal_text, None)
    value = row.median() / peer.median() if peer.median() else math.inf
    return Check(row.name, label, value, goal_text, None if goal is None else value >= goal)


def below(row: Row, peer: Row, key: str, label: str, unit: str) -> Check:
    """``row``'s median ``extra[key]`` held under ``peer``'s: met only when strictly lower.

    The goal shows the peer's value and name, so the line reads on its own; n/a when
    either row did not run or lacks the extra.
    """
    if not (row.ok and peer.ok and row.has(key) and peer.has(key)):
        return Check(row.name, label, None, f"< {peer.name}", None, unit)
    value, limit = row.median(key), peer.median(key)
    goal = f"< {_number(limit, unit)} ({peer.name})"
    return Check(row.name, label, value, goal, value < limit, unit)


def bound(
    row: Row,
    label: str,
    key: str | None,
    limit: float | None,
    at_most: bool,
    show: Callable[[float], str],
    unit: str = "",
) -> Check:
    """The median (of ``extra[key]`` if given) against ``limit``; None: shown, no goal.

    n/a when the row did not run or one of its samples lacks ``extra[key]``.
    """
    goal_text = "(info)" if limit is None else f"{'≤' if at_most else '≥'} {show(limit)}"
    if not row.ok or (key is not None and not row.has(key)):
        return Check(row.name, label, None, goal_text, None, unit)
    value = row.median(key)
    met = None if limit is None else (value <= limit if at_most else value >= limit)
    return Check(row.name, label, value, goal_text, met, unit)


def _plain(value: float, unit: str) -> str:
    """Seconds to the millisecond; milliseconds to 10 µs, since the latency a client adds
    is often a fraction of one; everything else (tx/s, MB, counts) whole."""
    if unit == "s":
        return f"{value:.3f}"
    return f"{value:,.2f}" if unit == "ms" else f"{value:,.0f}"


def _number(value: float, unit: str) -> str:
    return f"{_plain(value, unit)} {unit}"


def _check_value(check: Check, row: Row) -> str:
    if check.value is None:
        return "n/a"
    if math.isinf(check.value):
        return "∞"
    if check.label.startswith("vs ") or check.label.startswith("of ideal"):
        return f"{check.value:.2f}x"
    if check.unit:
        return _number(check.value, check.unit)
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


def detail_table(rows: list[Row], columns: list[tuple[str, str, str]]) -> str:
    """Medians of each row's value and of the extras in ``columns`` (key, header, unit).

    For rows whose one number hides the rest (latency, starved users); a cell is "n/a"
    where the row did not run or one of its samples lacks that extra.
    """
    headers = ["row", rows[0].unit if rows else "", *(header for _, header, _ in columns)]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for row in rows:
        cells = [row.name, _plain(row.median(), row.unit) if row.ok else "n/a"]
        for key, _, unit in columns:
            cells.append(_plain(row.median(key), unit) if row.ok and row.has(key) else "n/a")
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def _json_number(value: float | None) -> float | str | None:
    """JSON has no infinity: an infinite ratio is written as the string "inf"."""
    return "inf" if value is not None and math.isinf(value) else value


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
                {"check": c.label, "value": _json_number(c.value), "goal": c.goal, "met": c.met}
                for c in checks
                if c.row == row.name
            ],
        }
        for row in rows
    ]
