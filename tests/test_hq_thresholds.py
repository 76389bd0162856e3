"""Threshold parsing and evaluation, and ``:abort`` thresholds stopping real runs."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from gturret.errors import ThresholdError, UsageError
from gturret.hq.stats import Stats
from gturret.hq.thresholds import (
    Threshold,
    aborting,
    evaluate,
    evaluate_so_far,
    parse_threshold,
    parse_thresholds,
)
from tests.support.hq_process import HQ, HQProcess
from tests.support.summaries import summary_of
from tests.support.turret_process import TurretProcess, run_cli, write_turret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p95<100ms", Threshold("p95<100ms", "p95", "<", 100.0)),
        ("p99 <= 1.5s", Threshold("p99 <= 1.5s", "p99", "<=", 1500.0)),
        ("  mean>2ms ", Threshold("mean>2ms", "mean", ">", 2.0)),
        ("max>=.5s", Threshold("max>=.5s", "max", ">=", 500.0)),
        ("p99.9<10ms", Threshold("p99.9<10ms", "p99.9", "<", 10.0)),
        ("error_rate<1%", Threshold("error_rate<1%", "error_rate", "<", 1.0)),
        ("error_rate<=0.5", Threshold("error_rate<=0.5", "error_rate", "<=", 0.5)),
        ("tx_per_s>=50", Threshold("tx_per_s>=50", "tx_per_s", ">=", 50.0)),
        ("timer:login:p95<100ms", Threshold("timer:login:p95<100ms", "p95", "<", 100.0, "login")),
        ("timer:a:b:p50<1s", Threshold("timer:a:b:p50<1s", "p50", "<", 1000.0, "a:b")),
        ("p99<500ms:abort", Threshold("p99<500ms:abort", "p99", "<", 500.0, abort=True)),
        (
            "p99 < 0.5s : abort:30s",
            Threshold("p99 < 0.5s : abort:30s", "p99", "<", 500.0, None, True, 30.0),
        ),
        (
            "timer:a:b:p50<1s:abort:1m30s",
            Threshold("timer:a:b:p50<1s:abort:1m30s", "p50", "<", 1000.0, "a:b", True, 90.0),
        ),
        (
            "error_rate<1%:abort",
            Threshold("error_rate<1%:abort", "error_rate", "<", 1.0, None, True),
        ),
    ],
)
def test_parse(text: str, expected: Threshold) -> None:
    assert parse_threshold(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95<100", "give p95 a unit, ms or s"),
        ("p42<1ms", "unknown metric 'p42'"),
        ("latency<1ms", "unknown metric 'latency'"),
        ("p95=100ms", "is not METRIC OP VALUE"),
        ("p95<abc", "is not METRIC OP VALUE"),
        ("error_rate<1ms", "error_rate is a percentage"),
        ("tx_per_s>5%", "tx_per_s takes no unit"),
        ("", "is not METRIC OP VALUE"),
        ("p99<500ms:abort:x", "the abort delay 'x' is not a duration"),
        ("p99<500ms:abort:-1s", "the abort delay '-1s' is not a duration"),
        ("p99<500ms:abort:0s", "the abort delay '0s' must be a positive duration"),
        ("p99<500ms:stop", "unknown suffix ':stop' \\(known: :abort, :abort:30s\\)"),
        ("p99<500ms:", "unknown suffix ':'"),
        ("p99<500ms:abort:1s:2s", "the abort delay '1s:2s' is not a duration"),
    ],
)
def test_parse_errors_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ThresholdError, match=message) as info:
        parse_threshold(text)
    assert isinstance(info.value, UsageError)
    assert "\n" not in str(info.value)


def test_evaluate() -> None:
    summary = summary_of([float(ms) for ms in range(1, 101)], errors=2)
    verdicts = {
        text: evaluate(parse_threshold(text), summary)
        for text in (
            "p95<100ms",
            "p95<90ms",
            "max<=0.1s",
            "mean>50ms",
            "error_rate<1%",
            "error_rate<=2",
            "tx_per_s>=10",
            "tx_per_s>10",
            "timer:login:p99<50ms",
            "timer:login:p99<49ms",
            "timer:nope:p95<1s",
        )
    }
    assert {text: v.passed for text, v in verdicts.items()} == {
        "p95<100ms": True,
        "p95<90ms": False,
        "max<=0.1s": True,
        "mean>50ms": True,
        "error_rate<1%": False,
        "error_rate<=2": True,
        "tx_per_s>=10": True,
        "tx_per_s>10": False,
        "timer:login:p99<50ms": True,
        "timer:login:p99<49ms": False,
        "timer:nope:p95<1s": False,
    }
    assert verdicts["p95<90ms"].actual == pytest.approx(95.0, rel=1e-3)
    assert verdicts["timer:nope:p95<1s"].actual is None
    assert verdicts["timer:nope:p95<1s"].detail == "timer 'nope' has no data"


def _stats(*milliseconds: float) -> Stats:
    stats = Stats()
    for ms in milliseconds:
        stats.transaction.record(ms / 1000.0, error=False)
    return stats


def test_the_run_so_far_is_judged_as_the_end_is() -> None:
    """``evaluate_so_far`` gives each threshold the verdict ``evaluate`` would give on a
    summary of the same statistics: the live judge and the final one agree."""
    stats = _stats(*[float(ms) for ms in range(1, 101)])
    thresholds = parse_thresholds(["p95<90ms:abort", "p50<100ms", "error_rate<1%", "tx_per_s>5"])
    so_far = evaluate_so_far(thresholds, stats, 10.0)
    at_end = tuple(evaluate(t, stats.summarize(10.0)) for t in thresholds)
    assert so_far == at_end
    assert [v.passed for v in so_far] == [False, True, True, True]


def test_only_a_measured_crossing_past_its_delay_aborts() -> None:
    """No data yet is no crossing; a delay holds the abort back until it has passed; a
    threshold without ``:abort`` never stops the run."""
    empty = evaluate_so_far(parse_thresholds(["p99<1ms:abort"]), Stats(), 5.0)
    assert not empty[0].passed and aborting(empty, 5.0) is None
    slow = _stats(50.0, 60.0)
    delayed = evaluate_so_far(parse_thresholds(["p99<1ms:abort:30s"]), slow, 29.0)
    assert aborting(delayed, 29.0) is None
    assert aborting(delayed, 30.0) == delayed[0]
    plain = evaluate_so_far(parse_thresholds(["p99<1ms"]), slow, 5.0)
    assert aborting(plain, 5.0) is None


SLOW = """\
import time

