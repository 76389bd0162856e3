"""The settings of one HQ run, declared once, and the parsers for their text forms.

Why it exists: the ``gturret-hq`` CLI and the turret's ``--standalone`` mode both
build an :class:`HQOptions`. Every command-line option is declared once in
``OPTIONS``, with its flag, the setting it fills, its default and its meaning, as
``gturret.config.SETTINGS`` declares the turret's settings; ``test`` marks those of
one test, which ``gturret --standalone`` takes too. Validation lives here so both
get the same checks and the same messages. It must never touch a socket or the clock.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
  the turrets' metrics take no timer:. OP: < <= > >=."""

#: The verdict's exit statuses, every rule of ``gturret.hq.verdict`` named, as both
#: commands' ``--help`` shows them (README's "The verdict" uses the same words).
VERDICT_HELP = """\
  0 passed; 1 failed, by any rule of the verdict (the summary names each): the test
  was interrupted (SIGTERM or SIGINT: the turrets are stopped and every report
  written); no transaction was recorded; a turret died (killed, aborted, not ready
  again after the stop, or already running before this HQ: restarted?); results
  were lost; canons starved (never completed a transaction); the schedule was not
  kept (open model: transactions dropped, too late to start); a transaction failed
  (without an error_rate threshold); messages were rejected (malformed, out of
  range, past a cap, or left unread); a threshold failed"""

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
class HQOptions:
    """Everything one HQ run needs; ports 0 mean "any free port" (see ``on_bound``).

    ``out`` is where progress and the summary go (``None``: standard output).
    ``late_start`` is what a turret that reports ``ready`` during the run gets: see
    ``LATE_START_MODES``.
    """

    turrets: int = 1
    run_time: float = 30.0
    pub_port: int = 5000
    rc_port: int = 5001
    bind: str = "127.0.0.1"
    context: dict[str, Any] = field(default_factory=dict)
    thresholds: tuple[Threshold, ...] = ()
    json_path: Path | None = None
    html_path: Path | None = None
    junit_path: Path | None = None
    csv_prefix: Path | None = None
    metrics_port: int | None = None
    metrics_bind: str = "127.0.0.1"
    wait_timeout: float = 60.0
    drain_timeout: float = 10.0
    late_start: str = "direct"
    arrival_rate: float = 0.0
    per_result: bool = False
    status_interval: float = 1.0
    progress: bool = True
    progress_interval: float = 5.0
    out: TextIO | None = None
    secret_key: KeyPair | None = None
    turret_keys: TurretKeyFolder | None = None

    def __post_init__(self) -> None:
        if self.turrets < 1:
            raise UsageError(f"turrets must be at least 1, not {self.turrets}")
        for name in ("pub_port", "rc_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise UsageError(f"{name} must be a TCP port (0-65535, 0: any free), not {port}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            port = self.metrics_port
            raise UsageError(f"metrics_port must be a TCP port (0-65535, 0: any free), not {port}")
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
        for name in ("bind", "metrics_bind"):
            if not getattr(self, name):
                raise UsageError(f"{name} must be an IP address, e.g. 127.0.0.1")
        if (self.secret_key is None) != (self.turret_keys is None):
            raise UsageError(
                "--secret-key and --turret-keys go together: the HQ's key pair, and the"
                " folder of the turret public keys it accepts"
            )

    @property
    def keys(self) -> HQKeys | None:
        """The CurveZMQ keys of this HQ, or None for plain ZeroMQ (as the reference HQ)."""
        if self.secret_key is None or self.turret_keys is None:
            return None
        return HQKeys(self.secret_key, self.turret_keys)


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option: the HQOptions ``setting`` it fills and how.

    ``action`` is argparse's (``store``, ``store_true``, ``append``); ``parse`` turns
    the parsed value into the setting (UsageError, one line, if it cannot).
    """

    flag: str
    setting: str
    default: Any
    help: str
    parse: Callable[[Any], Any]
    metavar: str | None = None
    action: str = "store"
    test: bool = False
    choices: tuple[str, ...] | None = None
    argtype: Callable[[str], Any] | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


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


def _same(value: Any) -> Any:
    return value


OPTIONS = (
    Option(
        "--pub",
        "pub_port",
        5000,
        "port of the PUB socket, for commands (default 5000; 0: any)",
        _same,
        "PORT",
        argtype=int,
    ),
    Option(
        "--rc",
        "rc_port",
        5001,
        "port of the PULL socket, for results (default 5001; 0: any)",
        _same,
        "PORT",
        argtype=int,
    ),
    Option(
        "--bind",
        "bind",
        "127.0.0.1",
        "address to bind (default 127.0.0.1; 0.0.0.0 for every interface)",
        _same,
        "ADDR",
    ),
    Option(
        "--secret-key",
        "secret_key",
        None,
        "this HQ's key pair (NAME.key_secret from gturret-keys, mode 600): commands and"
        " results then go over CurveZMQ only; needs --turret-keys",
        lambda path: None if path is None else read_key_pair(path),
        "PATH",
        argtype=Path,
    ),
    Option(
        "--turret-keys",
        "turret_keys",
        None,
        "folder of the turret public keys (*.key) this HQ accepts; needs --secret-key",
        lambda path: None if path is None else read_turret_keys(path),
        "FOLDER",
        argtype=Path,
    ),
    Option(
        "--turrets",
        "turrets",
        1,
        "turrets to wait for before the start (default 1)",
        _same,
        "N",
        argtype=int,
    ),
    Option(
        "--wait-timeout",
        "wait_timeout",
        "60s",
        "give up (exit 2) if the turrets have not reported by then (default 60s)",
        _duration("--wait-timeout"),
        "DURATION",
    ),
    Option(
        "--late-start",
        "late_start",
        "direct",
        "how to start a turret that is ready during the run: direct (default), broadcast "
        "(use it with oct-turrets 0.2.8 turrets, which crash on any direct order), off",
        _same,
        choices=tuple(LATE_START_MODES),
    ),
    Option(
        "--arrival-rate",
        "arrival_rate",
        0.0,
        "transactions per second for the whole fleet (the open model), split over our"
        " turrets by their share of the canons; 0 (default): each turret's own config",
        _same,
        "R",
        test=True,
        argtype=float,
    ),
    Option(
        "--run-time",
        "run_time",
        "30s",
        "how long the test runs: 45, 30s, 2m, 1h, 1m30s (default 30s)",
        _duration("--run-time"),
        "DURATION",
        test=True,
    ),
    Option(
        "--drain-timeout",
        "drain_timeout",
        "10s",
        "after stop, wait at most this long for turrets to be ready (default 10s)",
        _duration("--drain-timeout"),
        "DURATION",
        test=True,
    ),
    Option(
        "--context",
        "context",
        "{}",
        "JSON object sent with set_transaction_context (default {})",
        lambda text: parse_context(text),
        "JSON",
        test=True,
    ),
    Option(
        "--threshold",
        "thresholds",
        [],
        "pass/fail rule, repeatable: p95<100ms, error_rate<1%%, ... (see thresholds below)",
        parse_thresholds,
        "EXPR",
        action="append",
        test=True,
    ),
    Option(
        "--json",
        "json_path",
        None,
        "write the JSON report here",
        _report_path("--json"),
        "PATH",
        test=True,
        argtype=Path,
    ),
    Option(
        "--html",
        "html_path",
        None,
        "write the HTML report here",
        _report_path("--html"),
        "PATH",
        test=True,
        argtype=Path,
    ),
    Option(
        "--junit",
        "junit_path",
        None,
        "write the verdict as JUnit XML here: one testcase per threshold and per rule",
        _report_path("--junit"),
        "PATH",
        test=True,
        argtype=Path,
    ),
    Option(
        "--csv",
        "csv_prefix",
        None,
        "write PREFIX_stats.csv, PREFIX_history.csv and PREFIX_errors.csv (PREFIX a"
        " folder, or ending in /: gturret_stats.csv and so on inside it)",
        _csv_prefix,
        "PREFIX",
        test=True,
    ),
    Option(
        "--metrics-port",
        "metrics_port",
        None,
        "serve live metrics in the Prometheus text format on this port while the test"
        " runs (http://ADDR:PORT/metrics; 0: any free port, logged)",
        _same,
        "PORT",
        test=True,
        argtype=int,
    ),
    Option(
        "--metrics-bind",
        "metrics_bind",
        "127.0.0.1",
        "address for --metrics-port (default 127.0.0.1; 0.0.0.0 for every interface)",
        _same,
        "ADDR",
        test=True,
    ),
    Option(
        "--per-result",
        "per_result",
        False,
        "ask our turrets for every result, as the reference HQ gets them, rather than one"
        " aggregated message a second (the default: exact percentiles at a fraction of"
        " the cost)",
        _same,
        action="store_true",
        test=True,
    ),
    Option(
        "--no-progress",
        "progress",
        False,
        "no live progress line",
        lambda given: not given,
        action="store_true",
        test=True,
    ),
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
