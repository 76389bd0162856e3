"""The peer load generators, run in a subprocess: ``python -m bench.loops KIND ...``.

Each kind starts ``--users`` users evenly over ``--rampup`` seconds, each firing GETs
at ``--url`` and waiting ``--think`` seconds after each (none by default), warms up
(the rampup, then ``--warmup``), counts the requests completed in ``--window``
seconds and prints one JSON line: ``count``, ``seconds``, ``errors``, the latency
percentiles ``p50_ms``/``p90_ms``/``p95_ms``/``p99_ms`` of the requests completed in the window
(each timed with ``perf_counter``, think time apart), ``started`` (users started by
the window's end), ``never_completed`` (of those, users that never completed a
request) and ``cpu_seconds`` (the CPU time this process took in the window). A
failed request counts as completed and as an error, as a turret counts a failed
transaction. Kinds:

- ``bare-requests``: greenlets each looping on a requests Session (the floor for a
  turret running a requests script; run under the project venv so gevent and
  requests are the very versions gturret uses);
- ``bare-geventhttpclient``: greenlets each looping on a geventhttpclient client;
- ``bare-gturret-http``: greenlets each looping on a ``gturret.http.Client`` (run
  under the project venv, where gturret is installed): the client alone, without
  the turret, so the turret row's own overhead shows beside it;
- ``locust-http`` / ``locust-fast``: Locust ``HttpUser`` / ``FastHttpUser`` with
  ``constant(think)`` wait, driven as a library (spawn rate users / rampup) so its
  window starts after the spawn;
- ``thread-sleep``: no request at all: OS threads each timing a plain CPython
  ``time.sleep(--sleep)`` (started at once, nothing patched), the peer of a turret
  whose canons only sleep: how late the kernel and the interpreter alone wake up.

gevent must patch the stdlib before requests or Locust import socket, so every
third-party import sits inside the function that needs it, after ``patch_all``;
``thread-sleep`` alone runs unpatched.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit

from bench.latency import percentiles_ms

# Every loop is bounded by count as well as by time.
MAX_REQUESTS = 20_000_000


@dataclass(slots=True)
class _Tally:
    """What every user adds to: requests, errors, latencies, who completed one."""

    count: int = 0
    errors: int = 0
    running: bool = True
    timing: bool = False
    started: int = 0
    completed: int = 0
    latencies: list[float] = field(default_factory=list)

    def done(self, seconds: float) -> None:
        """One request finished after ``seconds``; timed only inside the window."""
        self.count += 1
        if self.timing:
            self.latencies.append(seconds)


def raise_open_files() -> None:
    """Soft open-files limit up to the hard one, as gturret does at start-up.

    10,000 users hold 10,000 sockets; at the common soft limit of 1,024 the rest
    would fail with "Too many open files". Locust raises it only from its CLI, which
    the bench does not use. An unlimited hard limit is left as it is.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _measure(
    tally: _Tally, warmup: float, window: float, on_window: Callable[[], None] = lambda: None
) -> dict[str, Any]:
    """Wait ``warmup``, then count and time for ``window``; ``on_window`` at its start.

    ``time.sleep`` is gevent's once patched, and a thread's sleep for ``thread-sleep``.
    """
    time.sleep(warmup)
    on_window()
    start, before, cpu_before = time.monotonic(), tally.count, time.process_time()
    tally.timing = True
    time.sleep(window)
    end, after, cpu_after = time.monotonic(), tally.count, time.process_time()
    tally.timing = False
    tally.running = False
    return {
        "count": after - before,
        "seconds": end - start,
        "errors": tally.errors,
        "started": tally.started,
        "never_completed": tally.started - tally.completed,
        "cpu_seconds": cpu_after - cpu_before,
        **percentiles_ms(tally.latencies),
    }


def _spawn_over(target: Callable[[], None], users: int, rampup: float, spawned: list) -> None:
    """Start ``users`` greenlets evenly over ``rampup`` seconds, as gturret's rampup does."""
    import gevent

    began = time.monotonic()
    for index in range(users):
        wait = began + index * rampup / users - time.monotonic()
        if wait > 0:
            gevent.sleep(wait)
        spawned.append(gevent.spawn(target))


