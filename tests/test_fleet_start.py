"""A fleet of our turrets starts together: one start time, one rampup, interleaved.

Three real turret processes with different rampups in their configs (3 s, 0 s and
1 s, four canons each) meet our HQ. The HQ sends each a direct start order with one
start time, the fleet's rampup (the longest, 3 s) and its place in a rampup step, so
the twelve canons start as one 12-canon turret with a 3 s rampup would: one every
0.25 s, the turrets taking turns. Without the shared order the 0 s turret would start
its four canons at once.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.in_process_hq import TurretProcesses

RAMPUPS = (3, 0, 1)
CANONS = 4
FLEET_RAMPUP = max(RAMPUPS)

SCRIPT = """\
import os
import time

from gturret import Transaction as Base


class Transaction(Base):
    born = False

    def run(self):
        if not self.born:
            self.born = True
            fd = os.open(os.environ["BORN_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(fd, f"{os.getpid()} {time.time():.6f}\\n".encode())
            os.close(fd)
        time.sleep(0.05)
"""


def _run_fleet(tmp_path: Path, **options: Any) -> tuple[int, list[tuple[int, float]], str]:
    (tmp_path / "v_user.py").write_text(SCRIPT)
    born = tmp_path / "born"
    turrets = TurretProcesses(tmp_path)
    logs = [tmp_path / f"turret-{i}.log" for i in range(len(RAMPUPS))]

    def on_bound(pub: int, rc: int) -> None:
        for i, rampup in enumerate(RAMPUPS):
            config = {
                "name": f"t{i}",
                "canons": CANONS,
                "rampup": rampup,
                "script": "v_user.py",
                "hq_address": "127.0.0.1",
                "hq_publisher": pub,
                "hq_rc": rc,
            }
            turrets.start(
                [sys.executable, "-m", "gturret"], config, logs[i], {"BORN_FILE": str(born)}
            )

    settings: dict[str, Any] = {
        "turrets": len(RAMPUPS),
        "run_time": FLEET_RAMPUP + 1.0,
        "wait_timeout": 30.0,
        "drain_timeout": 15.0,
        "status_interval": 0.25,
        "json_path": tmp_path / "report.json",
    }
    status = turrets.run_hq(on_bound, **{**settings, **options})
    starts = []
    for line in born.read_text().splitlines():
        pid, at = line.split()
        starts.append((int(pid), float(at)))
    return (
        status,
        sorted(starts, key=lambda start: start[1]),
        "\n".join(log.read_text(errors="replace") for log in logs),
    )


def test_a_fleet_of_our_turrets_ramps_up_as_one_turret(tmp_path: Path) -> None:
    status, starts, log = _run_fleet(tmp_path)
    assert status == 0, log
    assert len(starts) == CANONS * len(RAMPUPS), log
    step = FLEET_RAMPUP / (CANONS * len(RAMPUPS))
    pids = [pid for pid, _ in starts]
    assert len(set(pids[:3])) == 3 and pids == pids[:3] * CANONS, pids
    report = json.loads((tmp_path / "report.json").read_text())
    started_at = datetime.fromisoformat(
        report["test"]["started_at"].replace("Z", "+00:00")
    ).timestamp()
    # A busy machine can only make a canon late, never early: none may start before
    # its place in the fleet's one rampup (a 0 s turret alone would start its four at
    # once), and the typical canon starts on time (a loop woken 450 ms late by other
    # work moves a few, not the plan).
    lateness = sorted(at - (started_at + k * step) for k, (_, at) in enumerate(starts))
    assert lateness[0] > -step * 0.45, lateness
    assert lateness[len(lateness) // 2] < step * 0.45, lateness
