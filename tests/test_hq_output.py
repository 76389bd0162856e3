"""What a person sees: the progress line (TTY and not) and the summary block."""

from __future__ import annotations

import io
from pathlib import Path

from gturret.hq.progress import Progress, Snapshot
from gturret.hq.stats import LatencyRecorder, Summary
from gturret.hq.summary import render_summary
from gturret.hq.thresholds import evaluate_all, parse_thresholds
from gturret.hq.verdict import judge
from tests.support.summaries import progress_and_summary
from tests.support.turret_process import run_cli, write_turret


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def snapshot(elapsed: float, tx: int) -> Snapshot:
    return Snapshot(elapsed, 60.0, 8, 10, tx, tx / elapsed if elapsed else 0.0, 2, 12.345)


def test_tty_redraws_one_line_in_place() -> None:
    stream = Terminal()
    progress = Progress(stream, enabled=True, plain_interval=5.0)
    assert progress.due(0.0)
    progress.show(snapshot(0.0, 0))
    assert not progress.due(0.2)
    assert progress.due(0.5)
    progress.show(snapshot(1.0, 100))
    progress.finish()
    text = stream.getvalue()
    assert text.count("\r") == 2
    assert text.endswith("\n") and text.count("\n") == 1
    assert "1s/1m  canons 8/10  100.0 tx/s  100 tx  errors 2  p95 12.3 ms" in text


def test_plain_lines_when_not_a_tty() -> None:
    stream = io.StringIO()
    progress = Progress(stream, enabled=True, plain_interval=5.0)
    progress.show(snapshot(0.0, 0))
    assert not progress.due(4.9)
    assert progress.due(5.0)
    progress.show(snapshot(5.0, 50))
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert lines == [
        "progress 0.0s/1m  canons 8/10  0.0 tx/s  0 tx  errors 2  p95 12.3 ms",
        "progress 5s/1m  canons 8/10  10.0 tx/s  50 tx  errors 2  p95 12.3 ms",
    ]


def test_unknown_canons_show_a_question_mark() -> None:
    stream = io.StringIO()
    Progress(stream, enabled=True, plain_interval=5.0).show(
        Snapshot(1.0, 2.0, None, None, 0, 0.0, 0, None)
    )
    assert "canons ?/?" in stream.getvalue() and "p95 -" in stream.getvalue()


def test_disabled_progress_writes_nothing() -> None:
    stream = Terminal()
    progress = Progress(stream, enabled=False, plain_interval=5.0)
    assert not progress.due(10.0)
    progress.show(snapshot(10.0, 1))
    progress.finish()
    assert stream.getvalue() == ""


def test_summary_block() -> None:
    transaction, login = LatencyRecorder("transaction"), LatencyRecorder("login")
    for ms in (10, 20, 30):
        transaction.record(ms / 1000, error=ms == 30)
        login.record(ms / 2000, error=False)
    summary = Summary(
        duration_s=3.0,
        transaction=transaction.summarize(3.0),
        timers={"login": login.summarize(3.0)},
        top_errors=(("HTTP 503", 1),),
        error_kinds=1,
        series=(),
        results_by_turret={"t": 3},
        timers_dropped=0,
        clamped=0,
    )
    verdicts = evaluate_all(parse_thresholds(["p95<1s", "error_rate<1%"]), summary)
    text = render_summary(summary, verdicts, judge(summary, verdicts), turrets=1, canons=4)
    lines = text.splitlines()
    header = next(line for line in lines if "count" in line)
    assert header.split() == [
        "count",
        "errors",
        "tx/s",
        "min",
        "mean",
        "p50",
        "p90",
        "p95",
        "p99",
        "p99.9",
        "max",
    ]
    row = next(line for line in lines if line.startswith("transaction"))
    assert row.split()[:4] == ["transaction", "3", "1", "1.0"]
    assert row.split()[-1] == "30.0"
    assert any(line.startswith("timer login") for line in lines)
    assert "3s from start to stop, 1 turret, 4 canons" in text
    assert "  PASS  p95<1s" in text
    assert "  FAIL  error_rate<1%" in text
    assert lines[-1] == "FAIL: 1 of 2 thresholds failed: error_rate<1%"
    assert "       1  HTTP 503" in text


def test_a_standalone_runs_last_progress_line_is_its_summary(tmp_path: Path) -> None:
    """A real turret and our HQ, aggregated (one interval a second, the default): the
    last second's interval arrives after the stop, so a line shown at the stop said
    less than the summary (0 tx in a 1 s test); the last line is shown once it is in."""
    script = """
        import time
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                time.sleep(0.005)
    """
    config = write_turret(tmp_path, script)
    done = run_cli([str(config), "--standalone", "--run-time", "1.5s"], tmp_path)
    assert done.returncode == 0, done.stderr
    lines, summary = progress_and_summary(done.stdout)
    assert summary[1] > 0
    assert lines[-1] == summary
