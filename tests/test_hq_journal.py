"""The journal of a run: where it goes, what it holds, what reads it, what breaks it.

Real ``gturret-hq`` processes with real turrets (``tests/support/journal_run.py``):
the reports ``gturret-hq report`` rebuilds from the journal alone equal the live
run's but for the time they were generated; a journal that cannot be used is one
line and exit 2; a journal whose disk fills up (a real tmpfs) costs the journal,
never the run; a journal cut by a SIGKILL still passes SQLite's integrity check.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gturret.hq.journal import APPLICATION_ID, SCHEMA_VERSION, Journal
from tests.support.fake_turret import FakeTurret
from tests.support.hq_process import HQ, HQProcess
from tests.support.journal_run import data_entries, journaled_runs
from tests.support.tmpfs import fill, tmpfs
from tests.support.waiting import wait_until

GENERATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?")


def report_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HQ), "report", *args], capture_output=True, text=True, timeout=120)


def outputs(folder: Path) -> list[str]:
    return [
        "--json",
        str(folder / "s.json"),
        "--html",
        str(folder / "r.html"),
        "--junit",
        str(folder / "j.xml"),
        "--csv",
        str(folder / "run"),
    ]


def read_outputs(folder: Path) -> dict[str, Any]:
    """Every output of a run, its generation time taken out."""
    document = json.loads((folder / "s.json").read_text())
    generated = document.pop("generated_at")
    texts = {
        name: (folder / name).read_text().replace(generated, "GENERATED")
        for name in ("r.html", "j.xml", "run_stats.csv", "run_history.csv", "run_errors.csv")
    }
    texts["j.xml"] = re.sub(r'timestamp="[^"]*"', 'timestamp=""', texts["j.xml"])
    return {"json": document, **texts}


@pytest.fixture
def journaled(tmp_path: Path):  # type: ignore[no-untyped-def]
    with journaled_runs(tmp_path) as start:
        yield start


@pytest.mark.parametrize("mode", [(), ("--per-result",)], ids=["aggregated", "per-result"])
def test_report_from_the_journal_equals_the_live_run(journaled, tmp_path, mode):
    live, again = tmp_path / "live", tmp_path / "again"
    live.mkdir(), again.mkdir()
    run = journaled("--run-time", "3", *mode, *outputs(live))
    code, _, log = run.hq.finish()
    assert code == 0, log
    rebuilt = report_cli(str(run.journal), *outputs(again))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert read_outputs(again) == read_outputs(live)
    assert "PASS" in rebuilt.stdout


def test_report_without_flags_writes_the_runs_own_reports(journaled, tmp_path):
    run = journaled("--run-time", "2", "--json", str(tmp_path / "own.json"))
    assert run.hq.finish()[0] == 0
    first = json.loads((tmp_path / "own.json").read_text())
    (tmp_path / "own.json").unlink()
    assert report_cli(str(run.journal)).returncode == 0
    again = json.loads((tmp_path / "own.json").read_text())
    first.pop("generated_at"), again.pop("generated_at")
    assert again == first


def test_journal_beside_the_first_report_by_default(tmp_path):
    hq = HQProcess("--run-time", "1", "--json", str(tmp_path / "summary.json"))
    turret = FakeTurret(*hq.ports()).start()
    try:
        code, _, log = hq.finish()
    finally:
        turret.close()
    assert code == 0, log
    journal = Journal.open(tmp_path / "summary.journal")
    assert journal.meta("outcome") is not None
    assert f"--resume {tmp_path / 'summary.journal'}" in log


def test_no_journal_writes_none(tmp_path):
    hq = HQProcess("--run-time", "1", "--no-journal", "--json", str(tmp_path / "s.json"))
    turret = FakeTurret(*hq.ports()).start()
    try:
        assert hq.finish()[0] == 0
    finally:
        turret.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["s.json"]


def write_foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")


def write_newer(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")


def write_garbage(path: Path) -> None:
    path.write_bytes(b"not a database at all, " * 100)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (None, "no journal at"),
        (write_foreign, "a foreign SQLite file"),
        (write_newer, "a journal of a newer gturret"),
        (write_garbage, "is not a gturret journal"),
    ],
    ids=["missing", "foreign", "newer", "corrupt"],
)
@pytest.mark.parametrize("command", ["resume", "report"])
def test_a_journal_that_cannot_be_used_is_one_line_and_exit_2(tmp_path, make, says, command):
    path = tmp_path / "run.journal"
    if make is not None:
        make(path)
    if command == "report":
        done = report_cli(str(path))
    else:
        done = subprocess.run(
            [str(HQ), "--resume", str(path)], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr


def test_resuming_a_run_that_ended_is_refused(journaled):
    run = journaled("--run-time", "1")
    assert run.hq.finish()[0] == 0
    done = subprocess.run(
        [str(HQ), "--resume", str(run.journal)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert f"has ended: report it with gturret-hq report {run.journal}" in done.stderr


def journaling_to(folder: Path, report: Path, run_time: str) -> HQProcess:
    """An HQ journaling to ``folder/run.journal``, its JSON report to ``report``."""
    journal = folder / "run.journal"
    return HQProcess(
        "--run-time", run_time, "--journal", str(journal), "--json", str(report), "--no-progress"
    )


def test_a_full_disk_costs_the_journal_not_the_run(tmp_path):
    """The HQ warns once, runs on in memory, reports the whole run and says the journal
    is incomplete (verdict rule "journal": exit 1)."""
    with tmpfs(tmp_path / "small", "256k") as small:
        hq = journaling_to(small, tmp_path / "s.json", run_time="3")
        turret = FakeTurret(*hq.ports()).start()
        try:
            hq.wait_for("is now running")
            fill(small)
            code, _, log = hq.finish()
        finally:
            turret.close()
    assert code == 1, log
    assert log.count("cannot be written") == 1
    report = json.loads((tmp_path / "s.json").read_text())
    journal_check = next(c for c in report["verdict"]["checks"] if c["key"] == "journal")
    assert "the journal is incomplete" in journal_check["problems"][0]
    assert [c["key"] for c in report["verdict"]["checks"] if not c["passed"]] == ["journal"]
    assert report["delivery"][0]["produced"] == report["delivery"][0]["received"] > 0


def test_a_disk_full_before_the_start_costs_the_journal_not_the_run(tmp_path):
    """No room for the journal at all: the same warning and verdict as a disk that fills
    mid-run, the run goes on, and no half-made journal is left to resume."""
    with tmpfs(tmp_path / "small", "256k") as small:
        fill(small)
        hq = journaling_to(small, tmp_path / "s.json", run_time="2")
        turret = FakeTurret(*hq.ports()).start()
        try:
            code, _, log = hq.finish()
        finally:
            turret.close()
        left = sorted(path.name for path in small.iterdir())
    assert code == 1, log
    assert f"cannot create the journal {small / 'run.journal'}" in log
    assert left == ["filler"]
    report = json.loads((tmp_path / "s.json").read_text())
    assert [c["key"] for c in report["verdict"]["checks"] if not c["passed"]] == ["journal"]
    assert report["delivery"][0]["produced"] == report["delivery"][0]["received"] > 0


def test_a_journal_killed_mid_commit_passes_the_integrity_check(journaled):
    """SIGKILLs at random moments of a per-result run, where a commit (thousands of
    results each) takes a good share of the HQ's time: each time the journal opens,
    passes ``PRAGMA integrity_check`` and the run resumes."""
    chance = random.Random()
    run = journaled("--run-time", "30", "--per-result", canons=20)
    for _ in range(3):
        run.wait_for_data(data_entries(run.journal) + chance.randint(100, 2000))
        run.kill_hq()
        with sqlite3.connect(run.journal) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        Journal.open(run.journal).release()
        run.resume("--no-progress")
        wait_until(lambda: "resumed at" in b"".join(run.hq.stderr).decode(), "the resume")


def test_the_journal_of_a_run_that_has_not_ended_is_never_replaced(journaled, tmp_path):
    run = journaled("--run-time", "30")
    run.wait_for_data(1)
    run.kill_hq()
    again = subprocess.run(
        [str(HQ), "--pub", "0", "--rc", "0", "--journal", str(run.journal)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2
    assert f"{run.journal} holds a run that has not ended: resume it" in again.stderr
    assert data_entries(run.journal) >= 1


def test_a_busy_journal_is_written_later_and_nothing_is_lost(journaled):
    """Another process holding the journal's write lock (a reader recovering it after
    a crash, say) delays the commits; nothing is acknowledged meanwhile, and all of it
    reaches the journal once the lock is let go."""
    run = journaled("--run-time", "4")
    run.wait_for_data(1)
    with sqlite3.connect(run.journal, timeout=30) as db:
        db.execute("BEGIN IMMEDIATE")
        run.hq.wait_for("is busy")
        db.rollback()
    code, _, log = run.hq.finish()
    assert code == 0, log
    rebuilt = report_cli(str(run.journal), "--json", str(run.report))
    assert rebuilt.returncode == 0, rebuilt.stderr
    [row] = json.loads(run.report.read_text())["delivery"]
    assert row["produced"] == row["received"] > 0
