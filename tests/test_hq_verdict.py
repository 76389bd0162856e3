"""The verdict rules of gturret/hq/verdict.py, each alone and together."""

from __future__ import annotations

import json
import os
import re
import signal
import xml.etree.ElementTree as ET
from pathlib import Path

from gturret.hq.messages import Delivery
from gturret.hq.roster import DeliveryRow, TurretRecord
from gturret.hq.thresholds import evaluate, evaluate_all, parse_threshold, parse_thresholds
from gturret.hq.verdict import EarlyStop, judge
from tests.support.hq_process import HQProcess
from tests.support.summaries import summary_of
from tests.support.turret_process import write_turret
from tests.support.waiting import wait_until

UUID = "d7b8a1cc-639a-405c-9b16-62ce5cd66f36"


def record(
    state: str, *, name: str = "nav", uuid: str = UUID, last_seen: float = 9.0
) -> TurretRecord:
    return TurretRecord(
        uuid=uuid,
        name=name,
        state=state,
        canons=10,
        canons_active=0,
        script="s.py",
        rampup=0,
        first_seen=0.0,
        last_seen=last_seen,
        delivery=Delivery(100, 100, 0, 0),
    )


def test_thresholds_alone_decide_a_clean_run() -> None:
    summary = summary_of([5.0, 6.0])
    assert judge(summary, ()).exit_status == 0
    assert judge(summary, ()).reason == "transactions recorded, none failed; no thresholds were set"
    passed = evaluate_all(parse_thresholds(["p95<1s", "max<1s"]), summary)
    assert judge(summary, passed).reason == "all 2 thresholds passed"
    failed = (*passed, evaluate(parse_threshold("p50<1ms"), summary))
    verdict = judge(summary, failed)
    assert verdict.exit_status == 1
    assert verdict.reason == "1 of 3 thresholds failed: p50<1ms"
    assert verdict.problems == ("1 of 3 thresholds failed: p50<1ms",)


def test_an_interrupted_run_never_passes_and_says_when() -> None:
    summary = summary_of([5.0, 6.0])
    passed = evaluate_all(parse_thresholds(["p95<1s"]), summary)
    verdict = judge(summary, passed, early_stop=EarlyStop(1.84, 20.0, "SIGTERM"))
    assert verdict.exit_status == 1
    assert verdict.reason == "the test was interrupted at 1.8s of 20s (SIGTERM)"
    assert verdict.checks[0].key == "interrupted" and not verdict.checks[0].passed


def test_no_transactions_fail_even_without_thresholds() -> None:
    verdict = judge(summary_of([]), ())
    assert verdict.exit_status == 1
    assert "no transactions" in verdict.reason


def test_a_failed_transaction_fails_the_run_unless_an_error_rate_threshold_allows_it() -> None:
    summary = summary_of([5.0] * 10, errors=10)
    verdict = judge(summary, ())
    assert verdict.exit_status == 1
    assert verdict.reason.startswith("10 of 10 transactions failed (100.00 %)")
    assert "no error_rate threshold" in verdict.reason
    allowed = evaluate_all(parse_thresholds(["error_rate<=100%"]), summary)
    assert judge(summary, allowed).passed
    timer_rule = evaluate_all(parse_thresholds(["timer:login:error_rate<=100%"]), summary)
    assert not judge(summary, timer_rule).passed, "a timer's error rate does not replace the rule"


def test_killed_aborted_and_silent_turrets_fail_the_run_by_name() -> None:
    summary = summary_of([5.0])
    killed = record("killed", name="alpha", uuid="aaaaaaaa-1")
    aborted = record("aborted", name="beta", uuid="bbbbbbbb-2")
    gone = record("running", name="gamma", uuid="cccccccc-3", last_seen=2.0)
    fine = record("ready", name="delta", uuid="dddddddd-4")
    verdict = judge(
        summary, (), turrets=[killed, aborted, gone, fine], unsettled=[gone], ended_at=12.0
    )
    assert verdict.exit_status == 1
    assert verdict.problems == (
        "turret alpha (aaaaaaaa) was killed during the test",
        "turret beta (bbbbbbbb) aborted during the test (see the turret's log)",
        "turret gamma (cccccccc) did not come back to ready after the stop (last status "
        "'running', 10.0s before the end): it died, hung or lost its link",
    )
    assert verdict.reason == "turret alpha (aaaaaaaa) was killed during the test (and 2 more)"


def test_lost_results_fail_the_run_and_say_where_they_went() -> None:
    summary = summary_of([5.0])
    dropped = DeliveryRow("nav", 1, produced=1000, received=100, dropped=850, lost=900)
    verdict = judge(summary, (), delivery=[dropped])
    assert verdict.problems == (
        "turret nav: 900 of 1000 results lost (850 dropped by the turret: its outbox was full;"
        " 50 sent but never received)",
    )
    unknown = DeliveryRow("ref", 2, produced=None, received=7, dropped=None, lost=None)
    whole = DeliveryRow("nav", 1, produced=1, received=1, dropped=0, lost=0)
    assert judge(summary, (), delivery=[unknown, whole]).passed


# Through the real processes: gturret-hq and gturret turrets, nothing faked.

