"""The figures README and docs cite are those of the one bench run they name.

docs/benchmarks.md names the run: ``bench/results/latest.md`` (``latest.json``),
``bench/results/hq.md`` and ``bench/results/feeders.md``, as committed. Before,
figures of several runs sat side by side (a no-op rate of 240,200 results/s beside
the file's 94,776; two CurveZMQ pairs). Two checks keep them together: every large
figure (a number written with thousands separators) in README.md and docs/*.md is one
of the results files', or is listed in ``NOT_BENCH`` with what else it is; and the
figures cited by name are recomputed from ``latest.json``."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.peers import ROOT

RESULTS = ROOT / "bench" / "results"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BENCHMARKS = (ROOT / "docs" / "benchmarks.md").read_text()
SECURITY = (ROOT / "docs" / "security.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
GROUPED = re.compile(r"(?<![\d.])(?<!\d,)\d{1,3}(?:,\d{3})+(?!\d|,\d)")

#: Large numbers in the docs that are not bench figures, each with what it is.
NOT_BENCH = {
    "5,653": "the open-model example's own run, the command shown beside it",
    **dict.fromkeys(
        ("1,030", "1,270", "2,295", "2,612", "6,352", "8,209", "20,238", "274,678"),
        "python -m bench.replay_cost's own output: replay buffer sizes (docs/protocol.md)",
    ),
    "1,048,576": "a common hard limit on open files under systemd, not a measurement",
    "1,024": "the usual soft limit on open files (docs/scripting.md), not a measurement",
    "100,000": "what 100 turrets of 10 canons sleeping 10 ms would make: the bench's ideal",
    "2,000": "the canons of the scale tests in make test-system",
    "604,800": "the largest rampup a config may ask for (a week, in seconds)",
    "42,270": "a protocol observation of the reference HQ (docs/protocol.md), not a bench",
    "20,000": "a protocol observation of the reference HQ (docs/protocol.md), not a bench",
    "19,999": "a protocol observation of the reference HQ (docs/protocol.md), not a bench",
    "77,824": "a 30 s run's journal file, in bytes (docs/journal.md names the run)",
    "2,432": "that journal's bytes per turret-second (docs/journal.md)",
    "7,200": "the seconds of a 2 h run",
    "153,575": "python -m bench.journal_cost's own output, quoted in docs/journal.md",
    "32,814,701": "the image's added size (docs/containers.md): docker image inspect, not a bench",
    "201,963,407": "the image's size (docs/containers.md): docker image inspect, not a bench",
    "169,148,706": "the Debian base's size (docs/containers.md): docker image inspect",
    "200,000": "the rows per second a feeder must serve (issue 25's bound), not a measurement",
}


def rows() -> dict[tuple[str, str], dict]:
    data = json.loads((RESULTS / "latest.json").read_text())
    return {(row["scenario"], row["row"]): row for row in data["rows"]}


def test_every_large_figure_is_the_named_runs_or_listed():
    named = ("latest.md", "hq.md", "feeders.md")
    results = "".join((RESULTS / name).read_text() for name in named)
    in_results = set(GROUPED.findall(results))
    cited: dict[str, str] = {}
    for path in DOCS:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for figure in GROUPED.findall(line):
                cited.setdefault(figure, f"{path.name}:{number}")
    strays = [f"{where}: {figure}" for figure, where in cited.items()
              if figure not in in_results and figure not in NOT_BENCH]  # fmt: skip
    assert not strays, "figures of no named bench run:\n" + "\n".join(strays)
    assert not set(NOT_BENCH) - set(cited), "NOT_BENCH lists figures no doc cites any more"


@pytest.mark.parametrize(
    "scenario, row",
    [
        ("http-requests", "gturret + requests script"),
        ("http-fast", "gturret + gturret.http script"),
        ("http-fast", "gturret + gturret.http script, 1,000 canons at once"),
        ("overhead", "gturret, no-op, 1000 canons"),
        ("overhead", "oct-turrets 0.2.8, no-op, 1000 cannons (threads)"),
        ("cores", "gturret --processes 2, no-op, 1000 canons"),
        ("curve", "gturret, no-op, 1000 canons, plain ZeroMQ"),
        ("curve", "gturret, no-op, 1000 canons, CurveZMQ"),
    ],
)
def test_the_benchmarks_page_cites_the_runs_median(scenario, row):
    median = rows()[(scenario, row)]["median"]
    assert f"{median:,.0f}" in BENCHMARKS, f"{scenario} / {row}: median {median:,.0f} not cited"


def test_the_curve_pair_and_its_ratio_are_one_runs():
    """The CurveZMQ cost is stated twice (docs/benchmarks.md, docs/security.md's Keys);
    both say the same."""
    found = rows()
    plain = found[("curve", "gturret, no-op, 1000 canons, plain ZeroMQ")]["median"]
    curve = found[("curve", "gturret, no-op, 1000 canons, CurveZMQ")]["median"]
    ratio = f"{curve / plain:.2f}\N{MULTIPLICATION SIGN}"
    keys = SECURITY[SECURITY.index("**Cost**") :]
    for section in (keys, BENCHMARKS):
        assert f"{plain:,.0f}" in section and f"{curve:,.0f}" in section and ratio in section


def test_the_overhead_figure_of_the_architecture_notes_is_the_runs():
    median = rows()[("overhead", "gturret, no-op, 1000 canons")]["median"]
    notes = ARCHITECTURE[ARCHITECTURE.index("## Choices worth knowing") :]
    assert f"{median:,.0f} results/s" in notes
