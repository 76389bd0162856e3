"""``gturret --standalone``: one process runs the turret and our HQ together.

Why it exists: a CI job or a newcomer needs a whole load test on one machine with
one command. The HQ binds ephemeral loopback ports, the turret connects to them,
and both share one gevent loop; the HQ code path is exactly ``gturret-hq``'s, so
reports and exit statuses are the same. It must never open a port beyond loopback.
Its links are plain ZeroMQ: both ends are this process, on loopback ports, so keys
in the config are not used (a line says so).
"""

from __future__ import annotations

import dataclasses
import logging

import gevent

from gturret.config import TurretConfig
from gturret.feeders import FeederFile
from gturret.hq import HQOptions, run_hq
from gturret.hq.interrupt import Interruption
from gturret.script import TransactionFactory
from gturret.turret import Turret

log = logging.getLogger(__name__)

#: Seconds the turret gets to report ``killed`` once the HQ is done.
TURRET_EXIT_TIMEOUT = 5.0


def run_standalone(
    config: TurretConfig,
    factory: TransactionFactory,
    options: HQOptions,
    feeder_files: dict[str, FeederFile] | None = None,
) -> int:
    """Run one test of ``config``'s turret against an in-process HQ; the HQ's exit status."""
    turrets: list[tuple[Turret, gevent.Greenlet]] = []
    if config.curve is not None:
        log.info(
            "--standalone: both ends in this process on loopback; the config's keys are not used"
        )

    def start_turret(pub_port: int, rc_port: int) -> None:
        local = dataclasses.replace(
            config, hq_address="127.0.0.1", hq_publisher=pub_port, hq_rc=rc_port, curve=None
        )
        turret = Turret(local, factory, owns_process=False, feeder_files=feeder_files)
        turrets.append((turret, gevent.spawn(turret.serve)))

    def stop_blocked_canons_at_the_end() -> None:
        # The HQ shares the loop: a canon that never yields would keep it from ever
        # sending stop, so the turret's watchdog gets the order from the clock too.
        for turret, _ in turrets:
            turret.watchdog.order_after("stop", options.run_time)

    def free_blocked_canons() -> None:
        # A script that holds the loop would keep the HQ from noticing the signal.
        for turret, _ in turrets:
            turret.watchdog.order("stop")

    interruption = Interruption("gturret", on_first=free_blocked_canons)
    interruption.install()
    hq = gevent.spawn(
        run_hq,
        options,
        on_bound=start_turret,
        on_start=stop_blocked_canons_at_the_end,
        interruption=interruption,
    )
    try:
        status: int = hq.get()
    finally:
        for turret, serving in turrets:
            turret.request_kill("standalone test over")
            serving.join(TURRET_EXIT_TIMEOUT)
    return status
