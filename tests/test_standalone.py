"""``gturret --standalone``: a whole load test in one process, through the real CLI,
against the demo HTTP target (a real server on 127.0.0.1)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.demo_target import EXAMPLES, demo_target
from tests.support.turret_process import TurretProcess, run_cli, write_turret


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with demo_target() as port:
        yield f"http://127.0.0.1:{port}"


def demo_config(folder: Path, target: str, **extra: object) -> Path:
    config = {
        "name": "demo",
        "canons": 20,
        "rampup": 0.5,
        "script": str(EXAMPLES / "v_user.py"),
        "hq_address": "127.0.0.1",
        "hq_publisher": 5000,
        "hq_rc": 5001,
        "target": target,
        "think_time": 0.05,
        **extra,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_demo_passes_its_thresholds_and_writes_reports(tmp_path, target):
    config = demo_config(tmp_path, target)
    done = run_cli(
        [
            str(config),
            "--standalone",
            "--run-time",
            "2s",
            "--threshold",
            "error_rate<1%",
            "--threshold",
            "timer:browse:p99<5s",
            "--json",
            "out.json",
            "--html",
            "out.html",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "summary:" in done.stdout and "timer browse" in done.stdout
    assert "PASS  error_rate<1%" in done.stdout
    assert "\r" not in done.stdout
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["transaction"]["count"] > 0
    assert report["transaction"]["errors"] == 0
    assert set(report["timers"]) == {"browse", "search", "order"}
    assert report["verdict"]["passed"] is True
    assert (tmp_path / "out.html").read_text().startswith("<!DOCTYPE html>")
    assert "standalone test over" in done.stderr


def test_a_failing_threshold_exits_1(tmp_path, target):
    config = demo_config(tmp_path, target)
    done = run_cli(
        [str(config), "--standalone", "--run-time", "1s", "--threshold", "p50<0.001ms"],
        tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  p50<0.001ms" in done.stdout


def test_a_test_without_transactions_fails_loudly(tmp_path):
    script = """
        import time
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                time.sleep(60)
    """
    config = write_turret(tmp_path, script, None, canons=3, stop_grace=0.1)
    done = run_cli([str(config), "--standalone", "--run-time", "1s"], tmp_path)
    assert done.returncode == 1
    assert "no transaction" in (done.stdout + done.stderr).lower()


def test_failing_transactions_fail_the_run_unless_an_error_rate_threshold_allows_them(tmp_path):
    script = """
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                raise ValueError("HTTP 502")
    """
    config = write_turret(tmp_path, script, None, canons=2)
    done = run_cli([str(config), "--standalone", "--run-time", "1s"], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "transactions failed (100.00 %) and no error_rate threshold" in done.stdout
    allowed = ["--threshold", "error_rate<=100%"]
    done = run_cli([str(config), "--standalone", "--run-time", "1s", *allowed], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


NEVER_YIELDS = """
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            while True:
                pass
"""


def test_a_script_that_never_yields_still_ends_at_the_run_time(tmp_path):
    """The HQ shares the loop: the watchdog stops the canon when the run time is over."""
    config = write_turret(tmp_path, NEVER_YIELDS, None, canons=1)
    done = run_cli([str(config), "--standalone", "--run-time", "1s"], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "interrupted: the script held the loop" in done.stdout
    assert "FAIL: 1 of 1 transactions failed" in done.stdout


def test_ctrl_c_stops_a_script_that_never_yields_and_still_reports(tmp_path):
    config = write_turret(tmp_path, NEVER_YIELDS, None, canons=1)
    turret = TurretProcess([str(config), "--standalone", "--run-time", "5m"], tmp_path)
    try:
        turret.wait_log("blocked for")
        turret.signal(signal.SIGINT)
        assert turret.wait(30) == 1
        assert "interrupted (SIGINT) at" in turret.log
        assert "FAIL: the test was interrupted at" in turret.log
        assert "FAIL  1 of 1 transactions failed" in turret.log
    finally:
        turret.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run-time", "5s"], "--run-time need --standalone"),
        (["--standalone", "--threshold", "p95<<3"], "p95<<3"),
        (["--standalone", "--run-time", "soon"], "--run-time 'soon' is not a duration"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    config = write_turret(tmp_path, "from gturret import Transaction\n")
    done = run_cli([str(config), *args], tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
