"""``gturret-hq``: run one load test with our own OCT-compatible HQ.

It monkey-patches with gevent before anything else is imported (the HQ's sockets
are ``zmq.green`` and may share the loop with a turret), turns arguments into
``HQOptions``, sets up logging (standard error) and returns ``run_hq``'s exit
status. It must never hold test logic: everything else lives in ``gturret.hq.run``.
"""

from gevent import monkey

monkey.patch_all()

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from gturret.errors import UsageError
from gturret.hq.options import LATE_START_MODES, HQOptions, parse_context, parse_duration
from gturret.hq.run import run_hq
from gturret.hq.thresholds import parse_thresholds

log = logging.getLogger(__name__)

EPILOG = """\
thresholds: [timer:NAME:]METRIC OP VALUE, e.g. p95<100ms, p99<=1s, error_rate<1%,
tx_per_s>=50, timer:login:p95<200ms. METRIC: p50 p90 p95 p99 p99.9 min mean max
(unit ms or s), error_rate (%), tx_per_s. OP: < <= > >=.

exit status: 0 passed; 1 failed: no transaction recorded, a turret killed, aborted
or not ready again after the stop, results lost, a failed transaction without an
error_rate threshold, or a failed threshold (the summary names each); 2 bad
arguments, a port that cannot be bound, turrets that never reported."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gturret-hq",
        description="An OCT-compatible HQ: drive turrets through one test, then report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pub",
        type=int,
        default=5000,
        metavar="PORT",
        help="port of the PUB socket, for commands (default 5000; 0: any)",
    )
    parser.add_argument(
        "--rc",
        type=int,
        default=5001,
        metavar="PORT",
        help="port of the PULL socket, for results (default 5001; 0: any)",
    )
    parser.add_argument(
        "--bind",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to bind (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--turrets",
        type=int,
        default=1,
        metavar="N",
        help="turrets to wait for before the start (default 1)",
    )
    parser.add_argument(
        "--wait-timeout",
        default="60s",
        metavar="DURATION",
        help="give up (exit 2) if the turrets have not reported by then (default 60s)",
    )
    parser.add_argument(
        "--late-start",
        choices=list(LATE_START_MODES),
        default="direct",
        help="how to start a turret that is ready during the run: direct (default), "
        "broadcast (use it with oct-turrets 0.2.8 turrets, which crash on any direct "
        "order), off",
    )
    add_test_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    return parser


def add_test_arguments(parser: argparse._ActionsContainer) -> None:
    """The options of one test run, shared with ``gturret --standalone``."""
    parser.add_argument(
        "--run-time",
        default="30s",
        metavar="DURATION",
        help="how long the test runs: 45, 30s, 2m, 1h, 1m30s (default 30s)",
    )
    parser.add_argument(
        "--drain-timeout",
        default="10s",
        metavar="DURATION",
        help="after stop, wait at most this long for turrets to be ready (default 10s)",
    )
    parser.add_argument(
        "--context",
        default="{}",
        metavar="JSON",
        help="JSON object sent with set_transaction_context (default {})",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="pass/fail rule, repeatable (see below)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    parser.add_argument("--html", type=Path, metavar="PATH", help="write the HTML report here")
    parser.add_argument("--no-progress", action="store_true", help="no live progress line")


def _report_path(path: Path | None, flag: str) -> Path | None:
    if path is not None and not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: the folder {path.parent} does not exist")
    return path


def options_from_args(args: argparse.Namespace, **fixed: Any) -> HQOptions:
    """HQOptions from parsed arguments (``fixed`` overrides); UsageError if one is wrong."""
    settings: dict[str, Any] = {
        "run_time": parse_duration(args.run_time, name="--run-time"),
        "context": parse_context(args.context),
        "thresholds": parse_thresholds(args.threshold),
        "json_path": _report_path(args.json, "--json"),
        "html_path": _report_path(args.html, "--html"),
        "drain_timeout": parse_duration(args.drain_timeout, name="--drain-timeout"),
        "progress": not args.no_progress,
    }
    if not fixed:
        settings.update(
            turrets=args.turrets,
            pub_port=args.pub,
            rc_port=args.rc,
            bind=args.bind,
            wait_timeout=parse_duration(args.wait_timeout, name="--wait-timeout"),
            late_start=args.late_start,
        )
    return HQOptions(**settings, **fixed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        options = options_from_args(args)
    except UsageError as exc:
        print(f"gturret-hq: error: {exc}", file=sys.stderr)
        return 2
    try:
        return run_hq(options)
    except KeyboardInterrupt:
        print("gturret-hq: interrupted before the test started", file=sys.stderr)
        return 130