def _bare(make_get: Callable[[str], Callable[[], bool]], args: argparse.Namespace) -> dict:
    import gevent

    tally = _Tally()

    def user() -> None:
        tally.started += 1
        get = make_get(args.url)
        completed = False
        while tally.running and tally.count < MAX_REQUESTS:
            began = perf_counter()
            try:
                ok = get()
            except Exception:  # a failed request is an error, and the user goes on
                ok = False
            tally.done(perf_counter() - began)
            if not ok:
                tally.errors += 1
            if not completed:
                completed = True
                tally.completed += 1
            if args.think:
                gevent.sleep(args.think)

    users: list[gevent.Greenlet] = []
    spawner = gevent.spawn(_spawn_over, user, args.users, args.rampup, users)
    result = _measure(tally, args.rampup + args.warmup, args.window)
    spawner.kill()
    gevent.joinall(users, timeout=5)
    gevent.killall(users, block=False)
    return result


def _requests_get(url: str) -> Callable[[], bool]:
    import requests

    session = requests.Session()
    session.trust_env = False  # as Locust's HttpUser: no proxy lookup per request
    return lambda: session.get(url).status_code == 200


def _geventhttpclient_get(url: str) -> Callable[[], bool]:
    from geventhttpclient import URL, HTTPClient

    parsed = URL(url)
    client = HTTPClient.from_url(parsed, concurrency=1)

    def get() -> bool:
        response = client.get(parsed.request_uri)
        response.read()
        response.release()
        return bool(response.status_code == 200)

    return get


def _gturret_http_get(url: str) -> Callable[[], bool]:
    from gturret.http import Client

    client = Client()
    return lambda: client.get(url).status_code == 200


def _origin_and_path(url: str) -> tuple[str, str]:
    """Locust's ``host`` (scheme and authority) and the path its task asks for."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/"


def _locust(fast: bool, args: argparse.Namespace) -> dict:
    """Locust's own counts and failures; latency and completion timed around its client.

    Locust builds one User instance per user, so each instance notes its own first
    completion; ``on_start`` runs in the user's greenlet before its first task.
    """
    from locust import FastHttpUser, HttpUser, constant, task
    from locust.env import Environment

    base = FastHttpUser if fast else HttpUser
    tally = _Tally()
    origin, path = _origin_and_path(args.url)

    class User(base):  # type: ignore[valid-type, misc]
        host = origin
        wait_time = constant(args.think)
        completed = False

        def on_start(self) -> None:
            tally.started += 1

        @task
        def get(self) -> None:
            began = perf_counter()
            self.client.get(path)
            tally.done(perf_counter() - began)
            if not self.completed:
                self.completed = True
                tally.completed += 1

    env = Environment(user_classes=[User])
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.users / args.rampup if args.rampup else args.users)
    result = _measure(tally, args.rampup + args.warmup, args.window, env.stats.reset_all)
    total = env.stats.total
    result.update(count=total.num_requests, errors=total.num_failures)
    runner.quit()
    return result


def _thread_sleep(args: argparse.Namespace) -> dict:
    """``--users`` daemon threads, each timing ``time.sleep(--sleep)`` until the window ends."""
    import threading

    tally = _Tally()

    def user() -> None:
        tally.started += 1
        completed = False
        while tally.running and tally.count < MAX_REQUESTS:
            began = perf_counter()
            time.sleep(args.sleep)
            tally.done(perf_counter() - began)
            if not completed:
                completed = True
                tally.completed += 1

    users = [threading.Thread(target=user, daemon=True) for _ in range(args.users)]
    for thread in users:
        thread.start()
    result = _measure(tally, args.warmup, args.window)
    for thread in users:
        thread.join(timeout=args.sleep + 5)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "kind",
        choices=[
            "bare-requests",
            "bare-geventhttpclient",
            "bare-gturret-http",
            "locust-http",
            "locust-fast",
            "thread-sleep",
        ],
    )
    parser.add_argument("--url", default="", help="the target of the HTTP kinds")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--rampup", type=float, default=0.0, help="seconds to start the users")
    parser.add_argument("--warmup", type=float, required=True, help="seconds after the rampup")
    parser.add_argument("--window", type=float, required=True)
    parser.add_argument("--think", type=float, default=0.0, help="seconds after each request")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds of each thread-sleep")
    args = parser.parse_args()

    raise_open_files()
    if args.kind == "thread-sleep":
        print(json.dumps(_thread_sleep(args)), flush=True)
        return
    from gevent import monkey

    monkey.patch_all()
    runs: dict[str, Callable[[], dict]] = {
        "bare-requests": lambda: _bare(_requests_get, args),
        "bare-geventhttpclient": lambda: _bare(_geventhttpclient_get, args),
        "bare-gturret-http": lambda: _bare(_gturret_http_get, args),
        "locust-http": lambda: _locust(False, args),
        "locust-fast": lambda: _locust(True, args),
    }
    print(json.dumps(runs[args.kind]()), flush=True)


if __name__ == "__main__":
    main()
