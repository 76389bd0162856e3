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
the difference with the journaled row).

Each rep of a row gives the HQ's CPU share of one core (from /proc: user + system
time, its CPU seconds from its start order to its exit, the drain included, over the
window), the tx/s it accounted for, its peak resident memory, the results its
verdict counted as lost, the 1-minute load average as the rep ended, and the share
of the HQ's core that went to anything else over the window (/proc/stat: the load
average counts the bench's own turrets, up to 100 runnable on the other core, so at
the 100-turret rows it is high however quiet the machine).

The rows a check compares are measured in turns (``bench.report.turns``): the no-op
rows A B A B ..., the three 100-turret aggregated rows A B C A B C ..., ``--reps``
times (5); every other row once. Each row shows the median of its reps with their
spread (lowest to highest), the most any rep lost, and each rep's load. Each goal
(issue 13) is settled on its per-rep values by ``bench.report.settle``: met or NOT
met when every rep agrees, noisy when the goal lies inside their spread. A cost is
the difference of two rows' HQ CPU within each rep, never of their medians:

- a no-op turret process accounts for >= 1,000,000 tx/s at the HQ (aggregated);
- per result, journaled, the HQ takes >= 50,000 results/s;
- the journal costs at most +5 % of a core, ten console clients at most +2 %, at
  100 turrets aggregated;
- one HQ runs 100 turrets (aggregated) with 0 lost under 10 % of one core.

A full run (about 21 minutes, most of it starting 100 turret processes on one core,
about 55 s a row, 18 times) writes ``bench/results/hq.md`` and ``hq.json``, the run
the docs cite. ``--only TEXT`` (rows whose name holds it) prints and writes nothing,
so a look at some rows never replaces that run; ``--out PATH.md`` writes the
Markdown there and its JSON beside it (``PATH.json``), with or without ``--only``.

Everything runs on 127.0.0.1, each row bounded by ``--window`` and a deadline.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import machine
from bench.report import settle, turns

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
#: Reps of the rows a check compares (``--reps``); every other row runs once.
REPS = 5
#: About how long one turret process takes to start on the turrets' one core (its
#: imports: 100 of them took 54 s in 2026-12) and what a row takes beyond its window
#: and its turrets' start (the HQ's start, the stop, the drain): for the time printed
#: before a run.
START_S = 0.55
ROW_EXTRA_S = 2.5
# The goals (issue 13): tx/s a no-op turret's aggregated results account for at the
# HQ, results/s it takes one by one (journaled), what the journal and ten console
# clients may add at 100 turrets (% of a core), and the 100 turrets' own share.
NOOP_TX = 1_000_000
PER_RESULT_TX = 50_000
JOURNAL_COST = 5.0
CONSOLE_COST = 2.0
HUNDRED_CPU = 10.0


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
    #: The rows of one group feed a check that compares them: they are measured in
    #: turns, ``--reps`` times; a row of no group ("") runs once.
    group: str = ""


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
    #: % of the HQ's core (CPU 1) that went to anything but the HQ over its figure's
    #: time: the noise that figure may carry.
    others_pct: float = 0.0
    #: Which rep of its row this is (1, 2, ...): reps of one number pair up across rows.
    rep: int = 1
    #: The machine's 1-minute load average as the rep ended.
    load: float | None = None


def _mode(per_result: bool) -> str:
    return "per result" if per_result else "aggregated"


# Row names, shared by the cases and the goals.
NOOP_SENT = "no-op turret, per result"
NOOP_AGGREGATED = "no-op turret, aggregated"
HUNDRED = "100 turrets x 10 canons, sleep 10 ms, aggregated"
UNJOURNALED = f"{HUNDRED}, no journal"
WATCHED = f"{HUNDRED}, 10 console clients"
# Groups: the rows a check compares, measured in turns.
NOOP = "no-op"
HUNDRED_AGGREGATED = "100 aggregated"