from gturret import Transaction as Base


class Transaction(Base):
    def run(self):
        time.sleep(0.01)
"""


def _hq_run(tmp_path: Path, *args: str) -> tuple[int, str, str, dict[str, Any]]:
    """A real ``gturret-hq`` and one real turret sleeping 10 ms a transaction."""
    report = tmp_path / "report.json"
    hq = HQProcess("--turrets", "1", "--json", str(report), *args)
    turret = TurretProcess([str(write_turret(tmp_path, SLOW, hq.ports(), canons=4))], tmp_path)
    try:
        code, out, err = hq.finish()
    finally:
        turret.stop()
    return code, out, err, json.loads(report.read_text())


def test_an_abort_threshold_stops_the_run_early_naming_itself_and_when(tmp_path: Path) -> None:
    """p99 of 10 ms crosses 1 ms at once: the run of 5 minutes stops (the turret is
    stopped and drained, every report written), exit 1, naming the threshold and the
    second it stopped the test, in the log, the summary, the JSON and the JUnit."""
    junit = tmp_path / "junit.xml"
    code, out, err, document = _hq_run(
        tmp_path,
        "--run-time", "5m",
        "--threshold", "p99<1ms:abort",
        "--threshold", "error_rate<1%",
        "--junit", str(junit),
    )  # fmt: skip
    assert code == 1, err
    stopped = document["test"]["stopped_by"]
    assert stopped["threshold"] == "p99<1ms:abort"
    assert 1.0 <= stopped["at_s"] < 60.0
    assert document["test"]["duration_s"] < 60.0
    assert "transaction p99 = " in stopped["detail"]
    assert document["unsettled_turrets"] == []
    first, second = document["thresholds"]
    assert first["abort"] is True and first["stopped_test_at_s"] == stopped["at_s"]
    assert second["abort"] is False and second["stopped_test_at_s"] is None
    problem = f"the threshold p99<1ms:abort stopped the test at {stopped['at_s']:.1f}s of 5m"
    assert document["verdict"]["problems"][0].startswith(problem)
    assert "threshold p99<1ms:abort failed at" in err and "stopping the test" in err
    assert f"stopped the test at {stopped['at_s']:.1f}s" in out
    assert f"FAIL: {problem}" in out
    cases = {case.get("name"): case for case in ET.parse(junit).iter("testcase")}
    failure = cases["p99<1ms:abort"].find("failure")
    assert failure is not None and failure.text is not None
    assert f"stopped the test at {stopped['at_s']:.1f}s" in failure.text


def test_an_abort_delay_holds_the_stop_back(tmp_path: Path) -> None:
    """``:abort:3s``: crossed from the first second, the run stops only from 3 s on."""
    code, _, err, document = _hq_run(
        tmp_path, "--run-time", "5m", "--threshold", "p99<1ms:abort:3s"
    )
    assert code == 1, err
    stopped = document["test"]["stopped_by"]
    assert stopped["threshold"] == "p99<1ms:abort:3s"
    assert 3.0 <= stopped["at_s"] <= document["test"]["duration_s"] < 60.0


def test_an_abort_threshold_that_holds_lets_the_run_end_normally(tmp_path: Path) -> None:
    code, out, err, document = _hq_run(tmp_path, "--run-time", "2s", "--threshold", "p99<10s:abort")
    assert code == 0, err
    assert document["test"]["stopped_by"] is None
    assert document["test"]["duration_s"] >= 2.0
    assert document["thresholds"][0]["passed"] is True
    assert "stopping the test" not in err and "PASS" in out


def test_standalone_stops_on_an_abort_threshold(tmp_path: Path) -> None:
    config = write_turret(tmp_path, SLOW, canons=4)
    report = tmp_path / "report.json"
    done = run_cli(
        [str(config), "--standalone", "--run-time", "5m", "--json", str(report),
         "--threshold", "p95<1ms:abort"],
        tmp_path,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert json.loads(report.read_text())["test"]["stopped_by"]["threshold"] == "p95<1ms:abort"
    assert "the threshold p95<1ms:abort stopped the test at" in done.stdout


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("p99<500ms:abort:x", "the abort delay 'x' is not a duration"),
        ("p99<500ms:abort:-1s", "the abort delay '-1s' is not a duration"),
        ("p99<500ms:halt", "unknown suffix ':halt'"),
    ],
)
def test_a_bad_abort_suffix_is_one_line_and_exit_2(expression: str, message: str) -> None:
    done = subprocess.run(
        [str(HQ), "--threshold", expression], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
