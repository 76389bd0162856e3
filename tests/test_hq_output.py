"""What a person sees: the progress line (TTY and not) and the summary block."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

from gturret.hq.findings import Findings
from gturret.hq.options import HQOptions
from gturret.hq.progress import Progress, Snapshot
from gturret.hq.roster import CanonSummary, TurretRecord
from gturret.hq.session import Outcome
from gturret.hq.stats import LatencyRecorder, Summary
from gturret.hq.summary import render_summary
from gturret.hq.thresholds import evaluate_all, parse_thresholds
from gturret.hq.verdict import judge
from tests.support.fake_turret import FakeTurret
from tests.support.hq_process import HQ, HQProcess
from tests.support.summaries import progress_and_summary
from tests.support.turret_process import GTURRET, run_cli, write_turret
from tests.support.waiting import wait_until
from tests.test_hq_metrics import SERVED, scrape


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
    turret = TurretRecord("d7b8a1cc", "t", "ready", 4, 0, "v_user.py", 0, 0.0, 0.0)
    findings = Findings(
        summary=summary,
        verdicts=verdicts,
        verdict=judge(summary, verdicts),
        turrets=(turret,),
        delivery=(),
        canons_total=4,
        canons=CanonSummary(0, 0, 0, 0, 0, {}),
        pacing=None,
        outcome=Outcome(),
        options=HQOptions(),
        ports=(5000, 5001),
    )
    text = render_summary(findings)
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


#: A float repr's rounding noise (``0.013574999999999999``) or an exponent (``1.23457e+06``).
NOISE = re.compile(r"\d\.\d{8,}|(?<![\w.-])\d+(?:\.\d+)?e[+-]\d+\b")


def test_no_number_a_person_reads_is_a_float_repr(tmp_path: Path) -> None:
    """A real ``gturret-hq`` run against a fake turret whose times and timers are
    13.575 ms (0.013575 s: noise in binary either way), with limits given in seconds
    and very large ones: its terminal output, log, JUnit, CSV, the HTML's text, a
    /metrics scrape, and both commands' --help show no float repr and no exponent."""
    seconds = 0.013575
    hq = HQProcess(
        "--run-time", "1.5", "--metrics-port", "0",
        "--threshold", "p95<0.013575s", "--threshold", "tx_per_s<1234567",
        "--threshold", "timer:login:p99<0.0135749s", "--threshold", "error_rate<0.1%",
        "--threshold", "loop_lag_p99<1234567ms",
        "--junit", str(tmp_path / "junit.xml"), "--csv", str(tmp_path / "run"),
        "--html", str(tmp_path / "report.html"),
    )  # fmt: skip
    fake = FakeTurret(
        *hq.ports(),
        scriptrun_time=lambda i: seconds,
        timers=lambda i: {"login": seconds},
        error=lambda i: "boom" if i % 7 == 0 else "",
    ).start()
    try:
        hq.wait_for("metrics served on")
        served = SERVED.search(b"".join(hq.stderr).decode())
        assert served

        def with_the_timer() -> str | None:
            text = scrape(int(served[1]))
            return text if 'gturret_timer_duration_seconds{timer="login"' in text else None

        scraped = wait_until(with_the_timer, "a scrape with the custom timer")
        code, out, err = hq.finish()
    finally:
        fake.close()
    assert code == 1, err
    helps = [
        subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=30).stdout
        for command in ([str(HQ)], GTURRET)
    ]
    html = re.sub(
        r"<(script|style)\b.*?</\1>", "", (tmp_path / "report.html").read_text(), flags=re.S
    )
    outputs = {
        "stdout": out,
        "stderr": err,
        "junit": (tmp_path / "junit.xml").read_text(),
        "html": html,
        "metrics": scraped,
        "help": "\n".join(helps),
        **{path.name: path.read_text() for path in tmp_path.glob("run_*.csv")},
    }
    assert "limit < 13.575 ms" in out and "limit < 1234567 tx/s" in out
    assert "top errors (1 kind):" in out
    assert 'quantile="0.95"} 0.013575\n' in scraped
    assert {name: NOISE.findall(text) for name, text in outputs.items()} == {
        name: [] for name in outputs
    }


def test_no_number_in_a_standalone_run_is_a_float_repr(tmp_path: Path) -> None:
    """The turret's side too: a real ``gturret --standalone`` run with settings far
    from the usual (a 604,800 s hq_timeout, the most there is, and a 0.00001 s
    stop_grace) logs and prints them as written, not as 1e-05 or 604800.0."""
    script = """
        import time
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                time.sleep(0.001)
    """
    config = write_turret(tmp_path, script, stop_grace=0.00001, hq_timeout=604_800)
    args = [str(config), "--standalone", "--run-time", "1s", "--threshold", "tx_per_s<1234567"]
    done = run_cli(args, tmp_path)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "canons killed after 0.00001s grace" in output
    assert NOISE.findall(output) == []


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
