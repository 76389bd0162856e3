"""``gturret-hq``: run one load test with our own OCT-compatible HQ.

It monkey-patches with gevent before anything else is imported (the HQ's sockets
are ``zmq.green`` and may share the loop with a turret), turns arguments into
``HQOptions``, sets up logging (standard error) and returns ``run_hq``'s exit
status. It must never hold test logic: everything else lives in ``gturret.hq.run``.
Signals: from the first line a signal exits 130 with one line (nothing has started,
:mod:`gturret.signals`); once the HQ runs, the first ends the test early and the
second exits at once (:mod:`gturret.hq.interrupt`).
"""

from gturret.errors import ExitStatus
from gturret.signals import ProcessSignals, StartupInterrupted

SIGNALS = ProcessSignals("gturret-hq", ExitStatus.INTERRUPTED)
SIGNALS.install()

from gevent import monkey

monkey.patch_all()

import argparse
import logging
import sys

from gturret.errors import UsageError
from gturret.hq.interrupt import Interruption
from gturret.hq.options import (
    OPTIONS,
    THRESHOLDS_HELP,
    VERDICT_HELP,
    add_arguments,
    options_from_args,
)
from gturret.hq.run import run_hq
from gturret.text import display, log_to_stderr
from gturret.version import version_line

log = logging.getLogger(__name__)

EPILOG = f"""\
{THRESHOLDS_HELP}

exit status:
{VERDICT_HELP};
  2 bad arguments, a port that cannot be bound, turrets that never reported
  (--wait-timeout), a report that could not be written; 130 a signal before the
  test started, or a second signal (the turrets are told to stop; no reports)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gturret-hq",
        description="An OCT-compatible HQ: drive turrets through one test, then report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser, OPTIONS)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    parser.add_argument("--version", action="version", version=version_line("gturret-hq"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    log_to_stderr(level)
    SIGNALS.starting()
    try:
        options = options_from_args(args, OPTIONS)
    except UsageError as exc:
        print(f"gturret-hq: error: {display(str(exc))}", file=sys.stderr)
        return ExitStatus.USAGE
    except StartupInterrupted as exc:
        print(f"gturret-hq: {exc.signal_name} before the test started", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    interruption = Interruption("gturret-hq")
    interruption.install()
    return run_hq(options, interruption=interruption)
