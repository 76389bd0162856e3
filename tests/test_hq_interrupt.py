"""SIGTERM and SIGINT to a running HQ: ``gturret-hq`` and ``gturret --standalone`` as
real processes, with a fake turret (or the standalone's own) on real sockets.

What must hold (gturret/hq/interrupt.py): the first signal ends the test early, the
turrets get ``stop``, every report is written and the verdict fails with the rule
"the test was interrupted at Xs of Ys"; a second signal exits at once (130) after
telling the turrets to stop; a signal while waiting for turrets exits 130 in one
line. Times printed are measured; the bounds asserted are generous for a loaded
machine, the product's are in gturret/hq/interrupt.py.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.fake_turret import FakeTurret
from tests.support.hq_process import HQProcess
from tests.support.turret_process import TurretProcess, write_turret
from tests.support.waiting import wait_until

#: Seconds within which a second signal must have ended the HQ (measured and
#: printed; the product sends its last stop and exits in about half a second).
SECOND_SIGNAL_BOUND_S = 5.0
RULE = re.compile(r"the test was interrupted at (\d+\.\d)s of 1m \((SIGTERM|SIGINT)\)")


def reports(folder: Path) -> list[str]:
    return [
        "--json", str(folder / "report.json"), "--junit", str(folder / "junit.xml"),
        "--html", str(folder / "report.html"), "--csv", str(folder / "gturret"),
    ]  # fmt: skip


def running_hq(folder: Path, **turret: object) -> tuple[HQProcess, FakeTurret]:
    """A one-minute gturret-hq run, its fake turret sending results."""
    hq = HQProcess("--run-time", "1m", *reports(folder))
    fake = FakeTurret(*hq.ports(), **turret).start()  # type: ignore[arg-type]
    hq.wait_for("collecting for")
    wait_until(lambda: fake.sent >= 10, "the fake turret to send 10 results")
    return hq, fake


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_run_stops_the_turrets_writes_every_report_and_fails(tmp_path, signum):
    hq, fake = running_hq(tmp_path)
    try:
        hq.process.send_signal(signum)
        code, out, err = hq.finish()
    finally:
        fake.close()
    assert code == 1, err
    assert ("stop", "") in fake.commands
    name = signal.Signals(signum).name
    assert re.search(rf"FAIL: {RULE.pattern}", out), out
    assert RULE.search(out)[2] == name  # type: ignore[index]
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["test"]["interrupted"] is True
    assert RULE.fullmatch(document["verdict"]["problems"][0])
    case = next(
        case
        for case in ET.parse(tmp_path / "junit.xml").iter("testcase")
        if case.get("name") == "the test ran its whole run time"
    )
    failure = case.find("failure")
    assert failure is not None and RULE.fullmatch(failure.get("message", ""))
    assert "(interrupted)" in (tmp_path / "report.html").read_text()
    with (tmp_path / "gturret_stats.csv").open() as table:
        assert list(csv.reader(table))
    assert "Traceback" not in err


def test_a_second_signal_exits_at_once_and_still_tells_the_turrets_to_stop(tmp_path):
    """The turret hangs at stop, so the HQ is still draining when the second comes."""
    hq, fake = running_hq(tmp_path, obeys_stop=False)
    try:
        hq.process.send_signal(signal.SIGTERM)
        hq.wait_for("stop sent after")
        sent = time.monotonic()
        hq.process.send_signal(signal.SIGTERM)
        code, _, err = hq.finish()
        took = time.monotonic() - sent
        deadline = time.monotonic() + 10
        while fake.commands.count(("stop", "")) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        fake.close()
    print(f"second SIGTERM to exit: {took:.2f}s")
    assert code == 130, err
    assert took < SECOND_SIGNAL_BOUND_S
    assert "second signal (SIGTERM): telling the turrets to stop and exiting now" in err
    assert fake.commands.count(("stop", "")) == 2, fake.commands
    assert not (tmp_path / "report.json").exists()


def test_a_signal_while_waiting_for_turrets_exits_130_in_one_line(tmp_path):
    hq = HQProcess("--turrets", "2", "--run-time", "1m", *reports(tmp_path))
    hq.wait_for("waiting for 2 turrets")
    hq.process.send_signal(signal.SIGTERM)
    code, out, err = hq.finish()
    assert code == 130, err
    after = err.split("waiting for 2 turrets", 1)[1].strip().splitlines()[1:]
    assert len(after) == 1, err
    assert after[0].endswith("SIGTERM while waiting for turrets (0 of 2 reported): no test ran")
    assert out == ""


NAP = """
    import time
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            time.sleep(0.005)
"""


def test_standalone_sigterm_reports_and_fails_as_interrupted(tmp_path):
    config = write_turret(tmp_path, NAP, None, canons=2)
    turret = TurretProcess(
        [str(config), "--standalone", "--run-time", "1m", "--json", str(tmp_path / "r.json")],
        tmp_path,
    )
    try:
        turret.wait_log("collecting for")
        turret.wait_log("is now running")
        turret.signal(signal.SIGTERM)
        assert turret.wait(30) == 1, turret.log
    finally:
        turret.stop()
    assert re.search(rf"FAIL: {RULE.pattern}", turret.log), turret.log
    document = json.loads((tmp_path / "r.json").read_text())
    assert RULE.fullmatch(document["verdict"]["problems"][0])
