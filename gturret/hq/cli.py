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
from dataclasses import replace
from pathlib import Path

from gturret.errors import UsageError
from gturret.hq.interrupt import Interruption
from gturret.hq.journal import Journal
from gturret.hq.options import (
    OPTIONS,
    THRESHOLDS_HELP,
    VERDICT_HELP,
    HQOptions,
    add_arguments,
    options_from_args,
)
from gturret.hq.resume import OUTPUTS, options_from
from gturret.hq.run import report_journal, run_hq
from gturret.text import display, log_to_stderr
from gturret.version import version_line

log = logging.getLogger(__name__)

EPILOG = f"""\
{THRESHOLDS_HELP}

exit status:
{VERDICT_HELP};
  2 bad arguments, a port that cannot be bound, turrets that never reported
  (--wait-timeout), a report that could not be written, a journal that cannot be
  used (missing, foreign, of a newer gturret, corrupt, or of a run that ended);
  130 a signal before the test started, or a second signal (the turrets are told
  to stop; no reports).

journal: with a report asked for, the run is journaled beside the first one
  (report.html: report.journal) unless --journal PATH or --no-journal says
  otherwise; if this HQ dies, `gturret-hq --resume PATH` resumes the run and
  `gturret-hq report PATH [--json ...]` writes its reports again."""

#: The options ``gturret-hq report`` takes: where the reports go.
REPORT_OPTIONS = tuple(option for option in OPTIONS if option.setting in OUTPUTS)


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


def build_report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gturret-hq report",
        description="Write a finished run's summary and reports from its journal alone"
        " (without report flags: the reports the run itself wrote).",
    )
    parser.add_argument("journal", type=Path, metavar="PATH", help="the run's journal")
    add_arguments(parser, REPORT_OPTIONS)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        return _report(build_report_parser().parse_args(argv[1:]))
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    log_to_stderr(level)
    SIGNALS.starting()
    try:
        options = _resumed_options(args) if args.resume else _options(args)
    except UsageError as exc:
        print(f"gturret-hq: error: {display(str(exc))}", file=sys.stderr)
        return ExitStatus.USAGE
    except StartupInterrupted as exc:
        print(f"gturret-hq: {exc.signal_name} before the test started", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    interruption = Interruption("gturret-hq")
    interruption.install()
    return run_hq(options, interruption=interruption)


def _options(args: argparse.Namespace) -> HQOptions:
    """The run's options; journaled beside the first report unless told otherwise."""
    options = options_from_args(args, OPTIONS)
    if options.journal_path is None and not options.no_journal and options.reports:
        first = options.reports[0]
        options = replace(options, journal_path=first.with_name(first.stem + ".journal"))
    return options


def _given_outputs(args: argparse.Namespace) -> dict[str, object]:
    """The report options set on the command line (``resume.OUTPUTS``), parsed."""
    return {
        option.setting: option.parse(getattr(args, option.dest))
        for option in REPORT_OPTIONS
        if getattr(args, option.dest) != option.default
    }


def _resumed_options(args: argparse.Namespace) -> HQOptions:
    """The options of the run in ``--resume``'s journal, with the report flags given."""
    ignored = [
        option.flag
        for option in OPTIONS
        if option.setting not in (*OUTPUTS, "resume", "pub_port", "rc_port")
        and getattr(args, option.dest) != option.default
    ]
    if ignored:
        log.warning("--resume runs with the journal's settings: ignoring %s", ", ".join(ignored))
    journal = Journal.open(args.resume)
    try:
        return options_from(journal, resume=args.resume, **_given_outputs(args))
    finally:
        journal.release()


def _report(args: argparse.Namespace) -> int:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    log_to_stderr(level)
    try:
        outputs = _given_outputs(args)
    except UsageError as exc:
        print(f"gturret-hq report: error: {display(str(exc))}", file=sys.stderr)
        return ExitStatus.USAGE
    return report_journal(args.journal, **outputs)
