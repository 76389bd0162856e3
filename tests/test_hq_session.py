"""Our HQ, in-process, against real fake turrets on 127.0.0.1 sockets."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import zmq

from gturret.hq.thresholds import parse_thresholds
from tests.support.fake_turret import FakeTurret
from tests.support.in_process_hq import run_hq_in_process
from tests.support.summaries import progress_and_summary


class Harness:
    """Runs run_hq with ephemeral ports; turrets join when the HQ is bound (or later)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.turrets: list[FakeTurret] = []
        self.out = io.StringIO()
        self.json_path = tmp_path / "report.json"

    def run(
        self,
        specs: list[dict[str, Any]],
        *,
        late: list[dict[str, Any]] = (),  # type: ignore[assignment]
        late_after_s: float = 0.4,
        extra: list[bytes] = (),  # type: ignore[assignment]
        **options: Any,
    ) -> int:
        timers: list[threading.Timer] = []

        def on_bound(pub: int, rc: int) -> None:
            self.turrets += [FakeTurret(pub, rc, **spec).start() for spec in specs]
            for spec in late:
                turret = FakeTurret(pub, rc, **spec)
                self.turrets.append(turret)
                timers.append(threading.Timer(late_after_s, turret.start))
            if extra:
                timers.append(threading.Timer(0.3, _push, (rc, extra)))
            for timer in timers:
                timer.start()

        settings: dict[str, Any] = {
            "run_time": 1.0,
            "turrets": len(specs),
            "wait_timeout": 10.0,
            "drain_timeout": 5.0,
            "status_interval": 0.2,
            "json_path": self.json_path,
            "out": self.out,
        }
        settings.update(options)
        try:
            return run_hq_in_process(on_bound, **settings)
        finally:
            for timer in timers:
                timer.join()
            for turret in self.turrets:
                turret.close()

    def report(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.json_path.read_text())
        return document


def _push(rc_port: int, frames: list[bytes]) -> None:
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{rc_port}")
    for frame in frames:
        push.send(frame)
    push.close(linger=2000)
    context.term()


