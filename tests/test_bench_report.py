"""The bench's own logic: the order reps are measured in, and how a check settles.

A check is taken rep by rep between rows measured in the same turn; its value is the
median of those per-rep values, its spread their lowest and highest, and a goal
inside the spread makes it "noisy" rather than met or missed. These are pure
functions of the samples, so they are tested on samples made here.
"""

from __future__ import annotations

import math

from bench.report import Row, Sample, below, bound, markdown, paired, ratio, settle, turns
from bench.run import results_stem


def _row(name: str, values: list[float], loads: list[float] | None = None) -> Row:
    row = Row("http-fast", name, "tx/s")
    for rep, value in enumerate(values, start=1):
        load = loads[rep - 1] if loads else None
        row.samples.append(Sample(value, rep=rep, load=load, extra={"p99_ms": value / 100}))
    return row


def test_turns_take_every_row_once_per_rep_a_b_a_b():
    assert turns(["A", "B"], 3) == [(1, "A"), (1, "B"), (2, "A"), (2, "B"), (3, "A"), (3, "B")]
    assert turns(["A", "B", "C"], 1) == [(1, "A"), (1, "B"), (1, "C")]
    assert turns([], 5) == []


def test_a_ratio_is_the_median_of_the_per_rep_ratios_with_their_spread():
    gturret = _row("gturret", [300, 310, 200, 330, 290])
    peer = _row("peer", [100, 100, 100, 110, 100])
    check = ratio(gturret, peer, 1.5)
    assert check.value == 3.0  # per rep: 3.0, 3.1, 2.0, 3.0, 2.9
    assert check.spread == (2.0, 3.1)
    assert (check.met, check.noisy, check.verdict) == (True, False, "met")


def test_per_rep_ratios_differ_from_the_ratio_of_medians_under_drift():
    """The machine slowed down in rep 3 for both rows: each rep's ratio still holds."""
    fast = _row("fast", [400, 400, 100, 400, 400])
    slow = _row("slow", [100, 100, 25, 100, 100])
    check = ratio(fast, slow, 4.0)
    assert check.spread == (4.0, 4.0)
    assert check.verdict == "met"


def test_a_goal_inside_the_spread_is_noisy_neither_met_nor_missed():
    gturret = _row("gturret", [290, 310, 280, 320, 300])
    peer = _row("peer", [100, 100, 100, 100, 100])
    check = ratio(gturret, peer, 3.0)
    assert check.value == 3.0
    assert (check.met, check.noisy, check.verdict) == (None, True, "noisy")


def test_a_goal_above_every_rep_is_missed():
    check = ratio(_row("gturret", [200, 250, 220]), _row("peer", [100, 100, 100]), 3.0)
    assert (check.met, check.noisy, check.verdict) == (False, False, "MISSED")


def test_a_check_without_a_goal_has_no_verdict_but_its_spread():
    check = ratio(_row("a", [200, 300]), _row("b", [100, 100]), None)
    assert (check.verdict, check.spread) == ("", (2.0, 3.0))


def test_reps_pair_by_their_number_and_a_failed_rep_is_left_out():
    row = _row("a", [10, 20, 30])
    peer = _row("b", [1, 2, 3])
    del peer.samples[1]  # rep 2 of the peer failed
    assert paired(row, peer) == [(10, 1), (30, 3)]
    assert ratio(row, peer, None).spread == (10.0, 10.0)


def test_a_peer_that_completed_nothing_makes_the_ratio_infinite():
    check = ratio(_row("a", [5, 5]), _row("b", [0, 0]), 3.0)
    assert math.isinf(check.value) and check.verdict == "met"


def test_settle_at_most_and_at_least():
    assert settle([1.0, 2.0], 3.0, at_least=False) == (True, False)
    assert settle([1.0, 4.0], 3.0, at_least=False) == (None, True)
    assert settle([4.0, 5.0], 3.0, at_least=False) == (False, False)
    assert settle([3.0, 3.0], 3.0, at_least=True) == (True, False)
    assert settle([], 3.0, at_least=True) == (None, False)
    assert settle([1.0], None, at_least=True) == (None, False)


def test_a_bound_is_noisy_when_its_reps_straddle_the_limit():
    row = _row("scale", [0.98, 0.995, 1.0])
    check = bound(row, "of ideal", None, 0.99, False, str)
    assert check.spread == (0.98, 1.0) and check.verdict == "noisy"
    assert bound(row, "of ideal", None, 0.95, False, str).verdict == "met"


def test_below_is_settled_rep_by_rep():
    gturret = _row("gturret", [100, 100, 100])  # p99 1 ms each rep
    locust = _row("locust", [200, 50, 300])  # p99 2, 0.5, 3 ms
    check = below(gturret, locust, "p99_ms", "p99", "ms")
    assert check.value == 1.0 and check.verdict == "noisy"
    assert below(gturret, _row("locust", [200, 300, 400]), "p99_ms", "p99", "ms").met is True


def test_the_table_shows_spread_verdict_and_the_load_of_each_rep():
    gturret = _row("gturret", [290, 310, 280], loads=[1.5, 2.25, 3.0])
    peer = _row("peer", [100, 100, 100], loads=[1.0, 2.0, 4.0])
    table = markdown([gturret, peer], [ratio(gturret, peer, 3.0)], cores=8)
    assert "| spread | goal | verdict |" in table.splitlines()[0]
    line = next(line for line in table.splitlines() if line.startswith("| http-fast | gturret"))
    assert "| 2.90x | 2.80x to 3.10x | ≥ 3x | noisy |" in line
    assert table.endswith("- http-fast: rep 1 1.00 to 1.50, rep 2 2.00 to 2.25, rep 3 3.00 to 4.00")


def test_a_load_above_the_cores_is_named_under_the_table():
    gturret = _row("gturret", [290, 310], loads=[1.0, 2.5])
    table = markdown([gturret], [], cores=2)
    assert table.endswith("rep 2 2.50 (above the 2 cores: its verdicts compare shares of a "
                          "contended core)")  # fmt: skip
    assert "above the" not in markdown([gturret], [], cores=4)


def test_a_run_of_some_scenarios_does_not_replace_the_full_runs_results():
    assert results_stem(frozenset()) == "latest"
    assert results_stem(frozenset({"http-fast"})) == "only-http-fast"
    assert results_stem(frozenset({"overhead", "http-fast"})) == "only-http-fast+overhead"


def test_a_ratio_of_an_extra_pairs_that_extra():
    gturret = _row("gturret", [300, 300])  # p99_ms 3.0 each
    peer = _row("peer", [100, 150])  # p99_ms 1.0, 1.5
    check = ratio(gturret, peer, None, "p99_ms")
    assert check.label == "p99_ms vs peer" and check.spread == (2.0, 3.0)
    assert ratio(gturret, Row("x", "none", "tx/s"), None, "p99_ms").value is None
