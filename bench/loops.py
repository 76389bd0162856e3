"""The peer load generators, run in a subprocess: ``python -m bench.loops KIND ...``.

Each kind keeps ``--users`` concurrent users firing GETs at ``--url`` with no think
time, warms up, then counts the requests completed in ``--window`` seconds and prints
one JSON line ``{"count", "seconds", "errors"}``. Kinds:

- ``bare-requests``: greenlets each looping on a requests Session (the floor for a
  turret running a requests script; run under the project venv so gevent and
  requests are the very versions gturret uses);
- ``bare-geventhttpclient``: greenlets each looping on a geventhttpclient client;
- ``locust-http`` / ``locust-fast``: Locust ``HttpUser`` / ``FastHttpUser`` with
  ``constant(0)`` wait, driven as a library so its window starts after the spawn.

gevent must patch the stdlib before requests or Locust import socket, so every
third-party import sits inside the function that needs it, after ``patch_all``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

# Every loop is bounded by count as well as by time.
MAX_REQUESTS = 20_000_000


@dataclass(slots=True)
class _Tally:
    count: int = 0
    errors: int = 0
    running: bool = True


def _measure(tally: _Tally, warmup: float, window: float) -> dict[str, float]:
    import gevent

    gevent.sleep(warmup)
    start, before = time.monotonic(), tally.count
    gevent.sleep(window)
    end, after = time.monotonic(), tally.count
    tally.running = False
    return {"count": after - before, "seconds": end - start, "errors": tally.errors}


def _bare(make_get: Callable[[str], Callable[[], bool]], args: argparse.Namespace) -> dict:
    import gevent

    tally = _Tally()

    def user() -> None:
        get = make_get(args.url)
        while tally.running and tally.count < MAX_REQUESTS:
            if not get():
                tally.errors += 1
            tally.count += 1

    users = [gevent.spawn(user) for _ in range(args.users)]
    result = _measure(tally, args.warmup, args.window)
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


def _locust(fast: bool, args: argparse.Namespace) -> dict:
    from locust import FastHttpUser, HttpUser, constant, task
    from locust.env import Environment

    base = FastHttpUser if fast else HttpUser

    class User(base):  # type: ignore[valid-type, misc]
        host = args.url.rstrip("/")
        wait_time = constant(0)

        @task
        def get(self) -> None:
            self.client.get("/")

    env = Environment(user_classes=[User])
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.users)
    import gevent

    gevent.sleep(args.warmup)
    env.stats.reset_all()
    start = time.monotonic()
    gevent.sleep(args.window)
    end = time.monotonic()
    total = env.stats.total
    result = {"count": total.num_requests, "seconds": end - start, "errors": total.num_failures}
    runner.quit()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "kind", choices=["bare-requests", "bare-geventhttpclient", "locust-http", "locust-fast"]
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--window", type=float, required=True)
    args = parser.parse_args()

    from gevent import monkey

    monkey.patch_all()
    runs: dict[str, Callable[[], dict]] = {
        "bare-requests": lambda: _bare(_requests_get, args),
        "bare-geventhttpclient": lambda: _bare(_geventhttpclient_get, args),
        "locust-http": lambda: _locust(False, args),
        "locust-fast": lambda: _locust(True, args),
    }
    print(json.dumps(runs[args.kind]()), flush=True)


if __name__ == "__main__":
    main()