def test_every_result_lands_and_counts_match(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    status = harness.run([{"name": "alpha", "error": lambda i: "boom" if i % 10 == 0 else ""}])
    assert status == 1, "failed transactions and no error_rate threshold"
    (turret,) = harness.turrets
    report = harness.report()
    (problem,) = report["verdict"]["problems"]
    assert problem.startswith(f"{len(range(0, turret.sent, 10))} of {turret.sent} transactions")
    assert turret.sent > 0
    assert report["messages"]["results"] == turret.sent
    assert report["transaction"]["count"] == turret.sent
    assert report["transaction"]["errors"] == len(range(0, turret.sent, 10))
    assert report["timers"]["login"]["count"] == turret.sent
    assert report["results_by_turret"] == {"alpha": turret.sent}
    assert report["errors"]["top"] == [{"error": "boom", "count": len(range(0, turret.sent, 10))}]
    assert report["messages"]["unknown"] == 0
    assert report["unsettled_turrets"] == []
    assert sum(point["tx"] for point in report["time_series"]) == turret.sent
    assert turret.started_by() == [""]
    assert [name for name, _ in turret.commands if name != "status_request"] == [
        "set_transaction_context",
        "start",
        "stop",
    ]


def test_context_is_sent_to_every_turret(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    assert harness.run([{}], context={"base_url": "http://127.0.0.1:1"}) == 0
    assert harness.turrets[0].context == {"base_url": "http://127.0.0.1:1"}


def test_three_turrets_at_once(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    specs = [{"name": f"t{i}", "canons": 3} for i in range(3)]
    assert harness.run(specs) == 0
    report = harness.report()
    assert report["results_by_turret"] == {t.name: t.sent for t in harness.turrets}
    assert report["transaction"]["count"] == sum(t.sent for t in harness.turrets)
    assert report["canons"]["total"] == 9
    assert {t["uuid"] for t in report["turrets"]} == {t.uuid for t in harness.turrets}
    assert all(t.started_by() == [""] for t in harness.turrets)
    assert 9 in {point["canons_active"] for point in report["time_series"]}


def test_a_late_joiner_gets_a_direct_start(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    status = harness.run([{"name": "early"}], late=[{"name": "late"}], run_time=1.5)
    assert status == 0
    early, late = harness.turrets
    assert early.started_by() == [""]
    assert late.started_by() == [late.uuid]
    assert ("set_transaction_context", late.uuid) in late.commands
    report = harness.report()
    assert late.sent > 0
    assert report["results_by_turret"] == {"early": early.sent, "late": late.sent}
    assert report["messages"]["late_starts"] == 1
    joined = {t["name"]: t["joined_late"] for t in report["turrets"]}
    assert joined == {"early": False, "late": True}


def test_late_start_broadcast_starts_the_late_joiner_without_direct_orders(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path)
    status = harness.run(
        [{"name": "early"}], late=[{"name": "late"}], run_time=1.5, late_start="broadcast"
    )
    assert status == 0
    early, late = harness.turrets
    assert late.started_by() == [""]
    assert early.started_by() == ["", ""]
    assert all(channel == "" for _, channel in early.commands + late.commands)
    assert late.sent > 0
    assert harness.report()["results_by_turret"] == {"early": early.sent, "late": late.sent}


def test_late_start_off_leaves_the_late_joiner_alone(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    status = harness.run(
        [{"name": "early"}], late=[{"name": "late"}], run_time=1.5, late_start="off"
    )
    assert status == 0
    early, late = harness.turrets
    assert early.sent > 0
    assert late.started_by() == []
    assert late.sent == 0
    report = harness.report()
    assert report["messages"]["late_starts"] == 0
    assert [t["joined_late"] for t in report["turrets"]] == [False, True]


def test_status_is_told_from_results_by_parsing_not_substring(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    spec = {"raw_results": True, "error": lambda i: "HTTP status 503" if i % 2 else ""}
    assert harness.run([spec], thresholds=parse_thresholds(["error_rate<=100%"])) == 0
    (turret,) = harness.turrets
    report = harness.report()
    assert report["transaction"]["count"] == turret.sent
    assert report["errors"]["top"][0] == {"error": "HTTP status 503", "count": turret.sent // 2}


def test_messages_that_are_neither_are_counted_not_fatal_and_fail_the_run(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path)
    junk = [b"not json", b"[1, 2]", b'{"foo": 1}', b'{"status": "ready"}', b"\xff\xfe"]
    assert harness.run([{}], extra=junk) == 1
    report = harness.report()
    assert report["messages"]["unknown"] == len(junk)
    assert report["messages"]["rejected"] == {
        "not a JSON object": 3,
        "a JSON object that is neither a status nor a result": 2,
    }
    assert report["verdict"]["problems"] == [
        "3 messages rejected: not a JSON object",
        "2 messages rejected: a JSON object that is neither a status nor a result",
    ]
    assert report["transaction"]["count"] == harness.turrets[0].sent


def test_turrets_that_never_come_exit_2_with_a_clear_message(tmp_path: Path, caplog: Any) -> None:
    harness = Harness(tmp_path)
    assert harness.run([{}], turrets=2, wait_timeout=0.6) == 2
    assert "only 1 of 2 turrets reported within" in caplog.text
    assert not harness.json_path.exists()


def test_no_transactions_fail_loudly(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    assert harness.run([{"max_results": 0}]) == 1
    assert "FAIL: no transactions were recorded" in harness.out.getvalue()
    assert harness.report()["verdict"]["exit_status"] == 1


def test_a_port_in_use_exits_2(tmp_path: Path, caplog: Any) -> None:
    context = zmq.Context()
    holder = context.socket(zmq.PULL)
    port = holder.bind_to_random_port("tcp://127.0.0.1")
    try:
        status = run_hq_in_process(rc_port=port)
    finally:
        holder.close(linger=0)
        context.term()
    assert status == 2
    assert f"cannot bind the PULL (--rc) socket on tcp://127.0.0.1:{port}" in caplog.text


def test_non_tty_output_is_plain_lines(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    assert harness.run([{}], run_time=1.2, progress_interval=0.3) == 0
    text = harness.out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.count("progress ") >= 3
    assert "transaction" in text and "timer login" in text


def test_the_last_progress_line_shows_what_the_summary_shows(tmp_path: Path) -> None:
    """Results arriving all along: every line's tx/s is its count over the elapsed
    time (never 0 once results came), and the last line, shown once the drain is
    over, has the summary's own count and tx/s."""
    harness = Harness(tmp_path)
    assert harness.run([{"per_tick": 2}], run_time=1.5, progress_interval=0.3) == 0
    lines, summary = progress_and_summary(harness.out.getvalue())
    count = harness.report()["transaction"]["count"]
    duration = harness.report()["test"]["duration_s"]
    assert lines[-1] == summary == (f"{count / duration:.1f}", count)
    assert all(float(rate) > 0 for rate, shown in lines if shown)


def test_progress_rates_are_over_the_elapsed_time(tmp_path: Path) -> None:
    """200 results in the first moments of a 1.5 s test: once the 200 are in, each
    line's rate falls as the elapsed time grows (a rate since the last line would
    say 0.0 tx/s)."""
    harness = Harness(tmp_path)
    spec = {"max_results": 200, "per_tick": 50}
    assert harness.run([spec], run_time=1.5, progress_interval=0.3) == 0
    lines, _ = progress_and_summary(harness.out.getvalue())
    rates = [float(rate) for rate, count in lines if count == 200]
    assert len(rates) >= 3 and rates == sorted(rates, reverse=True) and rates[-1] > 0
