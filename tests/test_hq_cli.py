"""The real ``gturret-hq`` console script, as a subprocess, against a fake turret."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support.hq_process import HQ, TIMEOUT_S, HQProcess, run_hq_cli


def test_passing_thresholds_exit_0_and_output_is_plain(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    code, out, err, fake = run_hq_cli(
        "--threshold", "p95<1s", "--threshold", "error_rate<=100%", "--json", str(report)
    )
    assert code == 0, err
    assert "\r" not in out and "\r" not in err and "\x1b" not in out
    assert "progress " in out
    assert re.search(r"^transaction +\d+ ", out, re.MULTILINE)
    assert "  PASS  p95<1s" in out
    assert "PASS: all 2 thresholds passed" in out
    assert json.loads(report.read_text())["transaction"]["count"] == fake.sent


def test_a_failing_threshold_exits_1(tmp_path: Path) -> None:
    code, out, err, _ = run_hq_cli("--threshold", "p50<1ms", "--threshold", "tx_per_s>1")
    assert code == 1, err
    assert "  FAIL  p50<1ms" in out
    assert "  PASS  tx_per_s>1" in out
    assert out.rstrip().endswith("FAIL: 1 of 2 thresholds failed: p50<1ms")


def test_no_transactions_exit_1(tmp_path: Path) -> None:
    code, out, _, _ = run_hq_cli(max_results=0)
    assert code == 1
    assert "FAIL: no transactions were recorded" in out


def test_a_bad_threshold_exits_2_with_one_line() -> None:
    result = subprocess.run(
        [str(HQ), "--threshold", "p95<100"], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "gturret-hq: error: threshold 'p95<100': give p95 a unit, ms or s"
    ]


def test_a_bad_duration_exits_2_with_one_line() -> None:
    result = subprocess.run(
        [str(HQ), "--run-time", "soon"], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "--run-time 'soon' is not a duration" in result.stderr


def test_turrets_that_never_come_exit_2() -> None:
    hq = HQProcess("--turrets", "2", "--wait-timeout", "0.5")
    hq.ports()
    code, _, err = hq.finish()
    assert code == 2
    assert "only 0 of 2 turrets reported within 0.5s (--wait-timeout)" in err


def test_json_report_schema(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    code, _, err, fake = run_hq_cli(
        "--json",
        str(report),
        "--context",
        '{"k": 1}',
        "--threshold",
        "timer:login:p99<1s",
        "--threshold",
        "error_rate<50%",
        error=lambda i: "boom" if i == 0 else "",
    )
    assert code == 0, err
    document = json.loads(report.read_text())
    assert set(document) == {
        "schema",
        "generated_at",
        "test",
        "events",
        "verdict",
        "turrets",
        "unsettled_turrets",
        "delivery",
        "canons",
        "transaction",
        "transaction_uncorrected",
        "pacing",
        "loop_lag",
        "memory",
        "timers",
        "errors",
        "results_by_turret",
        "time_series",
        "thresholds",
        "messages",
        "limits",
        "feeders",
    }
    assert document["schema"] == "gturret-hq/1"
    assert document["events"] == []  # no console: nobody changed the test
    assert set(document["test"]) == {
        "started_at",
        "run_time_s",
        "duration_s",
        "drain_s",
        "interrupted",
        "stopped_by",
        "context",
        "bind",
        "pub_port",
        "rc_port",
    }
    assert document["test"]["context"] == {"k": 1} == fake.context
    assert document["test"]["run_time_s"] == 1.0
    metric_keys = {
        "name",
        "count",
        "errors",
        "error_rate_pct",
        "tx_per_s",
        "min_ms",
        "mean_ms",
        "p50_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "p99_9_ms",
        "max_ms",
    }
    assert set(document["transaction"]) == metric_keys
    assert set(document["timers"]["login"]) == metric_keys
    assert document["errors"] == {"kinds": 1, "top": [{"error": "boom", "count": 1}]}
    assert set(document["time_series"][0]) == {
        "second",
        "tx",
        "errors",
        "p50_ms",
        "p95_ms",
        "canons_active",
        "p95_uncorrected_ms",
        "p99_ms",
        "loop_lag_p99_ms",
    }
    checks = document["verdict"]["checks"]
    assert [check["key"] for check in checks] == [
        "interrupted",
        "transactions",
        "turrets",
        "delivery",
        "canons",
        "schedule",
        "errors",
        "messages",
        "journal",
    ]
    assert checks[-3] == {
        "key": "errors",
        "title": "no transaction failed (without an error_rate threshold)",
        "limit": "0 failed transactions, unless an error_rate threshold allows some",
        "passed": True,
        "problems": [],
        "waived": "replaced by the threshold error_rate<50%",
    }
    assert set(document["turrets"][0]) == {
        "uuid",
        "name",
        "state",
        "canons",
        "canons_active",
        "script",
        "rampup",
        "joined_late",
        "found_running",
        "starts_sent",
        "results_produced",
        "results_sent",
        "results_dropped",
        "results_queued",
        "rss_bytes",
        "rss_growth_bytes",
        "rss_highest_bytes",
        "rss_peak_bytes",
        "memory_leak",
    }
    assert document["delivery"] == [
        {
            "name": "fake",
            "turrets": 1,
            "produced": fake.sent,
            "received": fake.sent,
            "dropped": 0,
            "lost": 0,
        }
    ]
    assert set(document["thresholds"][0]) == {
        "expression",
        "timer",
        "metric",
        "op",
        "limit",
        "unit",
        "passed",
        "actual",
        "detail",
        "abort",
        "abort_after_s",
        "stopped_test_at_s",
    }
    assert set(document["messages"]) == {
        "results",
        "statuses",
        "intervals",
        "unknown",
        "stray_results",
        "unnamed_results",
        "late_starts",
        "duplicates",
        "rejected",
    }
    assert document["messages"]["rejected"] == {}
    assert document["verdict"] == {
        "passed": True,
        "exit_status": 0,
        "reason": "all 2 thresholds passed",
        "problems": [],
        "checks": checks,
    }
    assert document["messages"]["results"] == fake.sent
