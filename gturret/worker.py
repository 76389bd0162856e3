"""One worker process of a fleet (``gturret --processes N``): a Turret run by its parent.

Why it exists: a gevent loop uses one core, so a fleet runs N of them. A worker is
an ordinary :class:`~gturret.turret.Turret` with a :class:`~gturret.link.Route` to
its parent (commands from the parent's PUB, statuses to the parent's PULL) and a
:class:`~gturret.battery.Share` of the canons; its results go straight to the HQ,
already carrying the turret's one name, so the parent never touches them.

Started by :mod:`gturret.fleet` only, as ``python -m gturret.worker`` with the
arguments ``processes.worker_command`` writes. It must never
outlive its parent: on Linux the kernel sends it SIGTERM when the parent dies
(``PR_SET_PDEATHSIG``), elsewhere a greenlet watches the parent's pid; either way
it then kills itself as on any SIGTERM (cease fire, flush results, exit), and
removes the parent's ipc sockets, which a parent killed outright cannot. A signal
at any moment of its start exits 0 too (:mod:`gturret.signals`).
"""

from gturret.signals import ProcessSignals, StartupInterrupted

SIGNALS = ProcessSignals("gturret.worker")
SIGNALS.install()

from gevent import monkey  # noqa: E402

monkey.patch_all()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

from gturret.battery import Share  # noqa: E402
from gturret.config import load_config  # noqa: E402
from gturret.errors import ExitStatus, UsageError  # noqa: E402
from gturret.feeders import scan_feeders  # noqa: E402
from gturret.link import Route  # noqa: E402
from gturret.overrides import given_overrides  # noqa: E402
from gturret.requirements import use_requirements  # noqa: E402
from gturret.script import prepare_factory  # noqa: E402
from gturret.startup import prepare_process  # noqa: E402
from gturret.text import log_to_stderr  # noqa: E402
from gturret.turret import Turret  # noqa: E402

log = logging.getLogger(__name__)

#: linux/prctl.h
PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the parent's pid where PR_SET_PDEATHSIG is missing.
PARENT_CHECK_INTERVAL = 0.5


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gturret.worker", description=__doc__)
    parser.add_argument("config")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--uuid", required=True)
    parser.add_argument("--commands", required=True)
    parser.add_argument("--statuses", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    log_to_stderr(
        args.log_level,
        f"%(asctime)s %(levelname)s worker {args.index}/{args.count} %(name)s: %(message)s",
    )
    SIGNALS.starting()
    try:
        config = load_config(args.config, given_overrides({}, os.environ))
        use_requirements(config.requirements, config.source)
        prepare_process(len(Share(args.index, args.count).of(config.canons)))
        factory = prepare_factory(config)
        feeder_files = scan_feeders(config.feeders)
    except UsageError as exc:
        log.error("%s", exc)
        return ExitStatus.USAGE
    except StartupInterrupted as exc:
        log.info("%s during start-up: exiting", exc.signal_name)
        return ExitStatus.OK
    SIGNALS.handing_over()
    route = Route(args.commands, args.statuses)
    turret = Turret(
        config,
        factory,
        uuid=args.uuid,
        route=route,
        share=Share(args.index, args.count),
        feeder_files=feeder_files,
    )
    SIGNALS.serving(turret.request_kill)
    die_with_parent(args.parent, turret)
    try:
        return turret.serve()
    finally:
        # A worker ends only when its fleet ends. If the parent was killed outright,
        # nobody else will remove its ipc sockets; and its death may not be complete
        # yet (getppid() still names it while its last threads die), so do not ask.
        _remove_sockets(route)


def die_with_parent(parent: int, turret: Turret) -> None:
    """Kill the turret, as SIGTERM would, once process ``parent`` is gone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        asked = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) == 0
    except (OSError, AttributeError):
        asked = False
    if not asked:
        gevent.spawn(_watch_parent, parent, turret)
    if os.getppid() != parent:
        turret.request_kill("parent gone before the worker started")


def _remove_sockets(route: Route) -> None:
    """Remove the parent's ipc sockets, and their folder once it is empty."""
    paths = [Path(endpoint.removeprefix("ipc://")) for endpoint in (route.commands, route.statuses)]
    for path in paths:
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        paths[0].parent.rmdir()


def _watch_parent(parent: int, turret: Turret) -> None:
    while os.getppid() == parent:
        gevent.sleep(PARENT_CHECK_INTERVAL)
    turret.request_kill("parent gone")


if __name__ == "__main__":
    raise SystemExit(main())
