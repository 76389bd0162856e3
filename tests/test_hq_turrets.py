"""Our HQ against real turrets in their own processes: oct-turrets 0.2.8 and gturret.

oct-turrets 0.2.8 (the reference turret) runs from the ``oct`` peer venv (``make
peers``) on Python 3.11 as it is (its ``imp`` import still exists there, with a
DeprecationWarning); its ``oct-turrets-start`` console script is broken, so it is
started through its Python API. Its cannons
push results straight to the HQ without ``turret_name``; the HQ counts those as
results. The script counts its runs in a file (one byte per ``tear_down``, which
each cannon runs right before it pushes a result), so counts can be compared.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import zmq

from gturret.hq.thresholds import parse_thresholds
from tests.support.in_process_hq import TurretProcesses
from tests.support.peers import OCT_VENV, peer_program

OCT_LAUNCHER = """\
import sys
from oct_turrets.start_turret import from_config
from oct_turrets.turret import Turret

module, config = from_config(sys.argv[1])
Turret(config, module).start()
"""

OCT_SCRIPT = """\
import os
import time

from oct_turrets.base import BaseTransaction
from oct_turrets.tools import CustomTimer


class Transaction(BaseTransaction):
    def run(self):
        with CustomTimer(self, "nap"):
            time.sleep(0.005)
        if self.context.get("fail"):
            raise ValueError("HTTP status 503")

    def tear_down(self):
        fd = os.open(os.environ["COUNT_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, b"x")
        os.close(fd)
"""

GTURRET_SCRIPT = """\
import time

from gturret import CustomTimer, Transaction as Base


class Transaction(Base):
    def run(self):
        with CustomTimer(self, "nap"):
            time.sleep(0.005)
"""


def _run(
    tmp_path: Path, command: list[str], script: str, env: dict[str, str], **options: Any
) -> tuple[int, dict[str, Any], str]:
    (tmp_path / "v_user.py").write_text(script)
    turrets = TurretProcesses(tmp_path)
    log_path = tmp_path / "turret.log"

    def on_bound(pub: int, rc: int) -> None:
        config = {
            "name": "reference",
            "cannons": 2,
            "rampup": 0,
            "script": "v_user.py",
            "hq_address": "127.0.0.1",
            "hq_publisher": pub,
            "hq_rc": rc,
        }
        turrets.start(command, config, log_path, env)

    settings: dict[str, Any] = {
        "run_time": 1.5,
        "wait_timeout": 20.0,
        "drain_timeout": 10.0,
        "json_path": tmp_path / "report.json",
    }
    settings.update(options)
    status = turrets.run_hq(on_bound, **settings)
    report = json.loads(settings["json_path"].read_text()) if status != 2 else {}
    return status, report, log_path.read_text(errors="replace")


@pytest.mark.system
@pytest.mark.parametrize(
    "fail, journaled",
    [(False, False), (True, False), (False, True)],
    ids=["pass", "fail", "journal"],
)
def test_the_reference_turret_oct_turrets_0_2_8(
    tmp_path: Path, fail: bool, journaled: bool
) -> None:
    """Journaled alone, the reference turret's run is as without (its results carry no
    seq: nothing is missing); in a mixed fleet, see the test below."""
    python = peer_program(OCT_VENV, "python")
    (tmp_path / "launch.py").write_text(OCT_LAUNCHER)
    count_file = tmp_path / "runs"
    journal = {"journal_path": tmp_path / "run.journal"} if journaled else {}
    status, report, log = _run(
        tmp_path,
        [str(python), str(tmp_path / "launch.py")],
        OCT_SCRIPT,
        {"COUNT_FILE": str(count_file)},
        context={"fail": fail},
        thresholds=parse_thresholds(["error_rate<1%"]),
        **journal,
    )
    assert (tmp_path / "run.journal").exists() == journaled
    assert status == (1 if fail else 0), log
    runs = len(count_file.read_bytes())
    assert runs > 0
    assert report["messages"]["results"] == runs, log
    assert report["messages"]["unnamed_results"] == runs
    assert report["messages"]["unknown"] == 0
    assert report["transaction"]["count"] == runs
    assert report["timers"]["nap"]["count"] == runs
    assert report["transaction"]["errors"] == (runs if fail else 0)
    if fail:
        assert report["errors"]["top"] == [{"error": "HTTP status 503", "count": runs}]
    assert report["unsettled_turrets"] == []
    assert [t["state"] for t in report["turrets"]] == ["ready"]
    assert report["canons"]["total"] == 2


def test_gturret_itself(tmp_path: Path) -> None:
    gturret = Path(sys.executable).with_name("gturret")
    status, report, log = _run(tmp_path, [str(gturret)], GTURRET_SCRIPT, {}, status_interval=0.25)
    assert status == 0, log
    sent = [int(n) for n in re.findall(r"cease fire: \d+ results produced, (\d+) sent", log)]
    assert len(sent) == 1, log
    assert sent[0] > 0
    assert report["messages"]["results"] == sent[0]
    assert report["results_by_turret"] == {"reference": sent[0]}
    assert report["messages"]["unknown"] == 0
    assert report["unsettled_turrets"] == []
    assert 2 in {point["canons_active"] for point in report["time_series"]}


@pytest.mark.system
def test_a_journaled_mixed_fleet_the_reference_turret_ignores_the_journal_commands(
    tmp_path: Path,
) -> None:
    """With a gturret turret beside it the HQ broadcasts ``journal`` commands every
    second; oct-turrets 0.2.8 must take them as unknown commands and fire on."""
    python = peer_program(OCT_VENV, "python")
    gturret = Path(sys.executable).with_name("gturret")
    (tmp_path / "launch.py").write_text(OCT_LAUNCHER)
    (tmp_path / "v_user.py").write_text(OCT_SCRIPT)
    (tmp_path / "g_user.py").write_text(GTURRET_SCRIPT)
    count_file = tmp_path / "runs"
    turrets = TurretProcesses(tmp_path)
    context: zmq.Context[bytes] = zmq.Context()
    listener = context.socket(zmq.SUB)
    listener.setsockopt(zmq.SUBSCRIBE, b"")

    def on_bound(pub: int, rc: int) -> None:
        listener.connect(f"tcp://127.0.0.1:{pub}")
        link = {"rampup": 0, "hq_address": "127.0.0.1", "hq_publisher": pub, "hq_rc": rc}
        reference = {"name": "reference", "cannons": 2, "script": "v_user.py", **link}
        ours = {"name": "ours", "canons": 2, "script": "g_user.py", **link}
        env = {"COUNT_FILE": str(count_file)}
        turrets.start(
            [str(python), str(tmp_path / "launch.py")], reference, tmp_path / "r.log", env
        )
        turrets.start([str(gturret)], ours, tmp_path / "g.log", {})

    status = turrets.run_hq(
        on_bound,
        turrets=2,
        run_time=3.0,
        wait_timeout=20.0,
        drain_timeout=10.0,
        json_path=tmp_path / "report.json",
        journal_path=tmp_path / "run.journal",
    )
    broadcast = []
    while listener.poll(0):
        broadcast.append(json.loads(listener.recv())["command"])
    listener.close()
    context.term()
    assert "journal" in broadcast, broadcast
    reference_log = (tmp_path / "r.log").read_text(errors="replace")
    report = json.loads((tmp_path / "report.json").read_text())
    assert status == 0, reference_log + json.dumps(report["verdict"])
    assert "Traceback" not in reference_log, reference_log
    assert report["messages"]["unnamed_results"] == len(count_file.read_bytes()) > 0
    assert report["results_by_turret"]["ours"] > 0
    assert report["messages"]["unknown"] == 0
