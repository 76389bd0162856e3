"""``--metrics-port``: live metrics in the Prometheus text format while a test runs,
scraped over a real socket from the real ``gturret-hq`` and ``gturret --standalone``;
checked by ``promtool`` and scraped by a real Prometheus server (Debian's
``prometheus``, ``make prometheus``) in the system tests."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_target import demo_target
from tests.support.fake_turret import FakeTurret
from tests.support.hq_process import HQ, HQProcess
from tests.support.peers import free_ports, system_program
from tests.support.turret_process import TurretProcess
from tests.support.waiting import wait_until
from tests.test_standalone import demo_config

SERVED = re.compile(r"metrics served on http://127\.0\.0\.1:(\d+)/metrics")
SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")
TIMEOUT_S = 30


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text: str = response.read().decode()
        return text


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value, for every sample line (a minimal exposition parser)."""
    found = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        found[f"{name}{{{labels or ''}}}"] = float(value)
    return found


class LiveHQ:
    """``gturret-hq --metrics-port 0`` with a fake turret; stopped early with SIGINT."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.report = tmp_path / "report.json"
        self.hq = HQProcess(
            "--run-time", "60", "--metrics-port", "0", "--json", str(self.report), *args
        )  # fmt: skip
        self.fake = FakeTurret(*self.hq.ports(), error=lambda i: "boom" if i % 9 == 0 else "")
        self.fake.start()
        self.hq.wait_for("metrics served on")
        match = SERVED.search(b"".join(self.hq.stderr).decode())
        assert match, "the metrics address is not logged on 127.0.0.1"
        self.port = int(match[1])

    def finish(self) -> dict[str, Any]:
        self.hq.process.send_signal(signal.SIGINT)
        code, _, err = self.hq.finish()
        self.fake.close()
        assert code in (0, 1), err
        report: dict[str, Any] = json.loads(self.report.read_text())
        return report


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveHQ]:
    hq = LiveHQ(tmp_path)
    try:
        yield hq
    finally:
        hq.hq.process.kill()
        hq.fake.close()


def test_counters_grow_while_the_test_runs(live: LiveHQ) -> None:
    def transactions() -> float:
        return samples(scrape(live.port)).get('gturret_transactions_total{turret="fake"}', 0)

    first = wait_until(transactions, "a first transaction")
    wait_until(lambda: transactions() > first, "the counter to grow")
    now = samples(scrape(live.port))
    assert now['gturret_transaction_errors_total{turret="fake"}'] >= 1
    assert now['gturret_transaction_duration_seconds{quantile="0.95"}'] == pytest.approx(0.005)
    assert now["gturret_transaction_duration_seconds_count{}"] >= first
    assert now['gturret_turret_transaction_duration_seconds_count{turret="fake"}'] >= first
    assert now["gturret_canons_active{}"] == live.fake.canons
    assert now['gturret_turret_canons_active{turret="fake",uuid="' + live.fake.uuid + '"}'] == 2
    assert now['gturret_results_lost{turret="fake"}'] >= 0
    assert now['gturret_turrets{state="running"}'] == 1
    report = live.finish()
    assert report["transaction"]["count"] >= now["gturret_transaction_duration_seconds_count{}"]
    with pytest.raises(urllib.error.URLError):
        scrape(live.port)  # the endpoint lives as long as the test


def test_only_metrics_is_served(live: LiveHQ) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"http://127.0.0.1:{live.port}/", timeout=5)
    assert raised.value.code == 404


def test_a_port_in_use_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(HQ), "--pub", "0", "--rc", "0", "--metrics-port", str(port)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    assert done.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port} (--metrics-port)" in done.stderr


@pytest.mark.system
def test_promtool_accepts_the_exposition(live: LiveHQ) -> None:
    promtool = system_program("promtool", "make prometheus")
    wait_until(lambda: "gturret_transactions_total{" in scrape(live.port), "a transaction")
    checked = subprocess.run(
        [str(promtool), "check", "metrics"],
        input=scrape(live.port),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""  # no lint warning either


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with demo_target() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.system
def test_prometheus_scrapes_a_standalone_run(tmp_path: Path, target: str) -> None:
    binary = system_program("prometheus", "make prometheus")
    metrics_port, web_port = free_ports(2)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: gturret\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    prometheus = subprocess.Popen(
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    turret_config = demo_config(tmp_path, target)
    args = [str(turret_config), "--standalone", "--run-time", "60s", "--no-progress"]
    turret = TurretProcess([*args, "--metrics-port", str(metrics_port)], tmp_path)
    try:
        turret.wait_log("metrics served on", timeout=TIMEOUT_S)

        def query(expression: str) -> list[dict[str, Any]]:
            url = f"http://127.0.0.1:{web_port}/api/v1/query?" + urllib.parse.urlencode(
                {"query": expression}
            )
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    answer = json.loads(response.read())
            except (urllib.error.URLError, ConnectionError):
                return []  # Prometheus still starting
            result: list[dict[str, Any]] = answer["data"]["result"]
            return result

        found = wait_until(
            lambda: query('gturret_transactions_total{turret="demo"} > 0'),
            "Prometheus to store a transaction count",
        )
        assert found[0]["metric"]["job"] == "gturret"
        for expression in (
            'gturret_transaction_duration_seconds{quantile="0.95"}',
            "gturret_canons_active",
            "gturret_loop_lag_p99_seconds",
            'gturret_turret_loop_lag_p99_seconds{turret="demo"}',
            'gturret_results_lost{turret="demo"}',
            'gturret_turret_transaction_duration_seconds{turret="demo",quantile="0.99"}',
            'gturret_timer_duration_seconds_count{timer="browse"}',
        ):
            assert wait_until(lambda e=expression: query(e), expression)
        turret.signal(signal.SIGINT)
        assert turret.wait(timeout=TIMEOUT_S) in (0, 1), turret.log
    finally:
        turret.stop()
        prometheus.terminate()
        prometheus.wait(timeout=TIMEOUT_S)
