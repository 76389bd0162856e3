"""The bench's results: rows of repeated samples, the checks against the goals, and
the one table (Markdown, printed and written) plus its JSON twin.

Pure data and formatting: nothing here measures, so a row's numbers can only come
from a run, and a row that could not run says why ("n/a: ...") instead of a number.

A check settles only what its reps agree on. The rows of a scenario are measured in
turns (rep 1 of each, then rep 2 ...), so a ratio is taken rep by rep, between
samples measured minutes apart at most, and its median is the check's value; the
spread is the lowest and highest of those per-rep values. A goal inside the spread
is neither met nor missed but **noisy**: some reps met it and some did not, and the
machine's load (recorded with each sample) says how loud the noise was.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

Turn = TypeVar("Turn")


@dataclass(frozen=True, slots=True)
class Sample:
    """One repetition of one row: its ``value`` in the row's unit, and what came along."""

    value: float
    errors: int = 0
    first_error: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    #: Which rep of its row this is (1, 2, ...): samples of one rep pair up across rows.
    rep: int = 0
    #: The machine's 1-minute load average as the sample ended (None: not recorded).
    load: float | None = None


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
    """A ratio or an absolute value held against its goal.

    ``met`` is True or False when every rep agrees, None when the check is n/a, has
    no goal, or is ``noisy`` (its ``spread``, the lowest and highest per-rep value,
    holds the goal). ``unit``, when given, is the unit ``value`` is shown in (else
    the row's, or MB).
    """

    row: str
    label: str
    value: float | None
    goal: str
    met: bool | None
    unit: str = ""
    spread: tuple[float, float] | None = None
    noisy: bool = False

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED``, ``noisy``, or "" (no goal, or n/a)."""
        if self.noisy:
            return "noisy"
        return {True: "met", False: "MISSED", None: ""}[self.met]


def paired(row: Row, peer: Row, key: str | None = None) -> list[tuple[float, float]]:
    """``(row's, peer's)`` value (or ``extra[key]``) of each rep both measured, by rep.

    A rep that failed in either row is left out, so each pair was measured in the
    same turn, as close in time as the two rows ever are.
    """
    theirs = {sample.rep: sample for sample in peer.samples}
    pairs = []
    for sample in row.samples:
        other = theirs.get(sample.rep)
        if other is not None:
            if key is None:
                pairs.append((sample.value, other.value))
            else:
                pairs.append((sample.extra[key], other.extra[key]))
    return pairs


def turns(rows: Sequence[Turn], reps: int) -> list[tuple[int, Turn]]:
    """The order one scenario's rows are measured in: ``(rep, row)``, rep 1 of every row
    in table order, then rep 2 ... (A B A B ... for a check of two rows), so each rep
    of a check's rows is measured within the same minutes and the two pair up."""
    return [(rep, row) for rep in range(1, reps + 1) for row in rows]


def settle(values: list[float], goal: float | None, at_least: bool) -> tuple[bool | None, bool]:
    """``(met, noisy)`` of per-rep ``values`` against ``goal`` (None: no goal).

    Met when every value meets it, missed when none does; otherwise noisy (met None):
    the goal lies inside the spread, and more reps or a quieter machine must decide.
    """
    if goal is None or not values:
        return None, False
    meets = [value >= goal if at_least else value <= goal for value in values]
    if all(meets):
        return True, False
    if not any(meets):
        return False, False
    return None, True


def _spread(values: list[float]) -> tuple[float, float] | None:
    return (min(values), max(values)) if values else None


def ratio(row: Row, peer: Row, goal: float | None, key: str | None = None) -> Check:
    """``row`` / ``peer`` rep by rep (their values, or ``extra[key]``), with ``goal`` as
    the least ratio that passes.

    The value is the median of the per-rep ratios (of the medians when no rep of the
    two pairs up), the spread their lowest and highest. A peer that completed
    nothing makes the ratio infinite (n/a if both did nothing, or either lacks
    ``extra[key]``).
    """
    label = f"vs {peer.name}" if key is None else f"{key} vs {peer.name}"
    goal_text = f"≥ {goal:g}x" if goal is not None else "(reference)"
    usable = row.ok and peer.ok and (key is None or (row.has(key) and peer.has(key)))
    if not usable or row.median(key) == peer.median(key) == 0:
        return Check(row.name, label, None, goal_text, None)
    ratios = [_divided(mine, theirs) for mine, theirs in paired(row, peer, key)]
    median = _divided(row.median(key), peer.median(key))
    value = statistics.median(ratios) if ratios else median
    met, noisy = settle(ratios or [value], goal, at_least=True)
    return Check(row.name, label, value, goal_text, met, spread=_spread(ratios), noisy=noisy)


def _divided(mine: float, theirs: float) -> float:
    if theirs:
        return mine / theirs
    return math.inf if mine else 1.0


