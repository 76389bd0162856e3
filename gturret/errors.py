"""Every error gturret raises on purpose, in one hierarchy.

Why one module: the CLI turns each of these into one line and an exit status, so
it must be able to tell "the user's input is wrong" (exit 2) from "the turret
broke" (exit 1) by class alone, without parsing messages.

::

    GturretError            base; never raised itself
    ├── UsageError          bad input the user can fix; exit 2
    │   ├── ConfigError     the turret config (file, keys, types, ranges)
    │   ├── TarError        a turret package (tar) that is unsafe or incomplete
    │   ├── ScriptError     the test script: syntax, import, no Transaction, __init__
    │   ├── FeederError     a feeder's file: missing row fields, no header, bad UTF-8;
    │   │                   a feed("name") the config lacks
    │   ├── KeyFileError    a CurveZMQ key file: missing, malformed, readable by others
    │   ├── HandshakeError  a peer that refused our keys, or our lack of them
    │   ├── ThresholdError  a ``gturret-hq --threshold`` expression it cannot read
    │   └── JournalError    a run journal that is missing, foreign, newer or corrupt
    ├── WireError           a frame from the HQ that is not a valid command;
    │                       logged and ignored, never fatal
    ├── SteeringError       a change the console asked for that the test cannot take
    │                       now; the request is refused, the test goes on
    └── HQError             our HQ could not run a test at all (a port it cannot
        │                   bind, turrets that never report); exit 2
        └── RunInterrupted  a signal before the test started; exit 130

    CanonInterrupted        raised by the watchdog inside a canon that held the loop;
                            an ``Exception``, so a script's handlers see an error
    FeederExhausted         raised by ``feed()`` when a ``unique`` feeder has no row
                            left: a ``BaseException``, so it ends the canon whatever
                            the script catches

Messages name the file and, where there is one, the key: a user must be able to
act on the line alone. The exit statuses these errors (and the verdict) lead to
are named once, in :class:`ExitStatus`; the text an exception a script raised
leaves in a result, once, in :func:`describe`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Every exit status of ``gturret`` and ``gturret-hq``, and what it means."""

    #: a turret killed by its HQ or a signal; a test that passed its verdict
    OK = 0
    #: a turret that broke (aborted, a worker died); a test that failed its verdict
    FAILED = 1
    #: bad usage, config, tar or script; our HQ could not run a test at all
    USAGE = 2
    #: a second SIGINT (a turret), a second signal (our HQ): out at once, without
    #: flushing or reports; our HQ interrupted before its test started (128 + SIGINT)
    INTERRUPTED = 130


class GturretError(Exception):
    """Base of every error gturret raises on purpose."""


class UsageError(GturretError):
    """Input the user can fix; the process cannot go on (exit status 2)."""


class ConfigError(UsageError):
    """A turret config that is missing, unreadable, or has a bad key."""


class TarError(UsageError):
    """A turret package that is unsafe to extract or lacks what it must hold."""


class ScriptError(UsageError):
    """A test script that cannot be imported or whose Transaction cannot be built."""


class FeederError(UsageError):
    """A feeder's file the turret cannot serve, found at start: one line names the file,
    the line and the problem."""


class KeyFileError(UsageError):
    """A CurveZMQ key file (or folder of them) that is missing, malformed or exposed."""


class HandshakeError(UsageError):
    """The HQ and this turret do not agree on keys: nothing can pass until one is fixed."""


class WireError(GturretError):
    """A frame from the HQ that is not a command this turret can read."""


class ThresholdError(UsageError):
    """A ``--threshold`` expression the HQ cannot parse."""


class JournalError(UsageError):
    """A run journal (``--journal``, ``--resume``, ``report``) that cannot be used."""


class JournalFull(JournalError):
    """No room for a new journal: the run goes on in memory (as when the disk fills
    mid-run), and the verdict says the journal is incomplete."""


class HQError(GturretError):
    """Our HQ could not run a test: no test ran, so no verdict (exit status 2)."""


class RunInterrupted(HQError):
    """SIGTERM or SIGINT before the test started: no test ran (exit status 130)."""


class SteeringError(GturretError):
    """A change the console (or its API) asked for that the test cannot take now: the
    request is refused with this message, and the test goes on unchanged."""


class CanonInterrupted(Exception):
    """Raised inside a canon that held the loop while the HQ or a signal wanted it.

    Not a :class:`GturretError`: it lands in the script, whose ``except Exception``
    must treat it as any error of its transaction (it is then counted in the result).
    """

    def __str__(self) -> str:
        return "interrupted: the script held the loop while a stop or kill was pending"


def describe(exc: BaseException) -> str:
    """The error text a result carries: ``str(exc)`` as OCT reports it, else the class.

    Exceptions that are not errors of the script's logic (SystemExit and the like)
    are named, since their text alone ("0") would mean nothing.
    """
    text = str(exc)
    if isinstance(exc, Exception):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class FeederExhausted(BaseException):
    """A ``unique`` feeder had no row left for a canon (``feeder``: its name).

    A ``BaseException``, like ``GreenletExit``: a script's ``except Exception`` must
    not turn the end of the data into one more failed transaction: the canon ends
    (and with ``stop_test`` our HQ ends the test).
    """

    def __init__(self, feeder: str, stop_test: bool) -> None:
        super().__init__(feeder)
        self.feeder = feeder
        self.stop_test = stop_test
