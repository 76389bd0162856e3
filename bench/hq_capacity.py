"""``make bench-hq`` (part of ``make bench``): what one gturret-hq takes, and what it costs.

The rest of the bench counts results with its own sink; this measures the real HQ
(`gturret-hq`, pinned to CPU 1) against real turret processes (pinned to CPU 0), in
both of its modes, in one run:

- **per result** (`--per-result`, what the reference HQ gets): one JSON message per
  transaction, decoded and recorded by the HQ: results/s it takes;
- **aggregated** (the default): one interval message a second per turret process:
  transactions/s it accounts for.

Rows: a no-op turret (its own ceiling when it sends each result, and when it need
not), then 1, 10 and 100 turret processes of 10 canons each sleeping 10 ms (about
1,000 tx/s per process: the HQ's cost per turret, not the turrets' CPU, is what these
rows show), each in both modes where it makes sense. Every row journals the run, as
gturret-hq does beside its reports; the 100 turrets aggregated come again with
``--no-journal`` (the journal's cost is the difference) and with ten clients on the
live console (``--web``: ten event streams open, each read to its end; its cost is
the difference with the journaled row). Each row gives the HQ's CPU share of one
core over its collecting window (from /proc: user + system time), its peak
resident memory, and the results the verdict counted as lost. The CPU share is the
HQ's CPU seconds from its start order to its exit (the drain included) over the
window. Goals (issue 13): a
no-op turret process accounts for >= 1,000,000 tx/s at the HQ; one HQ runs 100
turrets with 0 lost under 10 % of one core.

Everything runs on 127.0.0.1, each row bounded by ``--window`` and a deadline.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GTURRET = REPO / ".venv" / "bin" / "gturret"
GTURRET_HQ = REPO / ".venv" / "bin" / "gturret-hq"
SCRIPTS = REPO / "bench" / "scripts"
RESULTS = REPO / "bench" / "results"
HQ_CPU = "1"
TURRET_CPU = "0"
BOUND = re.compile(
    r"commands \(PUB\) on tcp://127\.0\.0\.1:(\d+), results \(PULL\) on tcp://127\.0\.0\.1:(\d+)"
)
TICKS = os.sysconf("SC_CLK_TCK")
DEADLINE_S = 600.0


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    turrets: int
    canons: int
    script: str
    per_result: bool
    sleep: float = 0.0
    console_clients: int = 0
    journal: bool = True


@dataclass(slots=True)
class Figures:
    name: str
    turrets: int
    mode: str
    tx_per_s: float
    hq_cpu_pct: float
    hq_peak_mb: float
    lost: int
    dropped: int
    verdict: str


CASES = (
    Case("no-op turret, per result", 1, 100, "noop.py", per_result=True),
    Case("no-op turret, aggregated", 1, 100, "noop.py", per_result=False),
    Case("1 turret x 10 canons, sleep 10 ms, per result", 1, 10, "sleep.py", True, 0.01),
    Case("1 turret x 10 canons, sleep 10 ms, aggregated", 1, 10, "sleep.py", False, 0.01),
    Case("10 turrets x 10 canons, sleep 10 ms, per result", 10, 10, "sleep.py", True, 0.01),
    Case("10 turrets x 10 canons, sleep 10 ms, aggregated", 10, 10, "sleep.py", False, 0.01),
    Case("100 turrets x 10 canons, sleep 10 ms, per result", 100, 10, "sleep.py", True, 0.01),
    Case("100 turrets x 10 canons, sleep 10 ms, aggregated", 100, 10, "sleep.py", False, 0.01),
    Case(
        "100 turrets x 10 canons, sleep 10 ms, aggregated, no journal",
        100,
        10,
        "sleep.py",
        False,
        0.01,
        journal=False,
    ),
    Case(
        "100 turrets x 10 canons, sleep 10 ms, aggregated, 10 console clients",
        100,
        10,
        "sleep.py",
        False,
        0.01,
        console_clients=10,
    ),
)
CONSOLE = re.compile(r"console on http://127\.0\.0\.1:(\d+)/")


def measure(case: Case, window: float, folder: Path) -> Figures:
    """Run one HQ and ``case.turrets`` turret processes for ``window`` seconds."""
    report = folder / "report.json"
    hq_log = folder / "hq.log"
    command = ["taskset", "-c", HQ_CPU, str(GTURRET_HQ), "--pub", "0", "--rc", "0"]
    command += ["--turrets", str(case.turrets), "--run-time", f"{window:g}s"]
    command += ["--wait-timeout", "5m", "--drain-timeout", "60s", "--no-progress"]
    command += ["--json", str(report), *(["--per-result"] if case.per_result else [])]
    command += [] if case.journal else ["--no-journal"]
    if case.console_clients:
        command += ["--web", "0", "--autostart"]
    turrets: list[subprocess.Popen[bytes]] = []
    clients: list[threading.Thread] = []
    with hq_log.open("wb") as log:
        hq = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        pub, rc = _ports(hq_log, hq)
        config = {
            "name": "bench",
            "canons": case.canons,
            "rampup": 0,
            "script": str(SCRIPTS / case.script),
            "sleep": case.sleep,
            "hq_address": "127.0.0.1",
            "hq_publisher": pub,
            "hq_rc": rc,
        }
        (folder / "config.json").write_text(json.dumps(config))
        for _ in range(case.turrets):
            turrets.append(
                subprocess.Popen(
                    ["taskset", "-c", TURRET_CPU, str(GTURRET), str(folder / "config.json")],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        if case.console_clients:
            match = CONSOLE.search(_wait_for(hq_log, hq, "console on"))
            assert match is not None
            clients = [_listen(int(match[1])) for _ in range(case.console_clients)]
        _wait_for(hq_log, hq, "collecting for")
        cpu_at_start = _cpu_seconds(hq.pid)
        peak = _peak_until(hq_log, hq, "stop sent")
        cpu = (_cpu_at_exit(hq) - cpu_at_start) / window
    finally:
        for process in (hq, *turrets):
            process.kill()
            process.wait()
        for client in clients:
            client.join(timeout=10)
    document: dict[str, Any] = json.loads(report.read_text())
    delivery = document.get("delivery") or []
    return Figures(
        name=case.name,
        turrets=case.turrets,
        mode="per result" if case.per_result else "aggregated",
        tx_per_s=document["transaction"]["count"] / max(document["test"]["duration_s"], 1e-9),
        hq_cpu_pct=100.0 * cpu,
        hq_peak_mb=peak / 2**20,
        lost=sum(row.get("lost") or 0 for row in delivery),
        dropped=sum(row.get("dropped") or 0 for row in delivery),
        verdict="PASS" if document["verdict"]["passed"] else document["verdict"]["reason"],
    )


def _listen(port: int) -> threading.Thread:
    """A console client: one event stream, read until the HQ ends it."""

    def read() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE_S)
        try:
            connection.request("GET", "/events")
            response = connection.getresponse()
            while response.readline():
                pass
        except OSError:
            pass
        finally:
            connection.close()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _ports(log: Path, hq: subprocess.Popen[bytes]) -> tuple[int, int]:
    text = _wait_for(log, hq, "HQ bound")
    match = BOUND.search(text)
    if match is None:
        raise RuntimeError(f"no ports in the HQ's log:\n{text}")
    return int(match[1]), int(match[2])


def _wait_for(log: Path, hq: subprocess.Popen[bytes], text: str) -> str:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        if hq.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} in the HQ's log:\n{content[-3000:]}")
        time.sleep(0.05)


def _peak_until(log: Path, hq: subprocess.Popen[bytes], text: str) -> int:
    """The HQ's peak resident memory (VmHWM) when it logs ``text``."""
    _wait_for(log, hq, text)
    status = Path(f"/proc/{hq.pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match[1]) * 1024 if match else 0


def _cpu_at_exit(hq: subprocess.Popen[bytes]) -> float:
    """The HQ's CPU seconds (user + system) over its whole life, read as it exits:
    the drain after the stop, where late results are read, counts too."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(hq.pid, os.WNOHANG)
        if pid:
            hq.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        time.sleep(0.05)
    raise RuntimeError("the HQ did not exit")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def table(rows: list[Figures]) -> str:
    """The rows as a Markdown table, then the goals and whether they were met."""
    lines = [
        "| row | mode | tx/s at the HQ | HQ CPU s per test s (%) | HQ MB | lost | verdict |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.mode} | {row.tx_per_s:,.0f} | {row.hq_cpu_pct:.1f} |"
            f" {row.hq_peak_mb:.0f} | {row.lost:,} | {row.verdict} |"
        )
    by_name = {row.name: row for row in rows}
    lines.append("")
    noop_sent, noop_aggregated = by_name.get(CASES[0].name), by_name.get(CASES[1].name)
    if noop_sent and noop_aggregated:
        lines.append(
            f"- no-op turret: {noop_aggregated.tx_per_s:,.0f} tx/s accounted aggregated vs"
            f" {noop_sent.tx_per_s:,.0f} results/s per result"
            f" ({noop_aggregated.tx_per_s / max(noop_sent.tx_per_s, 1):.1f}x); goal >= 1,000,000:"
            f" {'met' if noop_aggregated.tx_per_s >= 1_000_000 else 'NOT met'}"
        )
    hundred = by_name.get("100 turrets x 10 canons, sleep 10 ms, aggregated")
    unjournaled = by_name.get("100 turrets x 10 canons, sleep 10 ms, aggregated, no journal")
    watched = by_name.get("100 turrets x 10 canons, sleep 10 ms, aggregated, 10 console clients")
    if noop_sent:
        met = noop_sent.tx_per_s >= 50_000
        lines.append(
            f"- per result, journaled (every row journals, as gturret-hq does beside its"
            f" reports): {noop_sent.tx_per_s:,.0f} results/s; goal >= 50,000:"
            f" {'met' if met else 'NOT met'}"
        )
    if hundred and unjournaled:
        cost = hundred.hq_cpu_pct - unjournaled.hq_cpu_pct
        lines.append(
            f"- 100 turrets aggregated, the journal: {cost:+.1f} % of a core over the same row"
            f" with --no-journal; goal at most 5 %: {'met' if cost <= 5.0 else 'NOT met'}"
        )
    if hundred and watched:
        cost = watched.hq_cpu_pct - hundred.hq_cpu_pct
        lines.append(
            f"- 100 turrets aggregated, 10 console clients: {cost:+.1f} % of a core over the"
            f" same row unwatched; goal at most 2 %: {'met' if cost <= 2.0 else 'NOT met'}"
        )
    if hundred:
        met = hundred.lost == 0 and hundred.hq_cpu_pct < 10.0
        lines.append(
            f"- 100 turrets aggregated: {hundred.lost} lost, HQ at {hundred.hq_cpu_pct:.1f} %"
            f" of a core; goal 0 lost under 10 %: {'met' if met else 'NOT met'}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=10.0, help="seconds each row collects")
    parser.add_argument("--only", default="", help="rows whose name holds this text")
    args = parser.parse_args()
    rows = []
    started = time.monotonic()
    for case in CASES:
        if args.only and args.only not in case.name:
            continue
        with tempfile.TemporaryDirectory(prefix="gturret-bench-hq-") as folder:
            figures = measure(case, args.window, Path(folder))
        rows.append(figures)
        print(
            f"[{time.monotonic() - started:5.0f} s] {case.name}: {figures.tx_per_s:,.0f} tx/s,"
            f" HQ {figures.hq_cpu_pct:.1f} % CPU, {figures.hq_peak_mb:.0f} MB,"
            f" {figures.lost} lost",
            flush=True,
        )
    text = table(rows)
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hq.md").write_text(
        f"# gturret-hq capacity ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
        f"{os.cpu_count()} CPUs; HQ on CPU {HQ_CPU}, turrets on CPU {TURRET_CPU};"
        f" {args.window:g} s per row.\n\n{text}\n"
    )
    (RESULTS / "hq.json").write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
