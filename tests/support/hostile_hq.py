"""A real ``gturret-hq`` run with hostile messages: what it did, what it cost.

``hostile_run`` starts the HQ process for a short test with one fake turret on real
sockets, sends what a test gives it from a raw PUSH socket once the test has
started, and returns the exit status, outputs, JSON report and the process's peak
resident memory (VmHWM), after checking that it wrote its report and no traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import hostile
from tests.support.fake_turret import FakeTurret
from tests.support.hq_process import HQProcess
from tests.support.memory import PeakRSS

RUN_TIME_S = 2.0
DRAIN_TIMEOUT_S = 3.0
#: The product aims at a stop within 1 s of --run-time; a loaded test machine gets 2 s.
STOP_SLACK_S = 2.0
#: The memory bound docs/reliability.md states for the HQ under any flood.
MEMORY_MB = 300


@dataclass
class Run:
    code: int
    out: str
    err: str
    report: dict[str, Any]
    report_bytes: int
    peak_mb: float

    @property
    def rejected(self) -> dict[str, int]:
        rejected: dict[str, int] = self.report["messages"]["rejected"]
        return rejected


def hostile_run(tmp_path: Path, messages: Callable[[FakeTurret], Iterable[Any]], *args: str) -> Run:
    """A ``RUN_TIME_S`` test with one fake turret; ``messages(fake)`` go to the HQ once
    the test has started."""
    report = tmp_path / "report.json"
    hq = HQProcess(
        "--run-time",
        str(RUN_TIME_S),
        "--drain-timeout",
        str(DRAIN_TIMEOUT_S),
        "--json",
        str(report),
        *args,
    )
    peak = PeakRSS(hq.process.pid)
    pub, rc = hq.ports()
    fake = FakeTurret(pub, rc).start()
    push = hostile.HostilePush(rc)
    try:
        hq.wait_for("collecting for")
        push.send(*messages(fake))
        code, out, err = hq.finish()
    finally:
        push.close()
        fake.close()
    peak_mb = peak.stop()
    assert "Traceback" not in err, err
    assert report.exists(), err
    run = Run(code, out, err, json.loads(report.read_text()), report.stat().st_size, peak_mb)
    test = run.report["test"]
    print(
        f"\npeak {peak_mb:.0f} MB, stop after {test['duration_s']:.2f}s of {RUN_TIME_S:g}s,"
        f" drain {test['drain_s']:.2f}s, report {run.report_bytes} bytes"
    )
    return run
