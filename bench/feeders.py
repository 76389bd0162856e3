"""``make bench-feeders``: rows one process serves to its canons, and the memory a feeder
of a million rows adds (gturret/feeders.py).

Writes a 1,000,000-row CSV (``id,user,password``, the password quoted one row in ten)
and the same rows as JSON Lines into a temporary folder, then, in this one process
after ``gevent.monkey.patch_all()`` as a turret: scans each file (seconds, resident
memory added by the scan), then for each mode lets 100 greenlets, one per canon,
call ``feed()`` in a loop for ``--window`` seconds, each yielding to the loop every
millisecond as a canon does (``gturret.canon.YIELD_BUDGET``). Rows/s is rows served
over the window's wall time; rows per CPU second over the CPU time this process was
given in it (what one core serves, whatever else a shared machine runs: the load
average is printed before and after); RSS added is the resident memory after the
last mode less before the scan (``/proc/self/statm``). Prints one table and writes it to
``bench/results/feeders.md``.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

from gturret.canon import YIELD_BUDGET  # noqa: E402
from gturret.feeders import Feeders, FeederSpec, Place, scan_feeders  # noqa: E402

ROWS = 1_000_000
CANONS = 100
MODES = ("circular", "unique", "random", "per_canon")
RESULTS = Path(__file__).parent / "results" / "feeders.md"


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def write_files(folder: Path) -> tuple[Path, Path]:
    csv_path, jsonl_path = folder / "users.csv", folder / "users.jsonl"
    with csv_path.open("w") as table, jsonl_path.open("w") as lines:
        table.write("id,user,password\n")
        for i in range(ROWS):
            password = f'"pw,{i}"' if i % 10 == 0 else f"pw{i}"
            table.write(f"{i},user{i},{password}\n")
            lines.write(json.dumps({"id": i, "user": f"user{i}", "password": f"pw{i}"}) + "\n")
    return csv_path, jsonl_path


def serve(feeders: Feeders, window: float) -> tuple[int, float]:
    """Rows served by CANONS greenlets in ``window`` seconds, and the CPU seconds used."""
    served = [0] * CANONS
    cpu = time.process_time()
    end = time.perf_counter() + window

    def canon(index: int) -> None:
        feeds = feeders.for_canon(index)
        while (now := time.perf_counter()) < end:
            yield_at = now + YIELD_BUDGET
            while time.perf_counter() < yield_at:
                feeds.take("users")
                served[index] += 1
            gevent.sleep(0)

    gevent.joinall([gevent.spawn(canon, index) for index in range(CANONS)])
    return sum(served), time.process_time() - cpu


def measure(path: Path, file_format: str, window: float) -> list[str]:
    before = rss()
    began = time.perf_counter()
    spec = FeederSpec("users", path, format=file_format)
    files = scan_feeders((spec,))
    scanned = time.perf_counter() - began
    lines = []
    for mode in MODES:
        files["users"].spec = FeederSpec(
            "users",
            path,
            mode,
            on_exhausted="recycle" if mode == "unique" else "stop_canon",
            format=file_format,
        )
        rows, cpu = serve(Feeders(files, Place(0, CANONS, CANONS), None), window)
        lines.append(f"| {file_format} | {mode} | {rows / window:,.0f} | {rows / cpu:,.0f} |")
    added = (rss() - before) / 2**20
    lines.append(
        f"| {file_format} | scan of {ROWS:,} rows | {scanned:.1f} s, RSS added {added:.1f} MB |"
    )
    files["users"].close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=3.0, help="seconds per mode")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gturret-bench-feeders-") as folder:
        csv_path, jsonl_path = write_files(Path(folder))
        rows = measure(csv_path, "csv", args.window) + measure(jsonl_path, "jsonl", args.window)
    table = "\n".join(
        [
            f"Feeders: one process, {CANONS} canons (greenlets), {ROWS:,} rows,"
            f" {args.window:g} s a mode (`make bench-feeders`, bench/feeders.py);"
            f" load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after,"
            f" {os.cpu_count()} cores",
            "",
            "| file | mode | rows/s | rows per CPU second |",
            "| --- | --- | --- | --- |",
            *rows,
        ]
    )
    print(table)
    RESULTS.write_text(table + "\n")


if __name__ == "__main__":
    main()
