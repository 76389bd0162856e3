"""``--csv PREFIX``: three tables read back with the csv module, their totals checked
against the JSON report, with results one by one (gturret-hq and a fake turret) and
aggregated (``gturret --standalone``, the default)."""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gturret.hq.csvreport import HISTORY_COLUMNS, STATS_COLUMNS
from tests.support.demo_target import demo_target
from tests.support.hq_process import HQ, TIMEOUT_S, run_hq_cli
from tests.support.turret_process import run_cli
from tests.test_standalone import demo_config


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with demo_target() as port:
        yield f"http://127.0.0.1:{port}"


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def check_against_json(prefix: Path, report: dict[str, Any]) -> list[dict[str, str]]:
    """Every total of the three files equals the JSON report's; returns the history."""
    stats = read(prefix.with_name(prefix.name + "_stats.csv"))
    history = read(prefix.with_name(prefix.name + "_history.csv"))
    errors = read(prefix.with_name(prefix.name + "_errors.csv"))
    assert list(stats[0]) == list(STATS_COLUMNS)
    assert list(history[0]) == [column for column, _ in HISTORY_COLUMNS]
    rows = {row["name"]: row for row in stats}
    transaction = report["transaction"]
    assert int(rows["transaction"]["count"]) == transaction["count"]
    assert int(rows["transaction"]["errors"]) == transaction["errors"]
    assert float(rows["transaction"]["p95_ms"]) == pytest.approx(transaction["p95_ms"], abs=5e-4)
    for name, timer in report["timers"].items():
        assert int(rows[f"timer {name}"]["count"]) == timer["count"]
    assert sum(int(row["tx_per_s"]) for row in history) == transaction["count"]
    assert sum(int(row["errors_per_s"]) for row in history) == transaction["errors"]
    assert len(history) == len(report["time_series"])
    assert sum(int(row["count"]) for row in errors) == transaction["errors"]
    assert len(errors) == report["errors"]["kinds"]
    return history


def test_per_result_totals_match_the_json(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    code, _, err, fake = run_hq_cli(
        "--csv", str(tmp_path / "run"), "--json", str(report), "--threshold", "error_rate<100%",
        error=lambda i: f"HTTP {500 + i % 3}" if i % 5 == 0 else "",
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(report.read_text())
    assert document["transaction"]["count"] == fake.sent
    assert document["errors"]["kinds"] == 3
    history = check_against_json(tmp_path / "run", document)
    assert any(row["p99_ms"] for row in history)


def test_aggregated_totals_match_the_json(tmp_path: Path, target: str) -> None:
    config = demo_config(tmp_path, target)
    (tmp_path / "out").mkdir()
    args = [str(config), "--standalone", "--run-time", "2s", "--no-progress"]
    done = run_cli([*args, "--csv", "out/demo", "--json", "out.json"], tmp_path)
    assert done.returncode in (0, 1), done.stderr
    document = json.loads((tmp_path / "out.json").read_text())
    assert document["messages"]["intervals"] > 0, "the turret did not aggregate"
    history = check_against_json(tmp_path / "out" / "demo", document)
    assert any(row["loop_lag_p99_ms"] for row in history)


def test_a_folder_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(HQ), "--csv", str(tmp_path / "nowhere" / "run")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 2
    assert "--csv" in done.stderr and "does not exist" in done.stderr
