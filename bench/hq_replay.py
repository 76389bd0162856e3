"""What the HQ's own handling of 100 turrets' messages costs, without 100 turret processes.

``bench.hq_capacity`` measures the whole ``gturret-hq`` against real turret processes,
the truest figure, but its 100-turret row needs a hundred turrets started on one core:
on a shared, loaded machine they may not all report within minutes. This measures the
part of that row that is the HQ's code: the messages one real turret sends in the
aggregated mode (a status with its loop-lag histogram and an interval with its
transaction histogram, each second) are captured once, then replayed as if from
``--turrets`` turrets (each status with its own uuid) through the HQ's own
``Session`` handling (``classify``, the roster, the statistics, the per-second series)
for ``--seconds`` seconds, then summarized; the figure is the CPU time
(``time.process_time``) per second of test, as a share of one core. Not measured: the
sockets, the receiving loop and the reports (``bench.hq_capacity`` has them).

To compare two versions of the HQ on the same messages, capture once
(``--messages FILE``: written when missing, read when present) and run the versions
in turns, e.g. the other one through ``PYTHONPATH=<its checkout>``.

Everything runs on 127.0.0.1; the capture is bounded by ``CAPTURE_S``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gturret import wire
from gturret.hq.options import HQOptions
from gturret.hq.progress import Progress
from gturret.hq.roster import Roster
from gturret.hq.session import AGGREGATED, Session
from gturret.hq.stats import Stats
from tests.support.fake_hq import FakeHQ

REPO = Path(__file__).resolve().parents[1]
GTURRET = REPO / ".venv" / "bin" / "gturret"
CAPTURE_S = 6.0
#: Distinct statuses and intervals replayed in turn (the last ones captured).
KEPT = 3


def capture() -> list[str]:
    """A real turret's messages in the aggregated mode: 10 canons sleeping 10 ms."""
    hq = FakeHQ()
    folder = Path(tempfile.mkdtemp(prefix="gturret-bench-replay-"))
    config = {
        "name": "bench",
        "canons": 10,
        "rampup": 0,
        "script": str(REPO / "bench" / "scripts" / "sleep.py"),
        "sleep": 0.01,
        "hq_address": "127.0.0.1",
        "hq_publisher": hq.pub_port,
        "hq_rc": hq.rc_port,
    }
    (folder / "config.json").write_text(json.dumps(config))
    turret = subprocess.Popen(
        [str(GTURRET), str(folder / "config.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ask = hq.send
    hq.send = lambda command, msg=None, channel="": ask(  # type: ignore[method-assign]
        command, AGGREGATED if command == "status_request" else msg, channel
    )
    try:
        hq.register(timeout=120)
        hq.send("start", "open fire")
        end = time.monotonic() + CAPTURE_S
        while time.monotonic() < end:
            hq.send("status_request")
            hq.collect(1.0)
    finally:
        turret.kill()
        turret.wait()
        hq.close()
    return [raw.decode() for raw in hq.raw]


def replay(messages: list[str], turrets: int, seconds: int) -> float:
    """CPU seconds the HQ's handling takes for ``turrets`` turrets over ``seconds``."""
    decoded = [json.loads(text) for text in messages]
    statuses = [m for m in decoded if wire.is_status(m) and m["status"] == "running"][-KEPT:]
    intervals = [m for m in decoded if m.get(wire.INTERVAL_KIND) == 1][-KEPT:]
    if not statuses or not intervals:
        raise RuntimeError("the capture holds no running status or no interval")
    batches = []
    for second in range(seconds):
        batch = []
        for number in range(turrets):
            status = {**statuses[second % len(statuses)], "uuid": f"replayed-{number:05d}"}
            batch.append(json.dumps(status).encode())
            batch.append(json.dumps(intervals[second % len(intervals)]).encode())
        batches.append(batch)
    stats, roster = Stats(), Roster()
    progress = Progress(io.StringIO(), enabled=False, plain_interval=5.0)
    session = Session(None, HQOptions(run_time=seconds), stats, roster, progress)  # type: ignore[arg-type]
    session._t0 = 0.0  # as after the start: the messages count in the test
    started = time.process_time()
    for second, batch in enumerate(batches):
        for position, raw in enumerate(batch):
            session._handle(raw, second + position / len(batch))
        session._sample(second + 0.999)
    stats.summarize(float(seconds))
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turrets", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=30, help="seconds of test replayed")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--messages", type=Path, help="captured messages: read, or written")
    args = parser.parse_args()
    # The replayed loop lag makes the HQ warn once a turret: a hundred lines, no figure.
    logging.getLogger("gturret").setLevel(logging.ERROR)
    if args.messages is not None and args.messages.exists():
        messages: list[Any] = json.loads(args.messages.read_text())
    else:
        messages = capture()
        if args.messages is not None:
            args.messages.write_text(json.dumps(messages))
    shares = []
    for rep in range(1, args.reps + 1):
        share = 100.0 * replay(messages, args.turrets, args.seconds) / args.seconds
        shares.append(share)
        print(f"rep {rep}: {args.turrets} turrets, {share:.2f} % of a core", flush=True)
    median = statistics.median(shares)
    print(
        f"{args.turrets} turrets replayed for {args.seconds} s: median {median:.2f} % of a core"
        f" (min {min(shares):.2f}, max {max(shares):.2f}, {len(shares)} reps)"
    )


if __name__ == "__main__":
    sys.exit(main())
