"""Orchestrator of ``make bench``: every row measured in one run, then one table.

Rows of a scenario are measured in turns (rep 1 of every row, then rep 2, ...) so
that the noise of a shared machine falls on all of them alike; each row reports the
median of its reps, each sample the machine's load as it ended, and each check the
median and spread of its per-rep values, "noisy" when the spread holds the goal
(``bench.report``). CPUs are pinned: this process, its counting HQ (the sink) and
nginx on CPU 1; the load generator under test (turret, bare loop, Locust, wrk) on
CPU 0; ``--processes 2`` gets both. A row that cannot run prints "n/a: why", never
a number it did not measure. The "many" scenario's rows also carry latency
percentiles and the users or canons that never completed a request, shown in a
table of their own after the main one; so do the "added-latency" rows, with the
latency each client adds to a delay it waits for anyway (the 20 ms the target is
told to wait, or the 50 ms sleep a script asks for).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import machine, peers, report
from bench.peers import REPO, Rate
from bench.report import Row, Sample, below, bound, ratio, turns
from bench.sink import Plan, TurretRun, drive
from bench.target import DELAY, DELAYED_PATH, H2Target, echo_module, nginx, nginx_h2

# Table order; "stop" is derived from the "scale" reps.
SCENARIOS = (
    "http-requests",
    "http-fast",
    "http2",
    "overhead",
    "scale",
    "stop",
    "cores",
    "curve",
    "many",
    "added-latency",
)
LOAD_CPU = "0"
TARGET_CPU = "1"
BOTH_CPUS = "0,1"
USERS = 50
# The http-fast scenario's second size, every user started at once.
FAST_MANY = 1_000
OVERHEAD_CANONS = 1000
MANY_SIZES = (1_000, 3_000, 10_000)
MANY_RAMPUP = 2
# added-latency: users/canons per size, each waiting THINK seconds between requests,
# started over one think time so that they stay spread evenly over it; wrk's few
# connections are the baseline, a client that adds next to nothing.
ADDED_SIZES = (100, 1_000)
THINK = 1.0
WRK_FEW_CONNECTIONS = 10
# The sleep rows: canons (or a thread) whose run() only sleeps SLEEP_ASKED seconds.
SLEEP_CANONS = (1, 1_000)
SLEEP_ASKED = 0.05

PROJECT_PY = REPO / ".venv" / "bin" / "python"
GTURRET = REPO / ".venv" / "bin" / "gturret"
BENCH_PY = Path(sys.executable)
SCRIPTS = REPO / "bench" / "scripts"
RESULTS = REPO / "bench" / "results"

# Row names, shared by the plan, the derived rows and the checks.
GT_REQUESTS = "gturret + requests script"
BARE_REQUESTS = "bare gevent + requests loop"
HTTP_USER = "Locust HttpUser"
GT_FAST = "gturret + gturret.http script"
FAST_USER = "Locust FastHttpUser"
BARE_GHC = "bare geventhttpclient loop"
BARE_CORE = "bare gturret.http loop"
WRK = "wrk -t1 (the limit)"
# The http-fast rows at FAST_MANY users or canons, all started at once.
GT_FAST_MANY = "gturret + gturret.http script, 1,000 canons at once"
FAST_USER_MANY = "Locust FastHttpUser, 1,000 users at once"
BARE_GHC_MANY = "bare geventhttpclient loop, 1,000 users at once"
BARE_CORE_MANY = "bare gturret.http loop, 1,000 users at once"
WRK_MANY = "wrk -t1 -c1000 (the limit)"
# Each size's http-fast rows: (gturret, Locust, bare geventhttpclient, bare core, wrk).
FAST_ROWS = (
    (GT_FAST, FAST_USER, BARE_GHC, BARE_CORE, WRK),
    (GT_FAST_MANY, FAST_USER_MANY, BARE_GHC_MANY, BARE_CORE_MANY, WRK_MANY),
)
# The http2 rows at each of H2_SIZES canons or clients: str.format(n=size), against
# the second nginx (bench.target.nginx_h2), every protocol in the same run.
H2_SIZES = (USERS, FAST_MANY)
H2_GT_HTTP1 = "gturret + gturret.http script, HTTP/1.1, {n:,} canons"
H2_GT_H2C = "gturret + gturret.http script, h2c, {n:,} canons"
H2_GT_H2 = "gturret + gturret.http script, h2 over TLS, {n:,} canons"
H2_LOAD_H2C = "h2load -t1 -c{n} -m1, h2c (the limit)"
H2_LOAD_H2 = "h2load -t1 -c{n} -m1, h2 over TLS (the limit)"
GT_NOOP = "gturret, no-op, 1000 canons"
OCT_NOOP = "oct-turrets 0.2.8, no-op, 1000 cannons (threads)"
SCALE_10K = "gturret 10k canons x sleep(1)"
SCALE_100K = "gturret 100k canons x sleep(10)"
STOP = "gturret stop -> ready, 10k canons mid-transaction"
GT_PROCESSES = "gturret --processes 2, no-op, 1000 canons"
GT_PLAIN = "gturret, no-op, 1000 canons, plain ZeroMQ"
GT_CURVE = "gturret, no-op, 1000 canons, CurveZMQ"
SCALE_NAMES = {10_000: SCALE_10K, 100_000: SCALE_100K}
# The "many" rows, one of each per size: str.format(n=size).
MANY_GT_REQUESTS = "gturret + requests, {n:,} canons"
MANY_GT_FAST = "gturret + gturret.http, {n:,} canons"
MANY_HTTP_USER = "Locust HttpUser, {n:,} users"
MANY_FAST_USER = "Locust FastHttpUser, {n:,} users"
MANY_BARE_REQUESTS = "bare gevent + requests loop, {n:,} users"
MANY_BARE_GHC = "bare geventhttpclient loop, {n:,} users"
# The "added-latency" rows: str.format(n=size) for the HTTP ones.
ADDED_WRK = f"wrk -t1 -c{WRK_FEW_CONNECTIONS} --latency (the baseline)"
ADDED_GT_REQUESTS = "gturret + requests, {n:,} canons, think 1 s"
ADDED_GT_FAST = "gturret + gturret.http, {n:,} canons, think 1 s"
ADDED_HTTP_USER = "Locust HttpUser, {n:,} users, think 1 s"
ADDED_FAST_USER = "Locust FastHttpUser, {n:,} users, think 1 s"
# Each gturret added-latency row against the Locust user on the same client library.
ADDED_PAIRS = ((ADDED_GT_REQUESTS, ADDED_HTTP_USER), (ADDED_GT_FAST, ADDED_FAST_USER))
SLEEP_GT = "gturret, {n:,} canon{s} x sleep(50 ms)"
SLEEP_THREAD = "CPython time.sleep(50 ms) in a thread"
ADDED_PERCENTILES = (50, 90, 99)
ADDED_COLUMNS = [
    *((f"p{p}_ms", f"p{p} ms", "ms") for p in ADDED_PERCENTILES),
    *((f"added_p{p}_ms", f"added p{p} ms", "ms") for p in ADDED_PERCENTILES),
]
# The http-fast rows' CPU, in a table of their own: (key, header, unit).
FAST_COLUMNS = [
    ("cpu_share", "share of a core", "x"),
    ("tx_per_cpu_s", "tx per CPU-second", "tx/s"),
]
# Each gturret "many" row against the Locust user on the same client library.
MANY_PAIRS = ((MANY_GT_REQUESTS, MANY_HTTP_USER), (MANY_GT_FAST, MANY_FAST_USER))
# The extras the "many" rows show in their own table: (key, header, unit).
MANY_COLUMNS = [
    ("p50_ms", "p50 ms", "ms"),
    ("p95_ms", "p95 ms", "ms"),
    ("p99_ms", "p99 ms", "ms"),
    ("started", "started", ""),
    ("never_completed", "never completed", ""),
    ("not_started", "not started", ""),
]

# Seconds a rep costs beyond its warm-up and window (start, register, stop, kill),
# used only to print the budget before the run.
_TURRET_EXTRA = 3.0
_PEER_EXTRA = 1.5

Measure = Callable[[], Sample]


@dataclass(frozen=True, slots=True)
class Settings:
    window: float
    warmup: float
    reps: int
    big_window: float
    only: frozenset[str]


@dataclass(frozen=True, slots=True)
class Features:
    """Why a row cannot run ("" when it can)."""

    gturret: str
    processes: str
    http: str
    #: The target's delayed location (nginx's echo module).
    delayed: str
    curve: str


@dataclass(slots=True)
class Planned:
    row: Row
    measure: Measure | None
    seconds: float


def detect() -> Features:
    """What the turret and the target offer today: ``gturret --help``, imports, files."""
    delayed = "" if echo_module() else "nginx echo module missing (libnginx-mod-http-echo)"
    if not GTURRET.exists():
        missing = f"gturret not installed ({GTURRET.relative_to(REPO)} missing)"
        return Features(missing, missing, missing, delayed, missing)
    shown = subprocess.run([str(GTURRET), "--help"], capture_output=True, text=True, timeout=30)
    if shown.returncode != 0:
        broken = f"`gturret --help` exited {shown.returncode}"
        return Features(broken, broken, broken, delayed, broken)
    imported = subprocess.run(
        [str(PROJECT_PY), "-c", "from gturret.http import Client"], capture_output=True, timeout=30
    )
    curve = subprocess.run(
        [str(PROJECT_PY), "-c", "import zmq; assert zmq.has('curve')"],
        capture_output=True,
        timeout=30,
    )
    return Features(
        gturret="",
        processes="" if "--processes" in shown.stdout else "--processes not implemented",
        http="" if imported.returncode == 0 else "gturret.http not importable",
        delayed=delayed,
        curve="" if curve.returncode == 0 else "this pyzmq has no CURVE",
    )


def _from_rate(rate: Rate) -> Sample:
    extra = _with_cpu(dict(rate.extra), rate.count, rate.seconds)
    return Sample(rate.per_second, rate.errors, extra=extra)


def _with_cpu(extra: dict[str, float], count: float, seconds: float) -> dict[str, float]:
    """``extra`` plus, where it holds ``cpu_seconds``, ``cpu_share`` (of one core, over the
    window) and ``tx_per_cpu_s``: what the generator did per second of CPU it got. On a
    loaded machine the rates compare the shares of a contended core the scheduler gave
    each row; ``tx_per_cpu_s`` compares what each did with its share."""
    if extra.get("cpu_seconds"):
        extra["cpu_share"] = extra["cpu_seconds"] / seconds
        extra["tx_per_cpu_s"] = count / extra["cpu_seconds"]
    return extra


def _from_turret(run: TurretRun, ideal: float | None = None) -> Sample:
    extra = {
        "peak_rss_mb": run.peak_rss / 2**20,
        "threads": float(run.threads),
        "incomplete_results": float(run.incomplete),
    }
    if run.stop_to_ready is not None:
        extra["stop_to_ready"] = run.stop_to_ready
    if run.cpu_seconds is not None:
        extra["cpu_seconds"] = run.cpu_seconds
        _with_cpu(extra, run.results, run.seconds)
    if ideal is not None:
        extra["of_ideal"] = run.rate / ideal
    extra.update(run.latency)
    if run.canons_spawned is not None:
        extra["spawned"] = float(run.canons_spawned)
    if run.canons_started is not None and run.canons_completed is not None:
        extra["started"] = float(run.canons_started)
        extra["never_completed"] = float(run.canons_started - run.canons_completed)
    return Sample(run.rate, run.errors, run.first_error, extra)


def _with_not_started(measure: Measure, users: int) -> Measure:
    """``measure`` plus ``not_started``: of ``users``, those not started by the window's end.

    Every user is due within the rampup, well before the window ends; one that has
    not even started by then starves as surely as one that never completed.
    """

    def measured() -> Sample:
        sample = measure()
        if "started" in sample.extra:
            sample.extra["not_started"] = users - sample.extra["started"]
        return sample

    return measured


def _with_added(measure: Measure, waited_ms: float) -> Measure:
    """``measure`` plus ``added_pNN_ms``: each percentile minus the ``waited_ms`` the row
    waits for anyway (the target's delay, the sleep asked), so rows compare on what
    the generator itself adds; wrk's own added figures are the floor of that."""

    def measured() -> Sample:
        sample = measure()
        for percentile in ADDED_PERCENTILES:
            key = f"p{percentile}_ms"
            if key in sample.extra:
                sample.extra[f"added_{key}"] = sample.extra[key] - waited_ms
        return sample

    return measured


def _turret(
    command: list[str],
    script: str,
    config: dict[str, Any],
    plan: Plan,
    ideal: float | None = None,
) -> Measure:
    return lambda: _from_turret(drive(command, SCRIPTS / script, config, plan), ideal)


def _gturret(processes: int = 1) -> list[str]:
    cpus = LOAD_CPU if processes == 1 else BOTH_CPUS
    extra = ["--processes", str(processes)] if processes > 1 else []
    return ["taskset", "-c", cpus, str(GTURRET), *extra]


@dataclass(slots=True)
class _Planner:
    """Adds rows to the plan in table order, each with how to measure one rep of it."""

    settings: Settings
    features: Features
    url: str
    planned: list[Planned] = field(default_factory=list)

    def add(self, scenario: str, name: str, measure: Measure, seconds: float, na: str = "") -> None:
        if scenario in self.settings.only or not self.settings.only:
            row = Row(scenario, name, "tx/s", na=na)
            self.planned.append(Planned(row, None if na else measure, 0.0 if na else seconds))

    def loop(
        self,
        scenario: str,
        name: str,
        python: Path,
        kind: str,
        users: int = USERS,
        rampup: float = 0,
        *,
        think: float = 0,
        sleep: float = 0,
        target: str = "",
        waited_ms: float | None = None,
        na: str = "",
    ) -> None:
        """A ``bench.loops`` kind against ``target`` (default: the fast location);
        ``waited_ms``, when given, is what its added latency is counted beyond."""
        warmup, window, url = self.settings.warmup, self.settings.window, target or self.url

        def measure() -> Sample:
            rate = peers.loop(
                python, kind, url, users, warmup, window, LOAD_CPU, rampup, think, sleep
            )
            return _from_rate(rate)

        measured = _with_not_started(measure, users)
        if waited_ms is not None:
            measured = _with_added(measured, waited_ms)
        seconds = rampup + warmup + window + think + sleep + _PEER_EXTRA
        self.add(scenario, name, measured, seconds, na)

    def turret(
        self,
        scenario: str,
        name: str,
        script: str,
        config: dict[str, Any],
        plan: Plan,
        processes: int = 1,
        ideal: float | None = None,
        na: str = "",
        *,
        waited_ms: float | None = None,
    ) -> None:
        """A gturret run of ``script``; ``waited_ms`` as for ``loop``."""
        measure = _with_not_started(
            _turret(_gturret(processes), script, config, plan, ideal), config["canons"]
        )
        if waited_ms is not None:
            measure = _with_added(measure, waited_ms)
        # A stop waits for the canons' think time at most: budget it too.
        seconds = plan.warmup + plan.window + _TURRET_EXTRA + config.get("sleep", 0)
        self.add(scenario, name, measure, seconds, self.features.gturret or na)


def _plan_http2(planner: _Planner, target: H2Target) -> None:
    """gturret.http over HTTP/1.1, h2c and h2 (TLS) beside h2load on each, at each size,
    all canons started at once."""
    settings = planner.settings
    http = Plan(warmup=settings.warmup, window=settings.window)
    rows = (
        (H2_GT_HTTP1, target.http, False, None),
        (H2_GT_H2C, target.h2c, "prior-knowledge", H2_LOAD_H2C),
        (H2_GT_H2, target.https, True, H2_LOAD_H2),
    )
    for n in H2_SIZES:
        for gturret_name, url, http2, h2load_name in rows:
            config = {"name": "bench", "canons": n, "rampup": 0, "url": url, "http2": http2}
            config["verify"] = target.ca
            na = planner.features.http
            planner.turret("http2", gturret_name.format(n=n), "http2_get.py", config, http, na=na)
            if h2load_name is None:
                continue

            def measure(url: str = url, n: int = n) -> Sample:
                rate = peers.h2load(url, n, settings.warmup, settings.window, LOAD_CPU)
                return _from_rate(rate)

            seconds = settings.warmup + settings.window + _PEER_EXTRA
            planner.add("http2", h2load_name.format(n=n), measure, seconds)


def _plan(settings: Settings, features: Features, url: str, h2: H2Target) -> list[Planned]:
    """Every row of the table with how to measure one rep of it, in table order."""
    warmup, window = settings.warmup, settings.window
    planner = _Planner(settings, features, url)
    add, loop, turret = planner.add, planner.loop, planner.turret

    http = Plan(warmup=warmup, window=window)
    canons = {"name": "bench", "canons": USERS, "rampup": 0, "url": url}
    turret("http-requests", GT_REQUESTS, "requests_get.py", canons, http)
    loop("http-requests", BARE_REQUESTS, PROJECT_PY, "bare-requests")
    loop("http-requests", HTTP_USER, BENCH_PY, "locust-http")
    for users, names in zip((USERS, FAST_MANY), FAST_ROWS, strict=True):
        gturret_name, locust_name, ghc_name, core_name, wrk_name = names
        config = {**canons, "canons": users}
        turret("http-fast", gturret_name, "http_get.py", config, http, na=features.http)
        loop("http-fast", locust_name, BENCH_PY, "locust-fast", users)
        loop("http-fast", ghc_name, BENCH_PY, "bare-geventhttpclient", users)
        loop("http-fast", core_name, PROJECT_PY, "bare-gturret-http", users)

        def measure_wrk(users: int = users) -> Sample:
            return _from_rate(peers.wrk(url, users, window, LOAD_CPU))

        add("http-fast", wrk_name, measure_wrk, window)

    # oct-turrets starts one cannon per pass of its main loop, waiting rampup/cannons
    # seconds (1 s when that is 0), so rampup 1 s is its fastest start; gturret gets
    # the same config. The window opens one warm-up after the rampup.
    overhead = Plan(warmup=1 + warmup, window=window)
    noop = {"name": "bench", "canons": OVERHEAD_CANONS, "rampup": 1}
    oct_noop = {"name": "bench", "cannons": OVERHEAD_CANONS, "rampup": 1}
    oct_command = ["taskset", "-c", LOAD_CPU, str(BENCH_PY), str(REPO / "bench" / "oct_start.py")]
    turret("overhead", GT_NOOP, "noop.py", noop, overhead)
    oct_measure = _turret(oct_command, "noop_oct.py", oct_noop, overhead)
    add("overhead", OCT_NOOP, oct_measure, overhead.warmup + overhead.window + _TURRET_EXTRA)

    # Rampup equal to the think time spreads the canons evenly over one period, so
    # from then on the ideal rate is canons / think time at every instant.
    for canons_n, think, window_n in ((10_000, 1, window), (100_000, 10, settings.big_window)):
        scale = Plan(warmup=think + warmup, window=window_n)
        config = {"name": "bench", "canons": canons_n, "rampup": think, "sleep": think}
        turret("scale", SCALE_NAMES[canons_n], "sleep.py", config, scale, ideal=canons_n / think)

    turret("cores", GT_PROCESSES, "noop.py", noop, overhead, processes=2, na=features.processes)

    # One result message per transaction (the sink asks for no aggregation): the most
    # messages a link can carry, so the most CurveZMQ can cost.
    keyed = Plan(warmup=overhead.warmup, window=window, curve=True)
    turret("curve", GT_PLAIN, "noop.py", noop, overhead)
    turret("curve", GT_CURVE, "noop.py", noop, keyed, na=features.curve)

    # Thousands of canons or users on the HTTP rows' target, all started over the same
    # rampup; the window opens one warm-up after it.
    many = Plan(warmup=MANY_RAMPUP + warmup, window=window, detail=True)
    for n in MANY_SIZES:
        config = {"name": "bench", "canons": n, "rampup": MANY_RAMPUP, "url": url}
        turret("many", MANY_GT_REQUESTS.format(n=n), "requests_get.py", config, many)
        loop("many", MANY_HTTP_USER.format(n=n), BENCH_PY, "locust-http", n, MANY_RAMPUP)
        loop("many", MANY_BARE_REQUESTS.format(n=n), PROJECT_PY, "bare-requests", n, MANY_RAMPUP)
        turret("many", MANY_GT_FAST.format(n=n), "http_get.py", config, many, na=features.http)
        loop("many", MANY_FAST_USER.format(n=n), BENCH_PY, "locust-fast", n, MANY_RAMPUP)
        loop("many", MANY_BARE_GHC.format(n=n), BENCH_PY, "bare-geventhttpclient", n, MANY_RAMPUP)

    _plan_http2(planner, h2)
    _plan_added_latency(planner)
    return planner.planned


def _plan_added_latency(planner: _Planner) -> None:
    """The added-latency rows: wrk at low concurrency first (the floor), then each client
    at each size, all on the delayed location; then the sleep rows."""
    settings, na = planner.settings, planner.features.delayed
    delayed = planner.url.rstrip("/") + DELAYED_PATH
    delay_ms = DELAY * 1000
    scenario = "added-latency"

    def baseline() -> Sample:
        rate = peers.wrk(delayed, WRK_FEW_CONNECTIONS, settings.window, LOAD_CPU, latency=True)
        return _from_rate(rate)

    planner.add(scenario, ADDED_WRK, _with_added(baseline, delay_ms), settings.window, na)
    plan = Plan(warmup=THINK + settings.warmup, window=settings.window, detail=True)
    for n in ADDED_SIZES:
        config = {"name": "bench", "canons": n, "rampup": THINK, "url": delayed, "sleep": THINK}
        for name, script, script_na in (
            (ADDED_GT_REQUESTS, "requests_think.py", na),
            (ADDED_GT_FAST, "http_think.py", na or planner.features.http),
        ):
            planner.turret(
                scenario, name.format(n=n), script, config, plan, na=script_na, waited_ms=delay_ms
            )
        for name, kind in ((ADDED_HTTP_USER, "locust-http"), (ADDED_FAST_USER, "locust-fast")):
            planner.loop(
                scenario,
                name.format(n=n),
                BENCH_PY,
                kind,
                n,
                THINK,
                think=THINK,
                target=delayed,
                waited_ms=delay_ms,
                na=na,
            )
    _plan_sleep_rows(planner, scenario)


def _plan_sleep_rows(planner: _Planner, scenario: str) -> None:
    """How late a 50 ms sleep ends, with no network: in a turret beside no other canon and
    beside 999 others (started over a second, so their wake-ups spread as a real test's
    would), and in one plain CPython thread, the peer."""
    asked_ms = SLEEP_ASKED * 1000
    plan = Plan(warmup=1 + planner.settings.warmup, window=planner.settings.window, detail=True)
    for n in SLEEP_CANONS:
        config = {"name": "bench", "canons": n, "rampup": 1, "sleep": SLEEP_ASKED}
        name = SLEEP_GT.format(n=n, s="" if n == 1 else "s")
        planner.turret(scenario, name, "sleep.py", config, plan, waited_ms=asked_ms)
    planner.loop(
        scenario, SLEEP_THREAD, BENCH_PY, "thread-sleep", 1, sleep=SLEEP_ASKED, waited_ms=asked_ms
    )


def _shown_latency(sample: Sample) -> str:
    """A rep's added-latency percentiles for the progress line, where it measured them."""
    added = [f"added_p{p}_ms" for p in ADDED_PERCENTILES]
    if not all(key in sample.extra for key in added):
        return ""
    shown = " / ".join(f"{sample.extra[key]:+.2f}" for key in added)
    return f", added p50 / p90 / p99 {shown} ms"


def _measure(planned: list[Planned], reps: int, started: float) -> None:
    """Run the reps in turns within each scenario, in table order; each sample is stamped
    with its rep and the load average as it ended."""
    scenarios = list(dict.fromkeys(item.row.scenario for item in planned))
    for scenario in scenarios:
        group = [item for item in planned if item.row.scenario == scenario and item.measure]
        for rep, item in turns(group, reps):
            assert item.measure is not None
            try:
                sample = item.measure()
            except Exception as exc:  # a failed rep is reported, the bench goes on
                reason = f"{type(exc).__name__}: {exc}".strip()
                lines = [line.strip() for line in reason.splitlines() if line.strip()]
                item.row.failures.append(" ... ".join(dict.fromkeys([lines[0], lines[-1]])))
                shown = "FAILED " + reason[-1500:]
            else:
                load = os.getloadavg()[0]
                item.row.samples.append(replace(sample, rep=rep, load=load))
                shown = f"{sample.value:,.1f} {item.row.unit}{_shown_latency(sample)}"
                if sample.errors:
                    shown += f" ({sample.errors} errors, first: {sample.first_error[:120]})"
                shown += f", load {load:.2f}"
            elapsed = time.monotonic() - started
            print(
                f"[{elapsed:5.0f} s] {scenario} rep {rep}/{reps} {item.row.name}: {shown}",
                flush=True,
            )


def _derived_rows(rows: dict[str, Row]) -> list[Row]:
    """The stop row comes from the 10k scale reps: canons there are mid-sleep(1)."""
    source = rows.get(SCALE_10K)
    if source is None:
        return []
    stop = Row("stop", STOP, "s", na=source.na)
    for sample in source.samples:
        if "stop_to_ready" in sample.extra:
            stop.samples.append(
                replace(
                    sample, value=sample.extra["stop_to_ready"], errors=0, first_error="", extra={}
                )
            )
        else:
            stop.failures.append("no ready status within 15 s of stop")
    if not source.samples and not source.na:
        stop.na = source.why_not
    return [stop]


def _annotate(rows: dict[str, Row]) -> None:
    """Facts about a row that its number alone would hide."""
    for row in rows.values():
        errors = sum(sample.errors for sample in row.samples)
        if errors:
            first = next(s.first_error for s in row.samples if s.errors)
            row.notes.append(f"{errors} failed transactions over its reps (first: {first[:200]})")
    for row in rows.values():
        if row.ok and row.has("spawned") and row.has("started"):
            spawned, started = row.median("spawned"), row.median("started")
            if started < spawned:
                row.notes.append(
                    f"at the window's end the turret had spawned {spawned:,.0f} canons, "
                    f"of which {started:,.0f} had started (built their Transaction)"
                )
    oct_row = rows.get(OCT_NOOP)
    if oct_row is not None and oct_row.ok:
        oct_row.notes.append(
            f"had {oct_row.median('threads'):.0f} OS threads at the end of the window, "
            "where 1000 cannons need 1000+: its main loop starts one cannon per poll, and "
            "busy cannon threads starve that loop of the GIL"
        )
        incomplete = sum(s.extra["incomplete_results"] for s in oct_row.samples)
        if incomplete:
            oct_row.notes.append(
                f"{incomplete:,.0f} of its results lack `turret_name` (its cannons push "
                "results straight to the HQ, skipping the turret that adds it); counted anyway"
            )
        if len(oct_row.failures) == 0 and all(
            "stop_to_ready" not in s.extra for s in oct_row.samples
        ):
            oct_row.notes.append(
                "never became ready after `stop`: it joins cannon threads it never started "
                "(RuntimeError) and dies"
            )


def _mb(value: float) -> str:
    return f"{value:,.0f} MB"


def _times(value: float) -> str:
    return f"{value:g}x"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _added_latency_checks(row: Callable[[str], Row]) -> list[report.Check]:
    """Per size, each gturret row's added p50 and p99 held under the Locust user's on the
    same client library, measured in the same run; every figure is in the detail table."""
    checks = []
    for n in ADDED_SIZES:
        for gturret_name, locust_name in ADDED_PAIRS:
            gturret, locust = row(gturret_name.format(n=n)), row(locust_name.format(n=n))
            for percentile in (50, 99):
                key = f"added_p{percentile}_ms"
                checks.append(below(gturret, locust, key, f"added p{percentile}", "ms"))
    return checks


def _starvation_and_p99(row: Row, held: bool, who: str) -> list[report.Check]:
    """``who`` (canons, users) that never completed or never started, and p99: goals if
    ``held``, else shown for comparison."""
    starved, p99 = (0, 1000) if held else (None, None)
    return [
        bound(row, "never completed", "never_completed", starved, True, _count, unit=who),
        bound(row, "not started", "not_started", starved, True, _count, unit=who),
        bound(row, "p99", "p99_ms", p99, True, _ms, unit="ms"),
    ]


def _many_checks(row: Callable[[str], Row]) -> list[report.Check]:
    """Per size and client: gturret starves no canon, keeps p99 under 1 s and beats
    Locust on the same library; Locust's own starvation and p99 are shown beside."""
    checks = []
    for n in MANY_SIZES:
        for gturret_name, locust_name in MANY_PAIRS:
            gturret, locust = row(gturret_name.format(n=n)), row(locust_name.format(n=n))
            checks += _starvation_and_p99(gturret, held=True, who="canons")
            checks.append(ratio(gturret, locust, 1.0))
            checks += _starvation_and_p99(locust, held=False, who="users")
    return checks


def _fast_checks(row: Callable[[str], Row]) -> list[report.Check]:
    """At each size: gturret.http in the turret against the bare geventhttpclient loop
    (3x), Locust FastHttpUser (5x) and wrk -t1 (40 %, both on one core); the bare
    gturret.http loop beside them shows what the turret itself costs."""
    checks = []
    for gturret_name, locust_name, ghc_name, core_name, wrk_name in FAST_ROWS:
        gturret, core, wrk = row(gturret_name), row(core_name), row(wrk_name)
        checks += [
            ratio(gturret, row(ghc_name), 3.0),
            ratio(gturret, row(locust_name), 5.0),
            ratio(gturret, wrk, 0.40),
            ratio(gturret, row(ghc_name), None, "tx_per_cpu_s"),
            ratio(gturret, wrk, None, "tx_per_cpu_s"),
            ratio(gturret, core, None),
            ratio(core, row(ghc_name), None),
            ratio(core, wrk, None),
            ratio(row(ghc_name), wrk, None),
        ]
    return checks


def _http2_checks(row: Callable[[str], Row]) -> list[report.Check]:
    """At each size, each gturret.http HTTP/2 row against h2load on the same protocol
    (both on one core: the ratio per core) and against gturret.http's HTTP/1.1."""
    checks = []
    for n in H2_SIZES:
        http1 = row(H2_GT_HTTP1.format(n=n))
        for gturret_name, h2load_name in ((H2_GT_H2C, H2_LOAD_H2C), (H2_GT_H2, H2_LOAD_H2)):
            gturret = row(gturret_name.format(n=n))
            checks += [ratio(gturret, row(h2load_name.format(n=n)), None)]
            checks += [ratio(gturret, http1, None)]
    return checks


def _checks(rows: dict[str, Row]) -> list[report.Check]:
    def row(name: str) -> Row:
        return rows.get(name) or Row("", name, "", na="not run (--only)")

    gturret_requests = row(GT_REQUESTS)
    gturret_noop = row(GT_NOOP)
    scale_10k = row(SCALE_10K)
    scale_100k = row(SCALE_100K)
    checks = [
        ratio(gturret_requests, row(BARE_REQUESTS), 0.95),
        ratio(gturret_requests, row(HTTP_USER), 1.0),
        *_fast_checks(row),
        *_http2_checks(row),
        ratio(gturret_noop, row(OCT_NOOP), 5.0),
        bound(scale_10k, "of ideal 10,000 tx/s", "of_ideal", 0.99, False, _times),
        bound(scale_10k, "peak RSS", "peak_rss_mb", None, True, _mb),
        bound(scale_100k, "of ideal 10,000 tx/s", "of_ideal", 0.95, False, _times),
        bound(scale_100k, "peak RSS", "peak_rss_mb", 1536, True, _mb),
        bound(row(STOP), "stop -> ready", None, 1.0, True, _seconds),
        ratio(row(GT_PROCESSES), gturret_noop, 1.8),
        ratio(row(GT_CURVE), row(GT_PLAIN), None),
        *_many_checks(row),
        *_added_latency_checks(row),
    ]
    return [check for check in checks if check.row in rows]


def _header(info: dict[str, Any]) -> str:
    lines = ["# gturret bench", ""]
    for section in ("machine", "versions", "pinning", "settings", "features"):
        lines.append(f"**{section}**")
        for key, value in info[section].items():
            if isinstance(value, dict):
                value = ", ".join(f"{name} {version}" for name, version in value.items())
            lines.append(f"- {key}: {value}")
        lines.append("")
    return "\n".join(lines)


def results_stem(only: frozenset[str]) -> str:
    """The results files' name: ``latest`` for the full run the docs cite, ``only-<scenarios>``
    for a run of some scenarios, which must not replace it."""
    return "only-" + "+".join(sorted(only)) if only else "latest"


def _settings() -> Settings:
    parser = argparse.ArgumentParser(description="gturret side by side with its peers")
    parser.add_argument("--window", type=float, default=2.0, help="measured seconds per rep")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before the window")
    parser.add_argument(
        "--reps", type=int, default=5, help="repetitions per row (median and spread)"
    )
    parser.add_argument(
        "--big-window", type=float, default=20.0, help="measured seconds of the 100k-canon row"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios: http-requests, http-fast, http2, overhead, "
        "scale (and stop), cores, curve, many, added-latency",
    )
    args = parser.parse_args()
    only = frozenset(filter(None, args.only.split(",")))
    return Settings(args.window, args.warmup, args.reps, args.big_window, only)


def main() -> None:
    settings = _settings()
    started = time.monotonic()
    os.sched_setaffinity(0, {int(TARGET_CPU)})
    features = detect()
    info: dict[str, Any] = {
        "machine": machine.machine(),
        "versions": {
            "nginx": machine.tool(["nginx", "-v"]),
            "wrk": machine.tool(["wrk", "--version"]),
            "h2load": machine.tool(["h2load", "--version"]),
            "project venv": machine.packages(
                PROJECT_PY, ["gturret", "gevent", "greenlet", "h2", "pyzmq", "requests", "ujson"]
            ),
            "bench venv": machine.packages(
                BENCH_PY,
                [
                    "locust",
                    "geventhttpclient",
                    "oct-turrets",
                    "gevent",
                    "greenlet",
                    "pyzmq",
                    "requests",
                ],
            ),
        },
        "pinning": {
            f"CPU {TARGET_CPU}": "nginx (1 worker), this orchestrator and its counting HQ (sink)",
            f"CPU {LOAD_CPU}": "the load generator under test: turret, bare loop, Locust or wrk",
            f"CPUs {BOTH_CPUS}": "gturret --processes 2",
        },
        "settings": {
            **{key: value for key, value in asdict(settings).items() if key != "only"},
            "users / canons in HTTP rows": f"{USERS}; http-fast also {FAST_MANY:,}, all at once",
            "users / canons in many rows": ", ".join(f"{n:,}" for n in MANY_SIZES)
            + f", each started over a {MANY_RAMPUP} s rampup",
            "added-latency rows": f"{DELAYED_PATH} answers after {DELAY * 1000:g} ms; "
            + ", ".join(f"{n:,}" for n in ADDED_SIZES)
            + f" users / canons with {THINK:g} s think time, started over {THINK:g} s; "
            + " and ".join(f"{n:,}" for n in SLEEP_CANONS)
            + f" canons x sleep({SLEEP_ASKED * 1000:g} ms)",
            "scenarios": ", ".join(sorted(settings.only)) or "all",
        },
        "features": {
            "gturret": features.gturret or "present",
            "--processes": features.processes or "present",
            "gturret.http": features.http or "present",
            "delayed location": features.delayed or "present",
            "CurveZMQ": features.curve or "present",
        },
    }
    print(_header(info), flush=True)
    with nginx(TARGET_CPU) as url, nginx_h2(TARGET_CPU) as h2:
        planned = _plan(settings, features, url, h2)
        budget = settings.reps * sum(item.seconds for item in planned)
        print(f"target: nginx at {url}; planned measuring time ≈ {budget:.0f} s", flush=True)
        _measure(planned, settings.reps, started)
    rows = {item.row.name: item.row for item in planned}
    rows.update({row.name: row for row in _derived_rows(rows)})
    _annotate(rows)
    ordered = sorted(rows.values(), key=lambda row: SCENARIOS.index(row.scenario))
    checks = _checks(rows)
    total = time.monotonic() - started
    table = report.markdown(ordered, checks, os.cpu_count() or 1)
    fast_rows = [row for row in ordered if row.scenario == "http-fast"]
    if fast_rows:
        table += "\n\n**http-fast: the CPU each row got and what it did with it** (medians)\n\n"
        table += report.detail_table(fast_rows, FAST_COLUMNS)
    many_rows = [row for row in ordered if row.scenario == "many"]
    if many_rows:
        table += "\n\n**many: medians of the latency and starvation extras**\n\n"
        table += report.detail_table(many_rows, MANY_COLUMNS)
    added_rows = [row for row in ordered if row.scenario == "added-latency"]
    if added_rows:
        table += "\n\n**added-latency: medians of the latency extras** (added: beyond the "
        table += f"{DELAY * 1000:g} ms the target waits, or the {SLEEP_ASKED * 1000:g} ms sleep "
        table += "asked)\n\n" + report.detail_table(added_rows, ADDED_COLUMNS)
    info["machine"]["load average at the end"] = machine.machine()["load average (1, 5, 15 min)"]
    footer = f"\nTotal bench time: {total:.0f} s (planned measuring ≈ {budget:.0f} s)\n"
    print(table + "\n" + footer, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = results_stem(settings.only)
    (RESULTS / f"{stem}.md").write_text(_header(info) + "\n" + table + "\n" + footer)
    document = {
        **info,
        "rows": report.as_json(ordered, checks),
        "total_seconds": total,
        "planned_seconds": budget,
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
