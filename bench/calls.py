"""Python calls per kept-alive ``gturret.http`` GET: the fast path's cost, counted, not timed.

Why: on a shared 2-core machine the rates of ``make bench`` move by more than a
step of the fast path buys, and there are no hardware counters to count
instructions. The calls the interpreter makes per request do not depend on the
load, so a step that removes calls shows here exactly. Run under the project venv
(``.venv/bin/python -m bench.calls``): it starts the bench's nginx on 127.0.0.1,
makes one client, warms its connection, then counts the Python frames (``call``)
and built-in calls (``c_call``, which Cython methods such as gevent's and
httptools' do not show as) over ``REQUESTS`` GETs, and names those of one GET.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from gevent import monkey

monkey.patch_all()

from bench.target import nginx  # noqa: E402  (after patching, as the loops do)

REQUESTS = 1000


def main() -> None:
    import gturret.http

    with nginx("1") as url:
        client = gturret.http.Client(url)
        for _ in range(50):
            client.get("/")
        named = _profiled(client, 1, named=True)
        print("one GET:", *named, sep="\n  ")
        counts = _profiled(client, REQUESTS)
        print(
            f"per GET over {REQUESTS:,}: {counts.count('call') / REQUESTS:g} Python calls, "
            f"{counts.count('c_call') / REQUESTS:g} built-in calls"
        )


def _profiled(client: Any, requests: int, named: bool = False) -> list[str]:
    """The calls ``requests`` GETs make: each one's name, or only its kind."""
    seen: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            seen.append(frame.f_code.co_qualname if named else event)
        elif event == "c_call":
            seen.append(f"  {arg.__qualname__}" if named else event)

    sys.setprofile(profile)
    for _ in range(requests):
        client.get("/")
    sys.setprofile(None)
    return seen[:-1]  # the last is setprofile itself


if __name__ == "__main__":
    main()
