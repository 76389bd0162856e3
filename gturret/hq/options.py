"""The settings of one HQ run, declared once, and the parsers for their text forms.

Why it exists: the ``gturret-hq`` CLI and the turret's ``--standalone`` mode both
build an :class:`HQOptions`. Every command-line option is declared once, as the
HQOptions field it fills, with its flag, its default (as typed: the field's is that
parsed, and ``--help`` shows it) and its meaning; ``OPTIONS`` is read from those
fields, as ``gturret.config.SETTINGS`` declares the turret's settings; ``test`` marks
those of one test, which ``gturret --standalone`` takes too. Validation lives here so both
get the same checks and the same messages. It must never touch a socket or the clock.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TextIO

from gturret.errors import UsageError, WireError
from gturret.hq.reportfile import check_report_path, csv_paths, csv_prefix
from gturret.hq.thresholds import Threshold, parse_thresholds
from gturret.keys import HQKeys, KeyPair, TurretKeyFolder, read_key_pair, read_turret_keys
from gturret.wire import decode_message

LATE_START_MODES = {
    "direct": "context and start as direct orders to the turret's uuid (default)",
    "broadcast": "context and start broadcast again; running turrets ignore them. Use it "
    "when oct-turrets 0.2.8 turrets are in the fleet: any direct order, even one meant "
    "for another turret, makes them crash",
    "off": "never start a turret after the start, like the reference HQ",
}

#: The threshold grammar as both commands' ``--help`` shows it (gturret-hq, and gturret
#: for --standalone); ``gturret.hq.thresholds`` parses it.
THRESHOLDS_HELP = """\
thresholds (--threshold EXPR, repeatable): [timer:NAME:]METRIC OP VALUE, e.g.
  p95<100ms, p99<=1s, error_rate<1%, tx_per_s>=50, timer:login:p95<200ms,
  loop_lag_p99<20ms, rss_growth<100MB. METRIC: p50 p90 p95 p99 p99.9 min mean max
  (unit ms or s), error_rate (%), tx_per_s, loop_lag_p99 loop_lag_max (how late the
  turrets' loops woke; ms or s), rss_max rss_growth (a turret's memory; MB or GB);
  the turrets' metrics take no timer:. OP: < <= > >=. A suffix :abort (or
  :abort:30s, from 30 s on) also judges it each second over the run so far and
  stops the test when it fails: p99<500ms:abort."""

#: The verdict's exit statuses, every rule of ``gturret.hq.verdict`` named, as both
#: commands' ``--help`` shows them (docs/hq.md's "The verdict" uses the same words).
VERDICT_HELP = """\
  0 passed; 1 failed, by any rule of the verdict (the summary names each): the test
  was interrupted (SIGTERM or SIGINT: the turrets are stopped and every report
  written); no transaction was recorded; a turret died (killed, aborted, not ready
  again after the stop, or already running before this HQ: restarted?); results
  were lost; canons starved (never completed a transaction); the schedule was not
  kept (open model: transactions dropped, too late to start); a transaction failed
  (without an error_rate threshold); messages were rejected (malformed, out of
  range, past a cap, or left unread); the journal does not hold the whole run
  (messages a turret sent never received, or the journal could not be written); a
  threshold failed"""

#: The shortest ``--web-token`` taken: a guessable token guards nothing.
MIN_WEB_TOKEN = 16

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, *, name: str = "duration") -> float:
    """Seconds from ``"30s"``, ``"2m"``, ``"1h"``, ``"1m30s"``, ``"250ms"`` or plain ``"45"``."""
    compact = text.strip().replace(" ", "")
    try:
        seconds = float(compact)
    except ValueError:
        parts = _DURATION_PART.findall(compact)
        if not parts or "".join(number + unit for number, unit in parts) != compact:
            raise UsageError(
                f"{name} {text!r} is not a duration: use seconds (45), or 30s, 2m, 1h, 1m30s"
            ) from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{name} {text!r} must be a positive duration")
    return seconds


def parse_context(text: str) -> dict[str, Any]:
    """The ``--context`` JSON object handed to every Transaction."""
    try:
        return decode_message(text.encode())
    except WireError as exc:
        raise UsageError(f"--context: {exc}; give a JSON object, e.g. '{{}}'") from None


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option: the HQOptions ``setting`` it fills and how.

    ``default`` is the flag's, as typed (``"30s"``); the setting's default is
    ``parse(default)``, and ``--help`` shows it where ``help`` says ``%(default)s``.
    ``action`` is argparse's (``store``, ``store_true``, ``append``); ``parse`` turns
    the parsed value into the setting (UsageError, one line, if it cannot).
    """

    flag: str
    default: Any
    help: str
    parse: Callable[[Any], Any]
    metavar: str | None = None
    action: str = "store"
    test: bool = False
    choices: tuple[str, ...] | None = None
    argtype: Callable[[str], Any] | None = None
    #: The HQOptions field it fills: the name of the field that declares it.
    setting: str = ""

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


