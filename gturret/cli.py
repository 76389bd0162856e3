"""The ``gturret`` command: parse arguments, load the config and script, run the turret.

Why the first lines are what they are: gevent must monkey-patch socket, ssl,
threading and time before anything imports them (requests, urllib3, the user's
script), whichever way gturret is started (console script, ``python -m gturret``).
So this module patches at import, before its other imports, and the package
``__init__`` imports nothing eagerly. This module decides the log format and turns
every UsageError into one line and exit status 2; it must never hide a traceback of
gturret's own bugs behind a friendly line.

Signals are handled from the first line (:mod:`gturret.signals`), before gevent
is even imported, so that SIGTERM at any moment of the start gives the documented
status.

Exit statuses: 0 killed (by the HQ or a signal, at any moment); 1 the turret broke
(aborted, or one of its ``--processes`` workers died); 2 bad usage, config, tar or
script; 130 a second SIGINT. With ``--standalone`` the in-process HQ's verdict
(:mod:`gturret.hq.verdict`): 0 passed, 1 failed (an interrupted test included), 2
bad usage, 130 interrupted before the test started or by a second signal.
"""

import sys

from gturret.errors import ExitStatus
from gturret.signals import ProcessSignals, StartupInterrupted

# The arguments are not parsed yet: a signal while gevent loads must already know
# whether it ends a turret (0, as a kill), or a standalone test with no verdict or a
# pack with no archive (130).
_NO_RESULT_IF_INTERRUPTED = "--standalone" in sys.argv or sys.argv[1:2] == ["pack"]
SIGNALS = ProcessSignals(
    "gturret", ExitStatus.INTERRUPTED if _NO_RESULT_IF_INTERRUPTED else ExitStatus.OK
)
SIGNALS.install()

from gevent import monkey  # noqa: E402

monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from contextlib import ExitStack  # noqa: E402

from gturret.config import load_config  # noqa: E402
from gturret.errors import UsageError  # noqa: E402
from gturret.feeders import scan_feeders  # noqa: E402
from gturret.fleet import Fleet, fleet_size  # noqa: E402
from gturret.hq.options import (  # noqa: E402
    TEST_OPTIONS,
    THRESHOLDS_HELP,
    VERDICT_HELP,
    add_arguments,
    given_test_options,
    options_from_args,
)
from gturret.overrides import add_override_arguments, export, given_overrides  # noqa: E402
from gturret.requirements import use_requirements  # noqa: E402
from gturret.script import prepare_factory  # noqa: E402
from gturret.startup import prepare_process  # noqa: E402
from gturret.tarball import ExtractedTar  # noqa: E402
from gturret.text import display, log_to_stderr  # noqa: E402
from gturret.turret import Turret  # noqa: E402
from gturret.version import version_line  # noqa: E402

log = logging.getLogger("gturret")


