"""Whole tests over real TCP between machines: an HQ host and turret hosts, each a
network namespace of its own (tests/support/netns.py), every process the real CLI.

What one machine cannot show: the HQ bound to every interface and turrets that reach
it by address; a turret's link going down for 5 s mid-test and coming back (TCP
retransmits what was queued: nothing lost, the HQ warns while it is silent); a turret
that joins after the start; the HQ killed mid-run and started again, which the
turrets survive and the verdict reports rather than passing over.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.netns import Host, HostProcess, network

PUB, RC = 5500, 5501
GTURRET = [sys.executable, "-m", "gturret"]
GTURRET_HQ = [str(Path(sys.executable).with_name("gturret-hq"))]

SCRIPT = """\
import time

from gturret import CustomTimer, Transaction as Base


class Transaction(Base):
    def run(self):
        with CustomTimer(self, "nap"):
            time.sleep(0.02)
"""


class Machines:
    """The hosts of one test and the processes started on them (stopped at the end)."""

    def __init__(self, hq: Host, turrets: list[Host], folder: Path) -> None:
        self.hq = hq
        self.turrets = turrets
        self.folder = folder
        self.processes: list[HostProcess] = []
        (folder / "v_user.py").write_text(SCRIPT)

    def start_hq(self, *args: str, name: str = "hq") -> HostProcess:
        command = [*GTURRET_HQ, "--bind", "0.0.0.0", "--pub", str(PUB), "--rc", str(RC)]
        command += ["--no-progress", "--json", str(self.folder / f"{name}.json"), *args]
        return self._start(self.hq, command, name)

    def start_turret(self, k: int, canons: int = 5) -> HostProcess:
        host = self.turrets[k]
        config = {
            "name": f"turret-{k}",
            "canons": canons,
            "rampup": 0,
            "script": "v_user.py",
            "hq_address": host.hq_address,
            "hq_publisher": PUB,
            "hq_rc": RC,
        }
        path = self.folder / f"config-{k}.json"
        path.write_text(json.dumps(config))
        return self._start(host, [*GTURRET, str(path)], f"turret-{k}")

    def report(self, name: str = "hq") -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.folder / f"{name}.json").read_text())
        return document

    def _start(self, host: Host, command: list[str], name: str) -> HostProcess:
        process = HostProcess(host, command, self.folder / f"{name}.log", self.folder)
        self.processes.append(process)
        return process


@pytest.fixture
def machines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Machines]:
    with network(request.param) as (hq, turrets):
        lab = Machines(hq, turrets, tmp_path)
        try:
            yield lab
        finally:
            for process in lab.processes:
                process.close()


def _delivered_in_full(report: dict[str, Any]) -> None:
    for row in report["delivery"]:
        assert row["produced"] and row["lost"] == 0, report["delivery"]


@pytest.mark.parametrize("machines", [2], indirect=True)
def test_an_hq_and_two_turrets_on_three_machines(machines: Machines) -> None:
    hq = machines.start_hq("--turrets", "2", "--run-time", "3s", "--threshold", "p99<1s")
    turrets = [machines.start_turret(k) for k in range(2)]
    assert hq.wait() == 0, hq.log
    report = machines.report()
    assert sorted(report["results_by_turret"]) == ["turret-0", "turret-1"]
    assert all(count > 0 for count in report["results_by_turret"].values())
    _delivered_in_full(report)
    assert report["timers"]["nap"]["count"] == report["transaction"]["count"]
    assert "PASS" in hq.log
    for turret in turrets:
        assert turret.proc.poll() is None, turret.log


@pytest.mark.parametrize("machines", [2], indirect=True)
def test_a_link_down_for_five_seconds_loses_nothing(machines: Machines) -> None:
    hq = machines.start_hq("--turrets", "2", "--run-time", "11s")
    for k in range(2):
        machines.start_turret(k)
    hq.wait_for("collecting for")
    machines.turrets[1].link(up=False)
    hq.wait_for("has sent no status", timeout=15)
    machines.turrets[1].link(up=True)
    assert hq.wait() == 0, hq.log
    report = machines.report()
    _delivered_in_full(report)
    assert report["results_by_turret"]["turret-1"] > 0
    assert report["unsettled_turrets"] == []


@pytest.mark.parametrize("machines", [3], indirect=True)
def test_a_turret_that_joins_late_is_started_and_counted(machines: Machines) -> None:
    hq = machines.start_hq("--turrets", "2", "--run-time", "6s")
    for k in range(2):
        machines.start_turret(k)
    hq.wait_for("collecting for")
    late = machines.start_turret(2)
    late.wait_for("open fire")
    assert hq.wait() == 0, hq.log
    report = machines.report()
    joined = {turret["name"]: turret["joined_late"] for turret in report["turrets"]}
    assert joined == {"turret-0": False, "turret-1": False, "turret-2": True}
    assert report["results_by_turret"]["turret-2"] > 0
    _delivered_in_full(report)


@pytest.mark.parametrize("machines", [2], indirect=True)
def test_an_hq_restarted_mid_run_reports_what_it_missed(machines: Machines) -> None:
    first = machines.start_hq("--turrets", "2", "--run-time", "5m", name="first")
    turrets = [machines.start_turret(k) for k in range(2)]
    first.wait_for("collecting for")
    for turret in turrets:
        turret.wait_for("open fire")
    first.kill()
    second = machines.start_hq("--turrets", "2", "--run-time", "3s", name="second")
    assert second.wait() == 1, second.log
    report = machines.report("second")
    assert all(turret["found_running"] for turret in report["turrets"]), report["turrets"]
    problems = "\n".join(report["verdict"]["problems"])
    assert problems.count("was already running when this HQ first heard from it") == 2
    assert all(count > 0 for count in report["results_by_turret"].values())
    assert report["unsettled_turrets"] == []
    for turret in turrets:
        assert turret.proc.poll() is None, turret.log
        assert "ready" in turret.log


FEEDER_SCRIPT = """\
import os
import time