# Leaves a file once 300 transactions (1.5 s at least, two canons) ran in this process: by then
# the HQ has had an interval of aggregated results, and the test acts.
NAP = """
    import itertools, os, time
    from gturret import Transaction as Base

    RUNS = itertools.count(1)

    class Transaction(Base):
        def run(self):
            time.sleep(0.01)
            if next(RUNS) == 300:
                open(f"ran-{os.getpid()}", "w").close()
"""

NOOP = """
    from gturret import Transaction as Base

    class Transaction(Base):
        pass
"""

ALWAYS_FAILS = """
    import time
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            time.sleep(0.01)
            raise RuntimeError("HTTP 500")
"""


def verdict_of(hq: HQProcess) -> tuple[int, str, str]:
    code, out, _ = hq.finish()
    return code, out.rstrip().splitlines()[-1], out


def ran(folder: Path, pid: int) -> None:
    """Wait until process ``pid`` has run 300 transactions (see NAP)."""
    wait_until((folder / f"ran-{pid}").exists, "the turret to run 300 transactions")


def test_a_turret_killed_mid_test_fails_the_run(spawn_turret, tmp_path):
    hq = HQProcess("--run-time", "3s", "--drain-timeout", "2s", "--threshold", "p95<1s")
    turret = spawn_turret(str(write_turret(tmp_path, NAP, hq.ports())))
    ran(tmp_path, turret.proc.pid)
    turret.signal(signal.SIGKILL)
    code, last, out = verdict_of(hq)
    assert code == 1, out
    assert re.fullmatch(
        r"FAIL: turret test-turret \([0-9a-f]{8}\) did not come back to ready after the stop"
        r" \(last status 'running', [\d.]+s before the end\): it died, hung or lost its link",
        last,
    ), out


def test_a_turret_that_aborts_fails_the_run(spawn_turret, tmp_path):
    hq = HQProcess("--run-time", "3s", "--drain-timeout", "2s", "--threshold", "p95<1s")
    turret = spawn_turret(
        str(write_turret(tmp_path, NAP, hq.ports(), canons=4)), "--processes", "2"
    )
    hq.wait_for("is now running")
    worker = _children(turret.proc.pid)[0]
    ran(tmp_path, worker)
    os.kill(worker, signal.SIGKILL)
    code, last, out = verdict_of(hq)
    assert code == 1, out
    aborted = r"turret test-turret \([0-9a-f]{8}\) aborted during the test \(see the turret's log\)"
    assert re.fullmatch("FAIL: " + aborted, last), out
    assert turret.wait(10) == 1


def test_results_the_hq_never_received_fail_the_run(spawn_turret, tmp_path):
    # One message per result (--per-result), so a turret far faster than the HQ drops:
    # ten canons are enough (a round of 1000 is a second of CPU, which a loaded machine
    # does not give in 2 s: most never ran, and the starved canons failed the run too).
    report, junit = str(tmp_path / "r.json"), tmp_path / "junit.xml"
    hq = HQProcess(
        "--run-time", "2s", "--per-result", "--threshold", "p95<1s", "--json", report,
        "--junit", str(junit),
    )  # fmt: skip
    config = write_turret(tmp_path, NOOP, hq.ports(), canons=10, outbox_limit=1)
    spawn_turret(str(config))
    code, last, out = verdict_of(hq)
    assert code == 1, out
    assert last.startswith("FAIL: turret test-turret: "), out
    # The verdict line, or among the problems when a loaded machine adds another.
    match = re.search(
        r"^(?:FAIL: |  FAIL  )turret test-turret: (\d+) of (\d+) results lost \((\d+)"
        r" dropped by the turret: its outbox was full\)$",
        out,
        re.M,
    )
    assert match, out
    lost, produced, dropped = map(int, match.groups())
    (row,) = json.loads((tmp_path / "r.json").read_text())["delivery"]
    assert row == {
        "name": "test-turret",
        "turrets": 1,
        "produced": produced,
        "received": produced - lost,
        "dropped": dropped,
        "lost": lost,
    }
    assert lost == dropped > 0
    assert re.search(rf"^test-turret +{produced} +{produced - lost} +{dropped} +{lost}$", out, re.M)
    # The JUnit file says so too, with the numbers, though the threshold passed.
    cases = {case.get("name"): case for case in ET.parse(junit).iter("testcase")}
    failure = cases["no results were lost"].find("failure")
    assert failure is not None and f"{lost} of {produced} results lost" in (failure.text or "")
    assert "limit: 0 results lost" in (failure.text or "")
    assert cases["p95<1s"].find("failure") is None


def test_failed_transactions_without_an_error_rate_threshold_fail_the_run(spawn_turret, tmp_path):
    hq = HQProcess("--run-time", "2s")
    spawn_turret(str(write_turret(tmp_path, ALWAYS_FAILS, hq.ports())))
    code, last, out = verdict_of(hq)
    assert code == 1, out
    assert re.fullmatch(
        r"FAIL: (\d+) of \1 transactions failed \(100\.00 %\) and no error_rate threshold was"
        r" given \(add --threshold 'error_rate<N%' to allow some\)",
        last,
    ), out


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert children, "the fleet has no workers"
    return [int(child) for child in children]
