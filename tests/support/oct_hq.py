"""The reference HQ, PyPI's ``oct`` 0.4.12, driven through its own commands.

A project is made by ``oct new-project``, packed by ``oct pack-turrets`` and run by
``oct run``, all from the ``oct`` venv (see ``tests/support/peers.py``); what the HQ
stored is read back from its SQLite database. Nothing of the HQ is imitated here:
this is how its users run it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.peers import OCT_VENV, free_ports, peer_program

#: The script path ``oct new-project`` writes into its config.
SCRIPT = "test_scripts/v_user.py"


@dataclass(frozen=True)
class OctRun:
    """One ``oct run``: its exit status, what it printed, and its output folder."""

    returncode: int
    output: str
    folder: Path

    def results(self) -> list[dict[str, Any]]:
        """Every result row the HQ stored."""
        return _rows(self.folder, "SELECT * FROM result ORDER BY id")

    def turrets(self) -> list[dict[str, Any]]:
        """Every turret row the HQ stored."""
        return _rows(self.folder, "SELECT * FROM turret ORDER BY id")


def _rows(folder: Path, query: str) -> list[dict[str, Any]]:
    connection = sqlite3.connect(folder / "results.sqlite")
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(query)]
    finally:
        connection.close()


class OctProject:
    """An OCT project folder with one turret, ``name``, running ``script``."""

    def __init__(
        self,
        folder: Path,
        script: str,
        *,
        name: str = "navigation",
        canons: int = 5,
        run_time: int = 3,
    ) -> None:
        self.oct = peer_program(OCT_VENV, "oct")
        self.folder = folder
        self.name = name
        done = subprocess.run(
            [self.oct, "new-project", str(folder)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (folder / SCRIPT).write_text(textwrap.dedent(script))
        publish, rc, external = free_ports(3)
        config_path = folder / "config.json"
        config = json.loads(config_path.read_text())
        config.update(
            run_time=run_time,
            results_ts_interval=1,
            hq_address="127.0.0.1",
            publish_port=publish,
            rc_port=rc,
            external_publisher=external,
            min_turrets=1,
            turrets=[{"name": name, "cannons": canons, "rampup": 0, "script": SCRIPT}],
        )
        config_path.write_text(json.dumps(config, indent=2))
        self.turret_config = folder / f"{name}.json"
        self.turret_config.write_text(
            json.dumps(
                {
                    "name": name,
                    "cannons": canons,
                    "rampup": 0,
                    "script": SCRIPT,
                    "hq_address": "127.0.0.1",
                    "hq_publisher": publish,
                    "hq_rc": rc,
                }
            )
        )
        self._runs = 0

    def run(self, *, report: bool = False, timeout: float = 90) -> OctRun:
        """``oct run`` the project; the output folder sits where oct's report expects it."""
        self._runs += 1
        output = self.folder / "results" / f"run{self._runs}"
        command = [str(self.oct), "run", str(self.folder), "-o", str(output)]
        if not report:
            command.append("--no-results")
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        return OctRun(done.returncode, done.stdout + done.stderr, output)

    def pack(self) -> Path:
        """``oct pack-turrets`` the project; the turret's package."""
        done = subprocess.run(
            [self.oct, "pack-turrets", str(self.folder)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return self.folder / f"{self.name}.tar.gz"
