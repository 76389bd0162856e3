"""Run the peer load generators from the orchestrator: the loops in ``bench.loops``
(each in its own pinned subprocess, under the venv it needs) and wrk.

Every peer answers with a :class:`Rate`, the same shape the sink gives for a turret,
so the orchestrator compares like with like; a loop's latency percentiles and
starved users come along in ``Rate.extra``, and so do wrk's percentiles when asked
for (``--latency``).
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)")
# A line of wrk's "Latency Distribution" (``--latency``), e.g. "     99%   20.95ms".
_WRK_PERCENTILE = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s|m)$", re.MULTILINE)
_H2LOAD_RATE = re.compile(r"finished in [\d.]+\w+, ([\d.]+) req/s")
_H2LOAD_REQUESTS = re.compile(r"(\d+) done, \d+ succeeded, (\d+) failed, (\d+) errored")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` requests done in ``seconds``, ``errors`` of them failed.

    ``extra`` holds what a loop measured besides: ``p50_ms``, ``p90_ms``, ``p95_ms``, ``p99_ms``,
    ``started`` and ``never_completed`` (see ``bench.loops``); wrk gives ``p50_ms``,
    ``p90_ms`` and ``p99_ms`` with ``latency``. Each gives ``cpu_seconds``: the CPU
    time the generator took while it counted (wrk: its whole run, which is the window).
    """

    count: int
    seconds: float
    errors: int
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


# Seconds a loop may take beyond its rampup, warm-up and window: starting Python and
# Locust, and ending 10,000 users.
_LOOP_GRACE = 120.0


def loop(
    python: Path,
    kind: str,
    url: str,
    users: int,
    warmup: float,
    window: float,
    cpu: str,
    rampup: float = 0.0,
    think: float = 0.0,
    sleep: float = 0.0,
) -> Rate:
    """One run of a ``bench.loops`` kind, pinned to ``cpu``; users start over ``rampup``
    and wait ``think`` seconds after each request (``thread-sleep``: each sleep lasts
    ``sleep``)."""
    command = ["taskset", "-c", cpu, str(python), "-m", "bench.loops", kind]
    command += ["--url", url, "--users", str(users), "--rampup", str(rampup)]
    command += ["--warmup", str(warmup), "--window", str(window), "--think", str(think)]
    command += ["--sleep", str(sleep)]
    timeout = rampup + warmup + window + think + sleep + _LOOP_GRACE
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} exited with code {done.returncode}:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    count, seconds, errors = result.pop("count"), result.pop("seconds"), result.pop("errors")
    extra = {key: float(value) for key, value in result.items()}
    return Rate(int(count), float(seconds), int(errors), extra)


def _wrk_percentiles_ms(output: str) -> dict[str, float]:
    """``p50_ms``, ``p90_ms``, ``p99_ms`` from wrk's "Latency Distribution" lines."""
    return {
        f"p{percentile}_ms": float(value) * _UNIT_SECONDS[unit] * 1000
        for percentile, value, unit in _WRK_PERCENTILE.findall(output)
    }


def h2load(url: str, clients: int, warmup: float, window: float, cpu: str) -> Rate:
    """h2load (nghttp2) with one thread and ``clients`` HTTP/2 connections, one stream at
    a time each (as a canon runs one request at a time): HTTP/2's limit, as wrk is
    HTTP/1.1's. h2c with prior knowledge on ``http://``, ALPN h2 on ``https://``."""
    command = ["taskset", "-c", cpu, "h2load", "-t1", f"-c{clients}", "-m1"]
    command += [f"--warm-up-time={warmup:g}", f"-D{window:g}", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=warmup + window + 60)
    finished = _H2LOAD_RATE.search(done.stdout)
    requests = _H2LOAD_REQUESTS.search(done.stdout)
    if done.returncode != 0 or finished is None or requests is None:
        raise RuntimeError(f"h2load failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    # "finished in" counts the warm-up too; the rate and the counts are the window's.
    count, rate = int(requests.group(1)), float(finished.group(1))
    return Rate(
        count=count,
        seconds=count / rate if rate else window,
        errors=int(requests.group(2)) + int(requests.group(3)),
    )


def wrk(url: str, connections: int, window: float, cpu: str, latency: bool = False) -> Rate:
    """wrk with one thread and ``connections`` keep-alive connections: the limit at many
    connections; with few and ``latency``, the target's own latency (its percentiles)."""
    command = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{window:g}s"]
    command += ["--latency", url] if latency else [url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=window + 30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    total = _WRK_TOTAL.search(done.stdout)
    percentiles = _wrk_percentiles_ms(done.stdout) if latency else {}
    if done.returncode != 0 or total is None or (latency and len(percentiles) != 3):
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    errors = _WRK_ERRORS.search(done.stdout)
    return Rate(
        count=int(total.group(1)),
        seconds=float(total.group(2)) * _UNIT_SECONDS[total.group(3)],
        errors=int(errors.group(1)) if errors else 0,
        extra={**percentiles, "cpu_seconds": cpu},
    )
