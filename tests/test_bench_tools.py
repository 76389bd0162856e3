"""The bench's single-purpose tools still run against today's HQ.

``bench.console_frame`` and ``bench.hq_replay`` drive the HQ's own classes, so a
change of their signatures breaks them silently until somebody needs a figure
(``console_frame`` had been broken that way by the journal's merge). Each runs
here, small, as a real process, and its figure line is read back.

``bench.hq_capacity`` takes minutes of real processes a row, so what can be checked
quickly is checked without them: the order of its reps, and how its table and goal
lines settle on Figures made here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bench.hq_capacity import (
    CASES,
    HUNDRED,
    NOOP_AGGREGATED,
    RESULTS,
    UNJOURNALED,
    WATCHED,
    Figures,
    Goal,
    Measured,
    destination,
    goals,
    schedule,
    table,
)

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_console_frame_prints_the_cost_of_a_frame():
    out = _run("bench.console_frame", "--turrets", "3", "--frames", "2")
    assert re.search(
        r"^3 turrets: [\d.]+ ms CPU a frame \([\d,]+ bytes\); one a second would take [\d.]+ %",
        out,
        re.MULTILINE,
    ), out


def test_hq_replay_prints_the_hqs_share_of_a_core():
    out = _run("bench.hq_replay", "--turrets", "2", "--seconds", "2")
    assert re.search(
        r"^2 turrets replayed for 2 s: median [\d.]+ % of a core", out, re.MULTILINE
    ), out


def _row(name: str, cpu: list[float], lost: list[int] | None = None) -> Measured:
    """The row ``name`` with one rep per value of ``cpu`` (the HQ's % of a core), losing
    ``lost[i]`` results in rep i + 1 (none if not given)."""
    case = next(case for case in CASES if case.name == name)
    row = Measured(case)
    for rep, (pct, lost_in_rep) in enumerate(zip(cpu, lost or [0] * len(cpu), strict=True), 1):
        tx = 10_000.0 + 100 * rep
        figures = Figures(name, case.turrets, "aggregated", tx, pct, 70.0, lost_in_rep, 0, "PASS")
        row.reps.append(replace(figures, rep=rep, load=float(rep)))
    return row


def _goal(rows: list[Measured], label: str) -> Goal:
    return next(goal for goal in goals(rows) if goal.label == label)


def test_hq_capacity_takes_the_rows_of_a_check_in_turns_and_the_others_once():
    order = [(rep, case.name) for rep, case in schedule(CASES, 2)]
    assert order[:4] == [(1, CASES[0].name), (1, CASES[1].name), (2, CASES[0].name),
                         (2, CASES[1].name)]  # fmt: skip
    assert order[-6:] == [(rep, name) for rep in (1, 2) for name in (HUNDRED, UNJOURNALED, WATCHED)]
    assert len(order) == 5 + 2 * 5  # five rows once, five rows of a check twice
    assert [case.name for _, case in schedule(CASES, 5)].count(WATCHED) == 5


def test_hq_capacitys_console_cost_is_settled_on_the_difference_within_each_rep():
    """[1.0, 3.0, 1.5] straddles the +2 % goal: noisy, neither met nor missed."""
    hundred = _row(HUNDRED, [9.0, 9.0, 9.0])
    for watched, verdict in (
        ([10.0, 12.0, 10.5], "noisy"),
        ([10.0, 10.0, 10.0], "met"),
        ([12.0, 12.0, 12.0], "NOT met"),
    ):
        goal = _goal(
            [hundred, _row(WATCHED, watched)], "100 turrets aggregated, 10 console clients"
        )
        assert goal.verdict == verdict, (watched, goal)
    noisy = _goal([hundred, _row(WATCHED, [10.0, 12.0, 10.5])], goal.label)
    assert noisy.line == (
        "- 100 turrets aggregated, 10 console clients: +1.5 % of a core over the same row"
        " unwatched; each rep: +1.0 %, +3.0 %, +1.5 %; goal at most +2.0 %: noisy"
    )


def test_hq_capacitys_journal_cost_pairs_reps_by_number_leaving_a_failed_one_out():
    journaled = _row(HUNDRED, [10.0, 30.0, 10.0])
    unjournaled = _row(UNJOURNALED, [9.0, 9.0, 9.0])
    del unjournaled.reps[1]  # rep 2 of the unjournaled row failed: rep 2's +21 % is no cost
    goal = _goal([journaled, unjournaled], "100 turrets aggregated, the journal")
    assert (goal.each, goal.verdict) == (["+1.0 %", "+1.0 %"], "met")
    assert _goal([journaled, _row(UNJOURNALED, [])], goal.label).verdict == "n/a"


def test_hq_capacitys_hundred_turrets_must_lose_nothing_under_10_percent_in_every_rep():
    assert _goal([_row(HUNDRED, [9.0, 9.5, 9.9])], "100 turrets aggregated").verdict == "met"
    assert _goal([_row(HUNDRED, [9.0, 10.0, 9.9])], "100 turrets aggregated").verdict == "noisy"
    assert _goal([_row(HUNDRED, [10.0, 12.0])], "100 turrets aggregated").verdict == "NOT met"
    lost = _goal([_row(HUNDRED, [9.0, 9.0, 9.0], lost=[0, 3, 0])], "100 turrets aggregated")
    assert lost.verdict == "noisy" and lost.each[1] == "9.0 % (3 lost)"
    assert lost.summary == "3 lost, HQ at 9.0 % of a core"


def test_hq_capacitys_table_shows_median_spread_reps_lost_and_load():
    row = _row(NOOP_AGGREGATED, [1.0, 3.0, 2.0], lost=[0, 7, 0])
    line = table([row]).splitlines()[2]
    assert line.startswith(
        "| no-op turret, aggregated | aggregated | 3 | 10,200 (10,100 to 10,300) |"
    )
    assert "| 2.0 (1.0 to 3.0) | 70 | 7 (most of a rep; in 1 of 3) | 1.0, 2.0, 3.0 |" in line
    failed = Measured(row.case, failures=["rep 1: RuntimeError: no 'HQ bound' in the HQ's log"])
    lines = table([failed]).splitlines()
    assert lines[2].endswith(
        "| 0 (1 failed) | n/a | n/a | n/a | n/a | n/a | n/a | every rep failed |"
    )
    assert lines[-1] == f"- **{row.case.name}**: failed {failed.failures[0]}"


def test_hq_capacity_writes_the_cited_results_only_from_a_full_run():
    assert destination("", None) == RESULTS / "hq.md"
    assert destination("100 turrets", None) is None
    assert destination("100 turrets", Path("/tmp/x.md")) == Path("/tmp/x.md")
