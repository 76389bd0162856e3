"""What one live-console frame costs the HQ at 100 turrets: CPU milliseconds to build it.

``python -m bench.console_frame``: the real statistics, roster and feed of our HQ
(``gturret.hq.console.feed``), fed in-process as 100 turrets would feed them (each a
status with its loop lag, then 60 seconds of one interval a second of 100
transactions), then the frame the console pushes built ``--frames`` times, one a
second of the feed's clock (so each turret's loop lag is read as often as live), timed
in CPU time (``time.process_time``, so a loaded machine slows it less than the
wall clock). It prints the cost per frame, what one frame a second would take of a
core, and how often the console then pushes (``feed.until_next_frame``: frames skip
whole seconds beyond ``feed.CPU_BUDGET``). No socket, no process: the build alone.
"""

from __future__ import annotations

import argparse
import random
import time
import types

from gturret import wire
from gturret.aggregate import Interval
from gturret.hq.console.feed import CPU_BUDGET, Feed, until_next_frame
from gturret.hq.findings import Findings
from gturret.hq.ledger import Ledger
from gturret.hq.messages import Interval as IntervalMessage
from gturret.hq.messages import Status, classify
from gturret.hq.options import HQOptions
from gturret.hq.roster import Roster
from gturret.hq.run import _findings
from gturret.hq.session import Outcome, Phase
from gturret.hq.stats import Stats
from gturret.looplag import lag_histogram

SECONDS = 60


def fed(turrets: int) -> tuple[Stats, Roster]:
    """Statistics and roster as ``turrets`` turrets leave them after SECONDS seconds."""
    stats, roster, rng = Stats(), Roster(), random.Random(1)
    for index in range(turrets):
        uuid = f"{index:08d}-0000-4000-8000-000000000000"
        lag = lag_histogram()
        for _ in range(1000):
            lag.record_value(rng.randint(50, 3000))
        extra = {"gturret": 1, "canons_active": 10, "loop_lag": lag.encode().decode()}
        raw = wire.encode_status(
            turret=f"turret-{index}", status="running", uuid=uuid, rampup=0,
            script="sleep.py", cannons=10, extra=extra,
        )  # fmt: skip
        status = classify(raw)
        assert isinstance(status, Status) and status.loop_lag is not None
        roster.update(status, 1.0, started=True)
        stats.record_loop_lag(f"turret-{index} ({uuid[:8]})", status.loop_lag, 1.0)
    for second in range(SECONDS):
        for index in range(turrets):
            interval = Interval(second)
            interval.transaction.values.extend(rng.randint(10_000, 12_000) for _ in range(100))
            message = classify(interval.encode(f"turret-{index}", second + 1, time.time()))
            assert isinstance(message, IntervalMessage)
            stats.record_interval(message, second + 0.5)
        stats.series.advance(second + 1, 10 * turrets)
    return stats, roster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turrets", type=int, default=100)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()
    stats, roster = fed(args.turrets)
    options = HQOptions(turrets=args.turrets)
    session = types.SimpleNamespace(
        phase=Phase.RUNNING,
        elapsed=lambda: float(SECONDS),
        options=options,
        outcome=Outcome(),
        ledger=Ledger(),
    )
    outcome = Outcome(duration_s=float(SECONDS))

    def gather(*, lag_by_turret: bool = True) -> Findings:
        return _findings(
            options,
            (0, 0),
            outcome,
            stats,
            roster,
            session,
            None,
            lag_by_turret,  # type: ignore[arg-type]
        )

    second = [0.0]
    feed = Feed(session, roster, gather, clock=lambda: second[0])  # type: ignore[arg-type]
    text = feed.frame_text(whole=False)
    began = time.process_time()
    for frame in range(args.frames):
        second[0] = float(frame + 1)
        feed.frame_text(whole=False)
    cost = (time.process_time() - began) / args.frames
    period = until_next_frame(SECONDS + 0.15, cost)
    print(
        f"{args.turrets} turrets: {cost * 1000:.1f} ms CPU a frame ({len(text):,} bytes);"
        f" one a second would take {100 * cost:.1f} % of a core; the console pushes one"
        f" every {period:.0f} s ({100 * cost / period:.1f} %, budget {100 * CPU_BUDGET:.1f} %)"
    )


if __name__ == "__main__":
    main()
