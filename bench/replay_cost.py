"""``python -m bench.replay_cost``: what the turret's replay buffer holds and costs.

The figures of docs/protocol.md's *Journal*: the bytes of a numbered interval for 0,
1, 5 and 20 custom timers at 100 and 1,000 transactions a second (lognormal times
near 18 ms, encoded by ``gturret.aggregate.Interval`` and numbered as the link
numbers them) and how long the default ``replay_buffer_mb`` holds them; the bytes
of a numbered result; and the CPU the link's drain spends per result with the
journal off and on. The drain runs a real ``Link`` into a PULL socket of another
process, journal off and on taking turns rep by rep, so a loaded machine weighs on
both alike; only the drain's own thread is timed (``thread_time``), not ZeroMQ's.
"""

from __future__ import annotations

import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq

from gturret import wire
from gturret.aggregate import Interval
from gturret.config import TurretConfig, load_config
from gturret.link import Link
from gturret.outbox import Outbox
from gturret.replay import FRAME_OVERHEAD, MB

SENDER = "d7b8a1cc-639a-405c-9b16-62ce5cd66f36/1"
BUFFER_MB = TurretConfig.__dataclass_fields__["replay_buffer_mb"].default
RESULTS = 100_000
REPS = 9
SINK = """
import sys, zmq
pull = zmq.Context().socket(zmq.PULL)
pull.bind(sys.argv[1])
while pull.poll(60_000):
    pull.recv(copy=False)
"""


def interval_bytes(timers: int, per_second: int) -> int:
    """A numbered interval of ``per_second`` transactions, each with ``timers`` timers."""
    random.seed(1)
    interval = Interval(3.0)
    for _ in range(per_second):
        seconds = random.lognormvariate(-4, 0.5)
        interval.transaction.values.append(int(seconds * 1_000_000 + 0.5))
        interval.timers_of({f"timer{k}": seconds / (k + 2) for k in range(timers)}, False)
    frame = interval.encode("navigation", 4.0, time.time())
    return len(wire.numbered(frame, wire.journal_tail(SENDER), 123_456))


def sizes() -> None:
    for timers in (0, 1, 5, 20):
        slow, fast = interval_bytes(timers, 100), interval_bytes(timers, 1_000)
        hours = BUFFER_MB * MB / (fast + FRAME_OVERHEAD) / 3600
        print(
            f"interval, {timers} custom timers: {slow:,} bytes at 100/s, {fast:,} at"
            f" 1,000/s; {BUFFER_MB:g} MB holds {hours:.2f} h of the latter"
        )
    encode = wire.result_encoder("bench", sender=SENDER)
    result = len(encode((12.480113, 1_453_731_738.204551, 0.000231004, "", {}), 123_456))
    held = BUFFER_MB * MB // (result + FRAME_OVERHEAD)
    print(f"numbered result, no error, no timer: {result} bytes; {BUFFER_MB:g} MB holds {held:,}")


def drain_cost() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    sink = subprocess.Popen([sys.executable, "-c", SINK, endpoint])
    folder = Path(tempfile.mkdtemp())
    (folder / "script.py").write_text("from gturret import Transaction\n")
    (folder / "config.json").write_text(
        json.dumps(
            {
                "name": "bench",
                "canons": 1,
                "script": "script.py",
                "hq_address": "127.0.0.1",
                "hq_publisher": 1,
                "hq_rc": port,
            }
        )
    )
    outbox = Outbox(10 * RESULTS)
    link = Link(load_config(folder / "config.json"), SENDER, outbox)
    try:
        # No high-water mark: the sink's pace never makes a send wait and count here.
        link.hq.push.disconnect(endpoint)
        link.hq.push.setsockopt(zmq.SNDHWM, 0)
        link.hq.push.connect(endpoint)
        record = (12.480113, 1_453_731_738.204551, 0.000231004, "", {})
        spent: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(REPS):
            for journal in (False, True):
                link.journal(journal)
                for _ in range(RESULTS):
                    outbox.put_result(record)
                began = time.thread_time()
                while not link.drain(budget=10.0):
                    time.sleep(0.001)
                spent[journal].append((time.thread_time() - began) / RESULTS * 1e9)
                link.replay.ack(link.replay.seq_sent)
        for journal, values in spent.items():
            print(
                f"drain, journal {'on' if journal else 'off'}: {statistics.median(values):.0f} ns"
                f" a result (median of {REPS} reps of {RESULTS:,})"
            )
    finally:
        link.close(0)
        sink.kill()
        sink.wait()


if __name__ == "__main__":
    sizes()
    drain_cost()
