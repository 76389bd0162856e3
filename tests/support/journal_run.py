"""A journaled run of the real ``gturret-hq`` with real turrets, whose HQ a test kills.

Why it exists: the promise of the journal is "kill the HQ, resume, nothing lost",
so the tests kill a real HQ process (SIGKILL: nothing flushed, nothing said) at a
chosen moment and resume it with ``--resume``, while real ``gturret`` turrets run
on; the ground truth is what the turrets say they produced.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.hq_process import HQProcess
from tests.support.turret_process import TurretProcess, write_turret
from tests.support.waiting import wait_until

#: A transaction of 10 ms: a few hundred results a second per turret.
SCRIPT = """
    import time
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            time.sleep(0.01)
"""


def data_entries(journal: Path) -> int:
    """The data messages (intervals, results) committed to ``journal`` so far (read
    while the HQ writes)."""
    if not journal.exists():
        return 0
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10) as db:
        try:
            return int(
                db.execute(
                    "SELECT COALESCE(SUM(CASE kind WHEN 1 THEN 1 ELSE value END), 0)"
                    " FROM entries WHERE kind IN (1, 4)"
                ).fetchone()[0]
            )
        except sqlite3.OperationalError:
            return 0


class JournaledRun:
    """``gturret-hq --journal`` with ``turrets`` real turrets; kill it, resume it."""

    def __init__(self, folder: Path, *hq_args: str, turrets: int = 1, canons: int = 2) -> None:
        self.folder = folder
        self.journal = folder / "run.journal"
        self.report = folder / "summary.json"
        self.hq = HQProcess(
            "--journal", str(self.journal), "--turrets", str(turrets), "--no-progress", *hq_args
        )
        ports = self.hq.ports()
        self.turrets = []
        for index in range(turrets):
            home = folder / f"turret{index}"
            home.mkdir()
            config = write_turret(home, SCRIPT, ports, canons=canons, name=f"t{index}")
            self.turrets.append(TurretProcess([str(config)], home))
        self.hq.wait_for("is now running")

    def wait_for_data(self, entries: int) -> None:
        """Wait until ``entries`` data messages are committed to the journal."""
        wait_until(lambda: data_entries(self.journal) >= entries, f"{entries} journaled")

    def wait_for_event(self, name: str) -> None:
        """Wait until the event ``name`` (start, stop) is committed to the journal."""

        def committed() -> bool:
            with sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=10) as db:
                rows = db.execute("SELECT raw FROM entries WHERE kind = 3").fetchall()
            return any(json.loads(raw)["event"] == name for (raw,) in rows)

        wait_until(committed, f"the {name} journaled")

    def kill_hq(self) -> None:
        """SIGKILL the HQ: no commit, no ack, no stop sent."""
        self.hq.process.send_signal(signal.SIGKILL)
        self.hq.finish()

    def resume(self, *args: str) -> None:
        self.hq = HQProcess("--resume", str(self.journal), "--json", str(self.report), *args)
        self.hq.ports()

    def finish(self) -> tuple[int, dict[str, Any], str]:
        """Wait for the HQ to end; its exit status, JSON report and log."""
        code, _, log = self.hq.finish()
        return code, json.loads(self.report.read_text()), log

    def stop(self) -> None:
        self.hq.process.kill()
        self.hq.finish()
        for turret in self.turrets:
            turret.stop()


@contextmanager
def journaled_runs(folder: Path) -> Iterator[Callable[..., JournaledRun]]:
    """Start ``JournaledRun``s in ``folder``; every one is stopped at the end."""
    runs: list[JournaledRun] = []

    def start(*args: str, **kwargs: Any) -> JournaledRun:
        run = JournaledRun(folder, *args, **kwargs)
        runs.append(run)
        return run

    try:
        yield start
    finally:
        for run in runs:
            run.stop()
