"""Feeders with real processes: our HQ splits fleet feeders across turrets and
``--processes`` workers; the modes hold across processes; bad input stops at start.

Each script records every row it got (``os.write`` of one line per row, into a file
per process), so the tests read what the canons were really served.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.support.fake_hq import FakeHQ
from tests.support.hq_process import HQProcess
from tests.support.turret_process import TurretProcess, run_cli, write_turret

# OCT's base class: feed() is reachable from oct_turrets scripts too.
RECORDER = """
    import os
    from oct_turrets.base import BaseTransaction

    FEEDERS = {feeders!r}
    _out = None

    class Transaction(BaseTransaction):
        def run(self):
            global _out
            if _out is None:
                _out = os.open(f"rows-{{os.getpid()}}.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            for name in FEEDERS:
                row = self.feed(name)
                os.write(_out, f"{{name}} {{id(self)}} {{row['id']}}\\n".encode())
"""


#: Seconds a test's HQ gets to wait for its turrets, run and drain (a loaded machine).
FINISH_S = 150


def _rows_file(folder: Path, rows: int, name: str = "users.csv") -> None:
    lines = ["id,user"] + [f"{i},user{i}" for i in range(rows)]
    (folder / name).write_text("\n".join(lines) + "\n")


def _served(folder: Path) -> dict[str, list[tuple[str, int, int]]]:
    """Per feeder, every row served: (process file, canon, row id)."""
    served: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for path in folder.glob("rows-*.txt"):
        for line in path.read_text().splitlines():
            name, canon, row = line.split()
            served[name].append((path.name, int(canon), int(row)))
    return served


def _run_hq(folder: Path, *args: str) -> tuple[HQProcess, Path]:
    report = folder / "report.json"
    hq = HQProcess(
        "--no-progress",
        "--json",
        str(report),
        "--csv",
        str(folder / "out"),
        "--html",
        str(folder / "report.html"),
        *args,
    )
    return hq, report


def _finish(hq: HQProcess, turrets: list[TurretProcess]) -> tuple[str, str]:
    """The HQ's exit (given time for a loaded machine to start the turrets), its output."""
    try:
        hq.process.wait(timeout=FINISH_S)
        code, out, err = hq.finish()
    finally:
        for turret in turrets:
            turret.stop()
    assert code == 0, err + "".join(turret.log for turret in turrets)
    return out, err


def test_ten_turrets_share_a_unique_fleet_feeder_without_overlap(tmp_path: Path) -> None:
    """10 turrets x 100 canons over 100,000 rows, unique and fleet-scoped: no row twice
    across the fleet and, given the time, every row once; the reports say so."""
    _rows_file(tmp_path, 100_000)
    hq, report_path = _run_hq(tmp_path, "--turrets", "10", "--run-time", "8s")
    config = write_turret(
        tmp_path,
        RECORDER.format(feeders=["users"]),
        hq.ports(),
        canons=100,
        feeders={"users": {"file": "users.csv", "mode": "unique", "scope": "fleet"}},
    )
    turrets = []
    for k in range(10):
        own = tmp_path / f"config-{k}.json"
        own.write_text(json.dumps({**json.loads(config.read_text()), "name": f"turret-{k}"}))
        turrets.append(TurretProcess([str(own)], tmp_path))
    out, _ = _finish(hq, turrets)
    served = _served(tmp_path)["users"]
    assert len({process for process, _, _ in served}) == 10
    rows = Counter(row for _, _, row in served)
    assert max(rows.values()) == 1
    assert sorted(rows) == list(range(100_000))
    report = json.loads(report_path.read_text())["feeders"]
    assert report["by_name"]["users"]["served"] == 100_000
    assert report["by_name"]["users"]["left"] == 0
    assert report["by_name"]["users"]["exhausted"] == 10
    assert report["canons_exhausted"] == 1000
    assert "users: 100000 rows served, 0 left; ran out 10 times" in out
    html = (tmp_path / "report.html").read_text()
    assert "<h2>Feeders</h2>" in html and "<tr><td>users</td><td>100000</td><td>0</td>" in html
    with (tmp_path / "out_feeders.csv").open() as table:
        (row,) = csv.DictReader(table)
    assert (row["feeder"], row["served"], row["left"], row["exhausted"]) == (
        "users",
        "100000",
        "0",
        "10",
    )


def test_processes_split_the_rows_and_keep_the_modes(tmp_path: Path) -> None:
    """``--processes 2``: a unique fleet feeder is still served once a row across both
    workers; ``circular`` wraps; ``per_canon`` keeps each canon on its own rows."""
    _rows_file(tmp_path, 1000, "users.csv")
    _rows_file(tmp_path, 7, "terms.csv")
    _rows_file(tmp_path, 40, "accounts.csv")
    hq, _ = _run_hq(tmp_path, "--run-time", "6s")
    config = write_turret(
        tmp_path,
        RECORDER.format(feeders=["users", "terms", "accounts"]),
        hq.ports(),
        canons=10,
        feeders={
            "users": {"file": "users.csv", "mode": "unique", "scope": "fleet"},
            "terms": {"file": "terms.csv"},
            "accounts": {"file": "accounts.csv", "mode": "per_canon"},
        },
    )
    turret = TurretProcess([str(config), "--processes", "2"], tmp_path)
    _finish(hq, [turret])
    served = _served(tmp_path)
    assert len({process for process, _, _ in served["users"]}) == 2
    users = Counter(row for _, _, row in served["users"])
    assert sorted(users) == list(range(1000)) and max(users.values()) == 1
    terms = Counter(row for _, _, row in served["terms"])
    assert sorted(terms) == list(range(7)) and min(terms.values()) > 1
    residues: dict[tuple[str, int], set[int]] = defaultdict(set)
    for process, canon, row in served["accounts"]:
        residues[process, canon].add(row % 10)
    assert len(residues) == 10
    assert all(len(own) == 1 for own in residues.values())
    assert len(set.union(*residues.values())) == 10


def test_a_fleet_feeder_under_an_hq_that_cannot_place_it_stops_the_turret(
    tmp_path: Path,
) -> None:
    """A plain start (the reference HQ's ``"open fire"``) cannot say where the turret
    sits in the fleet: the turret says it needs gturret's HQ and aborts."""
    _rows_file(tmp_path, 10)
    with FakeHQ() as hq:
        config = write_turret(
            tmp_path,
            RECORDER.format(feeders=["users"]),
            hq,
            feeders={"users": {"file": "users.csv", "mode": "unique", "scope": "fleet"}},
        )
        turret = TurretProcess([str(config)], tmp_path)
        try:
            hq.register()
            hq.send("start", "open fire")
            assert turret.wait(30) == 1
        finally:
            turret.stop()
    assert "feeder 'users' has scope fleet: it needs gturret's HQ (gturret-hq)" in turret.log
    assert not list(tmp_path.glob("rows-*.txt"))


def test_stop_test_ends_the_test_when_the_rows_run_out(tmp_path: Path) -> None:
    _rows_file(tmp_path, 50)
    hq, report_path = _run_hq(tmp_path, "--run-time", "5m")
    config = write_turret(
        tmp_path,
        RECORDER.format(feeders=["users"]),
        hq.ports(),
        feeders={"users": {"file": "users.csv", "mode": "unique", "on_exhausted": "stop_test"}},
    )
    out, err = _finish(hq, [TurretProcess([str(config)], tmp_path)])
    assert "ran out of rows (on_exhausted: stop_test): ending the test" in err
    feeder = json.loads(report_path.read_text())["feeders"]["by_name"]["users"]
    assert (feeder["served"], feeder["left"], feeder["stop_test"]) == (50, 0, True)
    assert "(on_exhausted stop_test: the test ended)" in out


BAD_SCRIPT = """
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            self.feed("users")
            self.feed("userz")
"""


@pytest.mark.parametrize(
    ("script", "entry", "content", "problem"),
    [
        (RECORDER.format(feeders=["users"]), {"file": "nope.csv"}, None, "does not exist"),
        (
            RECORDER.format(feeders=["users"]),
            {"file": "users.csv"},
            b"id,user\n1\n",
            "users.csv:2: 1 fields",
        ),
        (
            RECORDER.format(feeders=["users"]),
            {"file": "users.csv"},
            b"id\n\xff\n",
            "users.csv:2: not UTF-8",
        ),
        (
            RECORDER.format(feeders=["users"]),
            {"file": "users.csv", "mode": "x"},
            b"id\n1\n",
            "'mode' must be one of",
        ),
        (
            BAD_SCRIPT,
            {"file": "users.csv"},
            b"id\n1\n",
            "script.py:7: feed('userz') names no feeder",
        ),
    ],
)
def test_bad_feeder_input_stops_the_turret_at_start_with_one_line(
    tmp_path: Path, script: str, entry: dict[str, str], content: bytes | None, problem: str
) -> None:
    if content is not None:
        (tmp_path / "users.csv").write_bytes(content)
    config = write_turret(tmp_path, script, feeders={"users": entry})
    done = run_cli([str(config)], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gturret: error: "), done.stderr
    assert problem in lines[0]


def test_a_pack_carries_its_feeders_files(tmp_path: Path) -> None:
    _rows_file(tmp_path, 5)
    config = write_turret(
        tmp_path, RECORDER.format(feeders=["users"]), feeders={"users": {"file": "./users.csv"}}
    )
    done = run_cli(["pack", str(config), "-o", str(tmp_path / "t.tar.gz")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "users.csv" in done.stdout
    os.remove(tmp_path / "users.csv")
    checked = run_cli(
        ["--tar", str(tmp_path / "t.tar.gz"), "--standalone", "--run-time", "1s"], tmp_path
    )
    assert checked.returncode == 0, checked.stderr
    assert "users: " in checked.stdout and "rows served" in checked.stdout