EPILOG = f"""\
`gturret pack CONFIG` builds a package for --tar on another machine (see
`gturret pack --help`).

{THRESHOLDS_HELP}

exit status:
  0 killed (by the HQ's kill, SIGTERM or SIGINT, at any moment); 1 the turret failed
  (aborted, or a --processes worker died); 2 bad usage, config, tar, script or key
  file, or keys that do not match the HQ's; 130 a second SIGINT.
exit status with --standalone:
{VERDICT_HELP};
  2 bad usage, config, tar or script, a port that cannot be bound, a report that
  could not be written; 130 a signal before the test started, or a second signal."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gturret",
        description="A gevent OCT turret: connects to an HQ and runs canons on its orders.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", help="turret config file (JSON)")
    parser.add_argument("--tar", help="turret package: a tar holding config.json and the script")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default INFO)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="worker processes sharing the canons, one gevent loop each; -1: one per core;"
        " the HQ still sees one turret (default 1: this process runs the canons)",
    )
    parser.add_argument("--version", action="version", version=version_line("gturret"))
    add_override_arguments(parser)
    standalone = parser.add_argument_group(
        "standalone run",
        "with --standalone the turret runs one test against gturret's own HQ in this\n"
        "process (loopback, ephemeral ports), prints a summary and exits with its\n"
        "verdict (see exit status below)",
    )
    standalone.add_argument(
        "--standalone", action="store_true", help="run one test with an in-process HQ"
    )
    add_arguments(standalone, TEST_OPTIONS)
    return parser


#: What is wrong when the config and --tar are both missing (False) or both given (True).
INPUT_PROBLEM = {
    False: "give a config file (gturret config.json) or --tar ARCHIVE (gturret --tar"
    " turret.tar.gz); gturret --help says more",
    True: "give a config file or --tar ARCHIVE, not both",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["pack"]:
        from gturret.pack import main as pack

        SIGNALS.startup_status = ExitStatus.INTERRUPTED
        SIGNALS.starting()
        try:
            return pack(argv[1:])
        except StartupInterrupted as exc:
            print(f"gturret pack: {exc.signal_name}: no archive written", file=sys.stderr)
            return ExitStatus.INTERRUPTED
    parser = build_parser()
    args = parser.parse_args(argv)
    log_to_stderr(args.log_level)
    if bool(args.config) == bool(args.tar):
        parser.print_usage(sys.stderr)
        print(f"gturret: error: {INPUT_PROBLEM[bool(args.config)]}", file=sys.stderr)
        return ExitStatus.USAGE
    if args.processes == 0 or args.processes < -1:
        print(
            "gturret: error: --processes must be 1 or more, or -1 (one per core)", file=sys.stderr
        )
        return ExitStatus.USAGE
    if args.standalone and args.processes != 1:
        print("gturret: error: --processes does not work with --standalone", file=sys.stderr)
        return ExitStatus.USAGE
    stray = [] if args.standalone else given_test_options(args)
    if stray:
        print(f"gturret: error: {', '.join(stray)} need --standalone", file=sys.stderr)
        return ExitStatus.USAGE
    SIGNALS.startup_status = ExitStatus.INTERRUPTED if args.standalone else ExitStatus.OK
    SIGNALS.starting()
    try:
        return _run(args)
    except StartupInterrupted as exc:
        log.info("%s during start-up: exiting", exc.signal_name)
        return SIGNALS.startup_status


def _run(args: argparse.Namespace) -> int:
    """Load, prepare and serve (or run the standalone test); the exit status."""
    with ExitStack() as cleanup:
        try:
            overrides = given_overrides(vars(args), os.environ)
            export(overrides)
            if args.tar:
                package = cleanup.enter_context(ExtractedTar(args.tar))
                config = load_config(package.config_path, overrides)
            else:
                config = load_config(args.config, overrides)
            for typo in config.typos:
                log.warning("%s", typo)
            options = options_from_args(args, TEST_OPTIONS, turrets=1, pub_port=0, rc_port=0)
            use_requirements(config.requirements, config.source)
            prepare_process(config.canons)
            factory = prepare_factory(config)
            feeder_files = scan_feeders(config.feeders)
        except UsageError as exc:
            print(f"gturret: error: {display(str(exc))}", file=sys.stderr)
            return ExitStatus.USAGE
        if args.standalone:
            # Only a standalone run loads our HQ (its statistics, reports, templates).
            from gturret.standalone import run_standalone

            return run_standalone(config, factory, options, feeder_files)
        processes = fleet_size(args.processes, config.canons)
        if processes < args.processes:
            log.info("%d canons: %d processes, not %d", config.canons, processes, args.processes)
        SIGNALS.handing_over()
        if processes > 1:
            for checked in feeder_files.values():
                checked.close()  # each worker scans and serves its own
            fleet = Fleet(config, processes, args.log_level)
            SIGNALS.serving(fleet.request_kill)
            return fleet.serve()
        turret = Turret(config, factory, feeder_files=feeder_files)
        SIGNALS.serving(turret.request_kill)
        return turret.serve()
    return ExitStatus.FAILED