#: The key under which an HQOptions field's metadata holds its Option.
_OPTION = "option"


def _option(
    flag: str,
    default: Any,
    help: str,
    parse: Callable[[Any], Any] = lambda value: value,
    metavar: str | None = None,
    **more: Any,
) -> Any:
    """An HQOptions field (a ``dataclasses.field``) filled by ``flag``: its default is
    the flag's, parsed, so it is written once, as a person types it."""
    declared = Option(flag, default, help, parse, metavar, **more)
    return field(default_factory=lambda: parse(default), metadata={_OPTION: declared})


def _duration(flag: str) -> Callable[[str], float]:
    return lambda text: parse_duration(text, name=flag)


def _report_path(flag: str) -> Callable[[Path | None], Path | None]:
    def check(path: Path | None) -> Path | None:
        if path is not None:
            check_report_path(flag, path)
        return path

    return check


def _csv_prefix(text: str | None) -> Path | None:
    """``--csv``'s prefix (a folder: ``FOLDER/gturret``), each of its files checked."""
    if text is None:
        return None
    prefix = csv_prefix(text)
    for path in csv_paths(prefix):
        check_report_path("--csv", path)
    return prefix


@dataclass(frozen=True, slots=True)
class HQOptions:
    """Everything one HQ run needs; ports 0 mean "any free port" (see ``on_bound``).

    Each setting a flag fills is declared here once, with its flag (``OPTIONS``, in
    this order, is read from these fields). ``out`` is where progress and the summary
    go (``None``: standard output). ``late_start`` is what a turret that reports
    ``ready`` during the run gets: see ``LATE_START_MODES``.
    """

    pub_port: int = _option(
        "--pub",
        5000,
        "port of the PUB socket, for commands (default %(default)s; 0: any)",
        metavar="PORT",
        argtype=int,
    )
    rc_port: int = _option(
        "--rc",
        5001,
        "port of the PULL socket, for results (default %(default)s; 0: any)",
        metavar="PORT",
        argtype=int,
    )
    bind: str = _option(
        "--bind",
        "127.0.0.1",
        "address to bind (default %(default)s; 0.0.0.0 for every interface)",
        metavar="ADDR",
    )
    secret_key: KeyPair | None = _option(
        "--secret-key",
        None,
        "this HQ's key pair (NAME.key_secret from gturret-keys, mode 600): commands and"
        " results then go over CurveZMQ only; needs --turret-keys",
        lambda path: None if path is None else read_key_pair(path),
        "PATH",
        argtype=Path,
    )
    turret_keys: TurretKeyFolder | None = _option(
        "--turret-keys",
        None,
        "folder of the turret public keys (*.key) this HQ accepts; needs --secret-key",
        lambda path: None if path is None else read_turret_keys(path),
        "FOLDER",
        argtype=Path,
    )
    turrets: int = _option(
        "--turrets",
        1,
        "turrets to wait for before the start (default %(default)s)",
        metavar="N",
        argtype=int,
    )
    wait_timeout: float = _option(
        "--wait-timeout",
        "60s",
        "give up (exit 2) if the turrets have not reported by then (default %(default)s)",
        _duration("--wait-timeout"),
        "DURATION",
    )
    late_start: str = _option(
        "--late-start",
        "direct",
        "how to start a turret that is ready during the run: %(default)s (default), broadcast "
        "(use it with oct-turrets 0.2.8 turrets, which crash on any direct order), off",
        choices=tuple(LATE_START_MODES),
    )
    arrival_rate: float = _option(
        "--arrival-rate",
        0.0,
        "transactions per second for the whole fleet (the open model), split over our"
        " turrets by their share of the canons; %(default)g (default): each turret's own"
        " config",
        metavar="R",
        test=True,
        argtype=float,
    )
    feeder_reserve: int = _option(
        "--feeder-reserve",
        0,
        "canons' worth of each fleet feeder's rows kept back at the start for turrets"
        " that join late (docs/feeders.md); %(default)s (default): every row goes to the"
        " turrets present at the start",
        metavar="CANONS",
        argtype=int,
    )
    run_time: float = _option(
        "--run-time",
        "30s",
        "how long the test runs: 45, 30s, 2m, 1h, 1m30s (default %(default)s)",
        _duration("--run-time"),
        "DURATION",
        test=True,
    )
    drain_timeout: float = _option(
        "--drain-timeout",
        "10s",
        "after stop, wait at most this long for turrets to be ready (default %(default)s)",
        _duration("--drain-timeout"),
        "DURATION",
        test=True,
    )
    kill_turrets: bool = _option(
        "--kill-turrets",
        False,
        "when the test is over, send every turret the OCT kill, so each exits 0 (a"
        " container stops, a Kubernetes Job completes) rather than waiting for the next test",
        action="store_true",
    )
    context: dict[str, Any] = _option(
        "--context",
        "{}",
        "JSON object sent with set_transaction_context (default %(default)s)",
        parse_context,
        "JSON",
        test=True,
    )
    thresholds: tuple[Threshold, ...] = _option(
        "--threshold",
        [],
        "pass/fail rule, repeatable: p95<100ms, error_rate<1%%, ... (see thresholds below)",
        parse_thresholds,
        "EXPR",
        action="append",
        test=True,
    )
    json_path: Path | None = _option(
        "--json",
        None,
        "write the JSON report here",
        _report_path("--json"),
        "PATH",
        test=True,
        argtype=Path,
    )
    html_path: Path | None = _option(
        "--html",
        None,
        "write the HTML report here",
        _report_path("--html"),
        "PATH",
        test=True,
        argtype=Path,
    )
    junit_path: Path | None = _option(
        "--junit",
        None,
        "write the verdict as JUnit XML here: one testcase per threshold and per rule",
        _report_path("--junit"),
        "PATH",
        test=True,
        argtype=Path,
    )
    csv_prefix: Path | None = _option(
        "--csv",
        None,
        "write PREFIX_stats.csv, PREFIX_history.csv, PREFIX_errors.csv and"
        " PREFIX_feeders.csv (PREFIX a"
        " folder, or ending in /: gturret_stats.csv and so on inside it)",
        _csv_prefix,
        "PREFIX",
        test=True,
    )
    metrics_port: int | None = _option(
        "--metrics-port",
        None,
        "serve live metrics in the Prometheus text format on this port while the test"
        " runs (http://ADDR:PORT/metrics; 0: any free port, logged)",
        metavar="PORT",
        test=True,
        argtype=int,
    )
    metrics_bind: str = _option(
        "--metrics-bind",
        "127.0.0.1",
        "address for --metrics-port (default %(default)s; 0.0.0.0 for every interface)",
        metavar="ADDR",
        test=True,
    )
    web_port: int | None = _option(
        "--web",
        None,
        "serve the live console on this port (http://ADDR:PORT/): watch the test, start"
        " and stop it, change its arrival rate and our turrets' canons; the test waits"
        " for Start there unless --autostart (0: any free port, logged)",
        metavar="PORT",
        test=True,
        argtype=int,
    )
    web_bind: str = _option(
        "--web-bind",
        "127.0.0.1",
        "address for --web (default %(default)s); any other needs a token: --web-token,"
        " or one generated and printed once with the console's address",
        metavar="ADDR",
        test=True,
    )
    web_token: str | None = _option(
        "--web-token",
        None,
        "the token every change through the console needs (at least 16 characters);"
        " without it, a --web-bind other than 127.0.0.1 gets a generated one",
        metavar="TOKEN",
        test=True,
    )
    autostart: bool = _option(
        "--autostart",
        False,
        "with --web: start the test at once, as without a console (which then watches,"
        " stops and steers it)",
        action="store_true",
        test=True,
    )
    per_result: bool = _option(
        "--per-result",
        False,
        "ask our turrets for every result, as the reference HQ gets them, rather than one"
        " aggregated message a second (the default: exact percentiles at a fraction of"
        " the cost)",
        action="store_true",
        test=True,
    )
    progress: bool = _option(
        "--no-progress",
        False,
        "no live progress line",
        lambda given: not given,
        action="store_true",
        test=True,
    )
    journal_path: Path | None = _option(
        "--journal",
        None,
        "journal the run to this SQLite file, to resume it (--resume) or report it"
        " (gturret-hq report) if this HQ dies; gturret-hq journals beside the first"
        " report by default (docs/journal.md)",
        metavar="PATH",
        test=True,
        argtype=Path,
    )
    no_journal: bool = _option(
        "--no-journal",
        False,
        "do not journal the run (gturret-hq's default journal beside the reports)",
        action="store_true",
    )
    resume: Path | None = _option(
        "--resume",
        None,
        "resume the run of this journal after its HQ died: same ports and settings,"
        " to its original end, then report the whole run (report flags may be given)",
        metavar="PATH",
        argtype=Path,
    )
    status_interval: float = 1.0
    progress_interval: float = 5.0
    out: TextIO | None = None

    def __post_init__(self) -> None:
        if self.turrets < 1:
            raise UsageError(f"turrets must be at least 1, not {self.turrets}")
        if self.feeder_reserve < 0:
            raise UsageError(f"feeder_reserve must be 0 or more canons, not {self.feeder_reserve}")
        for name in ("pub_port", "rc_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise UsageError(f"{name} must be a TCP port (0-65535, 0: any free), not {port}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            port = self.metrics_port
            raise UsageError(f"metrics_port must be a TCP port (0-65535, 0: any free), not {port}")
        if self.web_port is not None and not 0 <= self.web_port <= 65535:
            raise UsageError(
                f"--web must be a TCP port (0-65535, 0: any free), not {self.web_port}"
            )
        if self.web_token is not None and len(self.web_token) < MIN_WEB_TOKEN:
            raise UsageError(
                f"--web-token must be at least {MIN_WEB_TOKEN} characters: it is all that"
                " stands between the network and the test's controls"
            )
        if self.pub_port and self.pub_port == self.rc_port:
            raise UsageError(f"the PUB and PULL ports must differ (both are {self.pub_port})")
        for name in (
            "run_time",
            "wait_timeout",
            "drain_timeout",
            "status_interval",
            "progress_interval",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise UsageError(f"{name} must be a positive number of seconds, not {value}")
        if not math.isfinite(self.arrival_rate) or self.arrival_rate < 0:
            raise UsageError(
                f"arrival_rate must be 0 or more transactions/s, not {self.arrival_rate}"
            )
        if self.late_start not in LATE_START_MODES:
            modes = ", ".join(LATE_START_MODES)
            raise UsageError(f"late_start must be one of {modes}, not {self.late_start!r}")
        for name in ("bind", "metrics_bind", "web_bind"):
            if not getattr(self, name):
                raise UsageError(f"{name} must be an IP address, e.g. 127.0.0.1")
        if self.no_journal and self.journal_path is not None:
            raise UsageError("--journal and --no-journal contradict each other: give one")
        if (self.secret_key is None) != (self.turret_keys is None):
            raise UsageError(
                "--secret-key and --turret-keys go together: the HQ's key pair, and the"
                " folder of the turret public keys it accepts"
            )

    @property
    def reports(self) -> tuple[Path, ...]:
        """The report files asked for, in the order of their flags (the CSV by prefix)."""
        paths = (self.json_path, self.html_path, self.junit_path, self.csv_prefix)
        return tuple(path for path in paths if path is not None)

    @property
    def keys(self) -> HQKeys | None:
        """The CurveZMQ keys of this HQ, or None for plain ZeroMQ (as the reference HQ)."""
        if self.secret_key is None or self.turret_keys is None:
            return None
        return HQKeys(self.secret_key, self.turret_keys)


#: Every command-line option of ``gturret-hq``, in the order of the fields declaring them.
OPTIONS = tuple(
    replace(declared.metadata[_OPTION], setting=declared.name)
    for declared in fields(HQOptions)
    if _OPTION in declared.metadata
)
#: The options of one test, which ``gturret --standalone`` takes too.
TEST_OPTIONS = tuple(option for option in OPTIONS if option.test)


def add_arguments(parser: argparse._ActionsContainer, options: Iterable[Option]) -> None:
    """Declare ``options`` on an argparse parser or group."""
    for option in options:
        settings: dict[str, Any] = {"default": option.default, "help": option.help}
        if option.action != "store_true":
            settings["metavar"] = option.metavar
        if option.argtype is not None:
            settings["type"] = option.argtype
        if option.choices:
            settings["choices"] = list(option.choices)
        parser.add_argument(option.flag, action=option.action, **settings)


def options_from_args(
    args: argparse.Namespace, options: Iterable[Option], **fixed: Any
) -> HQOptions:
    """HQOptions from parsed ``args`` for ``options`` (``fixed`` overrides); UsageError."""
    settings = {option.setting: option.parse(getattr(args, option.dest)) for option in options}
    settings.update(fixed)
    return HQOptions(**settings)


def given_test_options(args: argparse.Namespace) -> list[str]:
    """The flags of TEST_OPTIONS set to something other than their default."""
    return [option.flag for option in TEST_OPTIONS if getattr(args, option.dest) != option.default]