CASES = (
    Case(NOOP_SENT, 1, 100, "noop.py", per_result=True, group=NOOP),
    Case(NOOP_AGGREGATED, 1, 100, "noop.py", per_result=False, group=NOOP),
    Case("1 turret x 10 canons, sleep 10 ms, per result", 1, 10, "sleep.py", True, 0.01),
    Case("1 turret x 10 canons, sleep 10 ms, aggregated", 1, 10, "sleep.py", False, 0.01),
    Case("10 turrets x 10 canons, sleep 10 ms, per result", 10, 10, "sleep.py", True, 0.01),
    Case("10 turrets x 10 canons, sleep 10 ms, aggregated", 10, 10, "sleep.py", False, 0.01),
    Case("100 turrets x 10 canons, sleep 10 ms, per result", 100, 10, "sleep.py", True, 0.01),
    Case(HUNDRED, 100, 10, "sleep.py", False, 0.01, group=HUNDRED_AGGREGATED),
    Case(UNJOURNALED, 100, 10, "sleep.py", False, 0.01, journal=False, group=HUNDRED_AGGREGATED),
    Case(WATCHED, 100, 10, "sleep.py", False, 0.01, console_clients=10, group=HUNDRED_AGGREGATED),
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
        cpu_at_start, core_at_start = _cpu_seconds(hq.pid), _busy_seconds(HQ_CPU)
        at_start = time.monotonic()
        peak = _peak_until(hq_log, hq, "stop sent")
        hq_seconds = _cpu_at_exit(hq) - cpu_at_start
        others = _others_pct(core_at_start, at_start, hq_seconds)
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
        mode=_mode(case.per_result),
        tx_per_s=document["transaction"]["count"] / max(document["test"]["duration_s"], 1e-9),
        hq_cpu_pct=100.0 * hq_seconds / window,
        hq_peak_mb=peak / 2**20,
        lost=sum(row.get("lost") or 0 for row in delivery),
        dropped=sum(row.get("dropped") or 0 for row in delivery),
        verdict="PASS" if document["verdict"]["passed"] else document["verdict"]["reason"],
        others_pct=others,
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


def _busy_seconds(cpu: str) -> float:
    """CPU ``cpu``'s busy seconds since boot, from /proc/stat: all but idle and iowait
    (steal included: time the hypervisor gave to another machine is lost to the HQ too)."""
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields[0] == f"cpu{cpu}":
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
            return (user + nice + system + irq + softirq + steal) / TICKS
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def _others_pct(busy_at_start: float, at_start: float, hq_seconds: float) -> float:
    """% of the HQ's core that went to anything but the HQ since ``at_start``.

    This, not the load average, says whether a row's HQ figure was disturbed: the
    load counts the bench's own turrets (up to 100 runnable, on the other core), so
    it is high at every 100-turret rep however quiet the machine. /proc/stat counts
    in sampled ticks, so a core with nothing else on it may read a little below 0,
    shown as 0.
    """
    busy = _busy_seconds(HQ_CPU) - busy_at_start
    return max(0.0, 100.0 * (busy - hq_seconds) / (time.monotonic() - at_start))


@dataclass(slots=True)
class Measured:
    """A row of the table: its case, the figures of each rep that ran, the reps that
    failed (each a line: a failed rep is reported, the bench goes on)."""

    case: Case
    reps: list[Figures] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def values(self, figure: Callable[[Figures], float]) -> list[float]:
        return [figure(rep) for rep in self.reps]


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal line: ``each`` rep's value as shown, its median in ``summary``, and the
    verdict ``bench.report.settle`` gave the per-rep values: met or NOT met only when
    every rep agrees, else noisy; n/a when no rep measured it."""

    label: str
    summary: str
    each: list[str]
    goal: str
    met: bool | None
    noisy: bool

    @property
    def verdict(self) -> str:
        if self.noisy:
            return "noisy"
        return {True: "met", False: "NOT met", None: "n/a"}[self.met]

    @property
    def line(self) -> str:
        each = f"; each rep: {', '.join(self.each)}" if len(self.each) > 1 else ""
        return f"- {self.label}: {self.summary}{each}; goal {self.goal}: {self.verdict}"


def schedule(cases: Sequence[Case], reps: int) -> list[tuple[int, Case]]:
    """The run's order, ``(rep, case)``, in table order: the cases of a group take turns
    ``reps`` times (A B C A B C ...), so each rep of a check's difference is two rows
    measured a minute or two apart, and drift on a shared machine falls on both; a case
    of no group runs once."""
    order: list[tuple[int, Case]] = []
    for case in cases:
        group = [other for other in cases if case.group and other.group == case.group]
        if not group:
            order.append((1, case))
        elif group[0] is case:
            order += turns(group, reps)
    return order


def planned_seconds(order: Sequence[tuple[int, Case]], window: float) -> float:
    """About how long ``order`` takes: each row's window, its turrets' start, the rest."""
    return sum(window + ROW_EXTRA_S + START_S * case.turrets for _, case in order)


def run(order: Sequence[tuple[int, Case]], window: float) -> list[Measured]:
    """Measure ``order``, printing each rep as it ends; the rows come back in table order."""
    rows = {case.name: Measured(case) for _, case in order}
    started = time.monotonic()
    for index, (rep, case) in enumerate(order, start=1):
        shown = _measure_rep(rows[case.name], rep, window)
        elapsed = time.monotonic() - started
        print(
            f"[{elapsed:5.0f} s] {index}/{len(order)} {case.name}, rep {rep}: {shown}", flush=True
        )
    return sorted(rows.values(), key=lambda row: CASES.index(row.case))


def _measure_rep(row: Measured, rep: int, window: float) -> str:
    """One rep of ``row``, kept with its number and the 1-minute load average as it
    ended, or its failure; returns what the progress line says of it."""
    try:
        with tempfile.TemporaryDirectory(prefix="gturret-bench-hq-") as folder:
            figures = measure(row.case, window, Path(folder))
    except Exception as exc:  # a failed rep is reported, the bench goes on
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [""]
        short = " ... ".join(dict.fromkeys([lines[0], lines[-1]]))
        row.failures.append(f"rep {rep}: {type(exc).__name__}: {short}")
        return f"FAILED {type(exc).__name__}: {str(exc)[-1500:]}"
    load = os.getloadavg()[0]
    figures = replace(figures, rep=rep, load=load)
    row.reps.append(figures)
    return (
        f"{figures.tx_per_s:,.0f} tx/s, HQ {figures.hq_cpu_pct:.1f} % CPU"
        f" (others {figures.others_pct:.1f} % on its core), {figures.hq_peak_mb:.0f} MB,"
        f" {figures.lost:,} lost, load {load:.2f}"
    )


def _tx(figures: Figures) -> float:
    return figures.tx_per_s


def _cpu(figures: Figures) -> float:
    return figures.hq_cpu_pct


def _median_spread(values: list[float], spec: str) -> str:
    """The median, with the lowest to the highest rep beside it where they differ."""
    median, low, high = (
        format(v, spec) for v in (statistics.median(values), min(values), max(values))
    )
    return median if low == high else f"{median} ({low} to {high})"


def table(rows: Sequence[Measured]) -> str:
    """The rows as a Markdown table (median and spread over the reps), the failed reps
    under it."""
    lines = [
        "| row | mode | reps | tx/s at the HQ | HQ CPU s per test s (%) | HQ MB | lost"
        " | load at each rep | others on CPU 1 (%, most) | verdict |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    lines += [_table_line(row) for row in rows]
    failed = [
        f"- **{row.case.name}**: failed {failure}" for row in rows for failure in row.failures
    ]
    return "\n".join(lines + (["", *failed] if failed else []))


def _table_line(row: Measured) -> str:
    reps = f"{len(row.reps)}" + (f" ({len(row.failures)} failed)" if row.failures else "")
    cells = [row.case.name, _mode(row.case.per_result), reps]
    if row.reps:
        loads = [figures.load for figures in row.reps]
        cells += [
            _median_spread(row.values(_tx), ",.0f"),
            _median_spread(row.values(_cpu), ".1f"),
            f"{max(figures.hq_peak_mb for figures in row.reps):.0f}",
            _lost(row.reps),
            ", ".join("n/a" if load is None else f"{load:.1f}" for load in loads),
            f"{max(figures.others_pct for figures in row.reps):.1f}",
            _verdict(row.reps),
        ]
    else:
        cells += ["n/a"] * 6 + ["every rep failed"]
    return "| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |"


def _lost(reps: list[Figures]) -> str:
    """The most any rep lost, and in how many reps: one rep's loss must show."""
    losing = [figures.lost for figures in reps if figures.lost]
    if not losing or len(reps) == 1:
        return f"{max(figures.lost for figures in reps):,}"
    return f"{max(losing):,} (most of a rep; in {len(losing)} of {len(reps)})"


def _verdict(reps: list[Figures]) -> str:
    failing = [figures.verdict for figures in reps if figures.verdict != "PASS"]
    if not failing:
        return "PASS"
    if len(reps) == 1:
        return failing[0]
    return f"{len(failing)} of {len(reps)} reps failed, the first: {failing[0]}"


def goals(rows: Sequence[Measured]) -> list[Goal]:
    """The goals (issue 13) whose rows ran (``--only`` may leave some out), each settled
    on its per-rep values."""
    by_name = {row.case.name: row for row in rows}
    found = [
        _noop_goal(by_name),
        _per_result_goal(by_name),
        _cost_goal(by_name, HUNDRED, UNJOURNALED, "the journal", "with --no-journal", JOURNAL_COST),
        _cost_goal(by_name, WATCHED, HUNDRED, "10 console clients", "unwatched", CONSOLE_COST),
        _hundred_goal(by_name),
    ]
    return [goal for goal in found if goal is not None]


def _goal(
    label: str,
    values: list[float],
    show: Callable[[float], str],
    what: str,
    limit: float,
    at_least: bool,
) -> Goal:
    """``values`` (one a rep) against ``limit``; the line shows their median, then ``what``."""
    met, noisy = settle(values, limit, at_least)
    summary = f"{show(statistics.median(values))}{what}" if values else "n/a: no rep measured it"
    goal = f"{'>=' if at_least else 'at most'} {show(limit)}"
    return Goal(label, summary, [show(value) for value in values], goal, met, noisy)


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _signed(value: float) -> str:
    return f"{value:+.1f} %"


def _noop_goal(rows: Mapping[str, Measured]) -> Goal | None:
    """The no-op turret's aggregated tx/s, each rep >= 1,000,000; the per-result row's
    median beside it."""
    aggregated, sent = rows.get(NOOP_AGGREGATED), rows.get(NOOP_SENT)
    if aggregated is None:
        return None
    what = " tx/s accounted aggregated"
    if sent is not None and sent.reps and aggregated.reps:
        mine, theirs = (statistics.median(row.values(_tx)) for row in (aggregated, sent))
        what += f" vs {theirs:,.0f} results/s per result ({mine / max(theirs, 1):.1f}x)"
    return _goal("no-op turret", aggregated.values(_tx), _rate, what, NOOP_TX, True)


def _per_result_goal(rows: Mapping[str, Measured]) -> Goal | None:
    sent = rows.get(NOOP_SENT)
    if sent is None:
        return None
    label = "per result, journaled (every row journals, as gturret-hq does beside its reports)"
    return _goal(label, sent.values(_tx), _rate, " results/s", PER_RESULT_TX, True)


def _cost_goal(
    rows: Mapping[str, Measured], name: str, base: str, label: str, unlike: str, limit: float
) -> Goal | None:
    """What ``name`` costs over ``base``: the difference of their HQ CPU within each rep,
    where both were measured a minute apart, never of medians taken over minutes."""
    row, base_row = rows.get(name), rows.get(base)
    if row is None or base_row is None:
        return None
    theirs = {figures.rep: figures.hq_cpu_pct for figures in base_row.reps}
    costs = [
        figures.hq_cpu_pct - theirs[figures.rep] for figures in row.reps if figures.rep in theirs
    ]
    what = f" of a core over the same row {unlike}"
    return _goal(f"100 turrets aggregated, {label}", costs, _signed, what, limit, False)


def _hundred_goal(rows: Mapping[str, Measured]) -> Goal | None:
    """100 turrets aggregated: 0 lost under 10 % of a core, rep by rep. A rep that lost
    a result misses whatever its CPU (its value is infinite); "under" is strict, so
    the limit ``settle`` gets (at most) is the float just below 10."""
    row = rows.get(HUNDRED)
    if row is None:
        return None
    values = [figures.hq_cpu_pct if not figures.lost else math.inf for figures in row.reps]
    met, noisy = settle(values, math.nextafter(HUNDRED_CPU, 0.0), at_least=False)
    each = [f"{f.hq_cpu_pct:.1f} %" + (f" ({f.lost:,} lost)" if f.lost else "") for f in row.reps]
    summary = "n/a: no rep measured it"
    if row.reps:
        lost = sum(figures.lost for figures in row.reps)
        summary = f"{lost:,} lost, HQ at {statistics.median(row.values(_cpu)):.1f} % of a core"
    goal = f"0 lost under {HUNDRED_CPU:g} %"
    return Goal("100 turrets aggregated", summary, each, goal, met, noisy)


def markdown(rows: Sequence[Measured], found: Sequence[Goal], about: str) -> str:
    """The results file: a title, ``about`` the run, the table, the goal lines."""
    title = f"# gturret-hq capacity ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    lines = [goal.line for goal in found]
    return f"{title}\n\n{about}\n\n{table(rows)}\n" + (
        "\n" + "\n".join(lines) + "\n" if lines else ""
    )


def as_json(
    rows: Sequence[Measured], found: Sequence[Goal], info: dict[str, Any]
) -> dict[str, Any]:
    """The JSON twin: every rep's figures, the failed reps, each goal's per-rep values."""
    return {
        **info,
        "rows": [
            {
                "row": row.case.name,
                "group": row.case.group,
                "reps": [asdict(figures) for figures in row.reps],
                "failures": row.failures,
            }
            for row in rows
        ],
        "goals": [
            {
                "goal": goal.label,
                "summary": goal.summary,
                "each_rep": goal.each,
                "target": goal.goal,
                "verdict": goal.verdict,
            }
            for goal in found
        ],
    }


def destination(only: str, out: Path | None) -> Path | None:
    """Where the Markdown goes (its JSON beside it, ``.json``); None: printed only.

    ``bench/results/hq.md`` is the full run the docs cite: a run of some rows
    (``--only``) must not replace it, so it writes only where ``--out`` says.
    """
    if out is not None:
        return out
    return None if only else RESULTS / "hq.md"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--window", type=float, default=10.0, help="seconds each row collects")
    parser.add_argument(
        "--reps",
        type=int,
        default=REPS,
        help="reps of the rows a check compares, taken in turns (default %(default)s);"
        " the other rows run once",
    )
    parser.add_argument("--only", default="", help="rows whose name holds this text")
    parser.add_argument(
        "--out",
        type=Path,
        help="write the Markdown here and its JSON beside it (.json); default:"
        " bench/results/hq.md, or nothing (printed only) with --only",
    )
    args = parser.parse_args()
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def main() -> None:
    args = _arguments()
    order = schedule([case for case in CASES if args.only in case.name], args.reps)
    where = destination(args.only, args.out)
    at_start = machine.machine()
    planned = planned_seconds(order, args.window)
    print(
        f"{len(order)} rows to measure, about {planned / 60:.0f} min; load average"
        f" {at_start['load average (1, 5, 15 min)']}; results to {where or 'this output only'}",
        flush=True,
    )
    started = time.monotonic()
    rows = run(order, args.window)
    at_end = machine.machine()
    found = goals(rows)
    about = (
        f"{at_start['cores']} CPUs ({at_start['cpu']}); HQ on CPU {HQ_CPU}, turrets on CPU"
        f" {TURRET_CPU}; {args.window:g} s per row; the rows a check compares measured in"
        f" turns, {args.reps} reps, the others once; {time.monotonic() - started:.0f} s in all."
        f" Load average (1, 5, 15 min) {at_start['load average (1, 5, 15 min)']} at the"
        f" start, {at_end['load average (1, 5, 15 min)']} at the end."
    )
    text = markdown(rows, found, about)
    print("\n" + text)
    if where is not None:
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(text)
        info = {
            "machine": at_start,
            "load average at the end": at_end["load average (1, 5, 15 min)"],
        }
        info["settings"] = {"window_s": args.window, "reps": args.reps, "only": args.only}
        document = as_json(rows, found, info)
        where.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
