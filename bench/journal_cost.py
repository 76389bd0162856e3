"""``python -m bench.journal_cost``: what the run journal costs the HQ, measured alone.

Two figures of docs/journal.md: the time of one second's commit for 100 aggregated
turrets (100 statuses of 761 bytes and 100 intervals of 576 bytes, the sizes
measured in a real run's journal, plus a sample row), and the results per second
``--per-result`` journals (results of 170 bytes, 50,000 to a commit). SQLite's cost
depends on the rows and their bytes, not on what the bytes say, so the messages are
filler of those sizes. A ``make bench-hq`` row with real turrets is left to do.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from gturret.hq.journal import Journal, Kind

SECONDS = 60
TURRETS = 100
STATUS, INTERVAL, RESULT = b"s" * 761, b"i" * 576, b"r" * 170
RESULTS_PER_COMMIT = 50_000
COMMITS = 10


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal.create(Path(folder) / "aggregated.journal")
        started = time.perf_counter()
        for second in range(SECONDS):
            for turret in range(TURRETS):
                journal.add(Kind.STATUS, second, STATUS)
                journal.add(Kind.DATA, second, INTERVAL, sender=str(turret), seq=second + 1)
            journal.add(Kind.SAMPLE, second, value=TURRETS)
            journal.commit()
        per_second = (time.perf_counter() - started) / SECONDS
        size = (Path(folder) / "aggregated.journal").stat().st_size
        journal.close()
        print(
            f"aggregated, {TURRETS} turrets: {per_second * 1000:.1f} ms a second"
            f" ({per_second * 100:.1f} % of a core); {size / SECONDS / TURRETS:.0f} bytes"
            " per turret-second"
        )
        journal = Journal.create(Path(folder) / "per-result.journal")
        started = time.perf_counter()
        for commit in range(COMMITS):
            for _ in range(RESULTS_PER_COMMIT):
                journal.add_result(commit, RESULT)
            journal.commit()
        rate = COMMITS * RESULTS_PER_COMMIT / (time.perf_counter() - started)
        journal.close()
        print(f"per-result: {rate:,.0f} results/s journaled")


if __name__ == "__main__":
    main()