def below(row: Row, peer: Row, key: str, label: str, unit: str) -> Check:
    """``row``'s median ``extra[key]`` held under ``peer``'s: met only when strictly lower,
    rep by rep (noisy when some reps are lower and some are not).

    The goal shows the peer's value and name, so the line reads on its own; the
    spread is this row's lowest and highest; n/a when either row did not run or
    lacks the extra.
    """
    if not (row.ok and peer.ok and row.has(key) and peer.has(key)):
        return Check(row.name, label, None, f"< {peer.name}", None, unit)
    value, limit = row.median(key), peer.median(key)
    goal = f"< {_number(limit, unit)} ({peer.name})"
    lower = [mine < theirs for mine, theirs in paired(row, peer, key)] or [value < limit]
    met, noisy = (all(lower), False) if all(lower) or not any(lower) else (None, True)
    spread = _spread([sample.extra[key] for sample in row.samples])
    return Check(row.name, label, value, goal, met, unit, spread, noisy)


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
    values = [sample.value if key is None else sample.extra[key] for sample in row.samples]
    met, noisy = settle(values, limit, at_least=not at_most)
    return Check(row.name, label, row.median(key), goal_text, met, unit, _spread(values), noisy)


def _plain(value: float, unit: str) -> str:
    """Seconds to the millisecond; milliseconds to 10 µs, since the latency a client adds
    is often a fraction of one; everything else (tx/s, MB, counts) whole."""
    if unit == "s":
        return f"{value:.3f}"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:,.2f}" if unit == "ms" else f"{value:,.0f}"


def _number(value: float, unit: str) -> str:
    return f"{_plain(value, unit)} {unit}"


def _check_value(check: Check, row: Row, value: float | None) -> str:
    """``value`` (the check's, or an end of its spread) in the check's unit."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "∞"
    if " vs " in f" {check.label}" or check.label.startswith("of ideal"):
        return f"{value:.2f}x"
    if check.unit:
        return _number(value, check.unit)
    return _number(value, "MB" if "RSS" in check.label else row.unit)


def _spread_text(check: Check, row: Row) -> str:
    if check.spread is None or check.spread[0] == check.spread[1]:
        return ""
    low, high = (_check_value(check, row, end) for end in check.spread)
    return f"{low} to {high}"


def markdown(rows: list[Row], checks: list[Check], cores: int) -> str:
    """The table: one line per row, then one line per further check of that row; after
    it the notes, then the load average each rep of each scenario ended at (on a
    machine of ``cores`` cores)."""
    lines = [
        "| scenario | row | median | reps | check | value | spread | goal | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
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
                cells += ["", "", "", "", ""]
            else:
                value = _check_value(check, row, check.value)
                cells += [check.label, value, _spread_text(check, row), check.goal, check.verdict]
            lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    notes = [f"- **{row.name}**: {note}" for row in rows for note in row.notes]
    notes += [
        f"- **{row.name}**: failed rep: {failure}" for row in rows for failure in row.failures
    ]
    loads = load_lines(rows, cores)
    return "\n".join(lines + (["", *notes] if notes else []) + (["", *loads] if loads else []))


def load_lines(rows: list[Row], cores: int) -> list[str]:
    """Per scenario, the lowest and highest 1-minute load average its rows' samples
    ended at, rep by rep: how loud the machine was while each rep was measured.

    A load above ``cores`` means other work waited for the load generator's core too:
    the rows then compare their shares of a contended core (a process with more
    threads gets more), not their costs, and the line says so, whatever the verdicts.
    """
    loads: dict[str, dict[int, list[float]]] = {}
    for row in rows:
        for sample in row.samples:
            if sample.load is not None:
                loads.setdefault(row.scenario, {}).setdefault(sample.rep, []).append(sample.load)
    if not loads:
        return []
    lines = ["**load average (1 min) at the end of each rep's samples**", ""]
    for scenario, reps in loads.items():
        shown = ", ".join(
            f"rep {rep} {_load_range(values)}" for rep, values in sorted(reps.items())
        )
        highest = max(max(values) for values in reps.values())
        warning = (
            f" (above the {cores} cores: its verdicts compare shares of a contended core)"
            if highest > cores
            else ""
        )
        lines.append(f"- {scenario}: {shown}{warning}")
    return lines


def _load_range(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}" if low == high else f"{low:.2f} to {high:.2f}"


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
                {
                    "rep": s.rep,
                    "load": s.load,
                    "value": s.value,
                    "errors": s.errors,
                    "first_error": s.first_error,
                    **s.extra,
                }
                for s in row.samples
            ],
            "failures": row.failures,
            "notes": row.notes,
            "checks": [
                {
                    "check": c.label,
                    "value": _json_number(c.value),
                    "spread": None if c.spread is None else [_json_number(v) for v in c.spread],
                    "goal": c.goal,
                    "met": c.met,
                    "verdict": c.verdict,
                }
                for c in checks
                if c.row == row.name
            ],
        }
        for row in rows
    ]