from gturret import Transaction as Base

_out = {}
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


class Transaction(Base):
    def run(self):
        name = self.config["name"]
        if name not in _out:
            _out[name] = os.open(f"rows-{name}-{os.getpid()}.txt", _FLAGS)
        os.write(_out[name], (self.feed("users")["id"] + "\\n").encode())
        time.sleep(0.002)
"""


def _packed_turret(machines: Machines, k: int, canons: int = 5) -> HostProcess:
    """Turret ``k`` from a pack (``gturret pack``) of a config with a fleet feeder, run
    with ``--tar`` on its own machine."""
    folder = machines.folder / f"build-{k}"
    folder.mkdir()
    (folder / "v_user.py").write_text(FEEDER_SCRIPT)
    (folder / "users.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(3000)))
    config = {
        "name": f"turret-{k}",
        "canons": canons,
        "script": "v_user.py",
        "hq_address": machines.turrets[k].hq_address,
        "hq_publisher": PUB,
        "hq_rc": RC,
        "feeders": {"users": {"file": "users.csv", "mode": "unique", "scope": "fleet"}},
    }
    (folder / "config.json").write_text(json.dumps(config))
    pack = machines.folder / f"turret-{k}.tar.gz"
    built = subprocess.run(
        [*GTURRET, "pack", str(folder / "config.json"), "-o", str(pack)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert built.returncode == 0, built.stderr
    shutil.rmtree(folder)  # the turret has only its pack
    return machines._start(machines.turrets[k], [*GTURRET, "--tar", str(pack)], f"turret-{k}")


def _rows_of(folder: Path, turret: str) -> list[int]:
    return [
        int(row) for path in folder.glob(f"rows-{turret}-*.txt") for row in path.read_text().split()
    ]


@pytest.mark.parametrize("machines", [3], indirect=True)
def test_packed_turrets_share_a_fleet_feeder_and_a_late_one_takes_the_reserve(
    machines: Machines,
) -> None:
    """Packs carry their feeder's file to other machines; two turrets of 5 canons and
    a reserve of 5 split 3,000 rows in thirds; the turret that joins late gets the
    reserve's third: no row twice, every row served."""
    hq = machines.start_hq("--turrets", "2", "--run-time", "12s", "--feeder-reserve", "5")
    for k in range(2):
        _packed_turret(machines, k)
    hq.wait_for("collecting for")
    late = _packed_turret(machines, 2)
    late.wait_for("open fire")
    assert hq.wait() == 0, hq.log
    rows = {f"turret-{k}": _rows_of(machines.folder, f"turret-{k}") for k in range(3)}
    # The two first turrets take the first two thirds in the order the HQ first heard
    # them (two machines starting at once: either may be first); the late one the last.
    early = sorted([sorted(rows["turret-0"]), sorted(rows["turret-1"])])
    assert early == [list(range(1000)), list(range(1000, 2000))]
    assert sorted(rows["turret-2"]) == list(range(2000, 3000))
    feeder = machines.report()["feeders"]["by_name"]["users"]
    assert (feeder["served"], feeder["left"]) == (3000, 0)
