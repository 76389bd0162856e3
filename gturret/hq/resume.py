"""A run rebuilt from its journal: its settings, and its session replayed.

Why it exists: ``gturret-hq --resume PATH`` and ``gturret-hq report PATH`` both start
from a journal (:mod:`gturret.hq.journal`) and need the run as it was: the
HQOptions it ran with (``settings_of`` writes them, ``options_from`` reads them
back, with the report paths of the command line in place of the journal's), and
the statistics, roster, ledger and series rebuilt by replaying every entry through
a :class:`~gturret.hq.session.Session` (``replay``), so nothing is computed twice
in two ways. It must never touch a socket: the caller binds and drives.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from gturret.errors import JournalError, UsageError
from gturret.hq.journal import Journal, Kind
from gturret.hq.options import HQOptions
from gturret.hq.session import Session
from gturret.hq.thresholds import parse_thresholds
from gturret.keys import read_key_pair, read_turret_keys

#: The HQOptions fields the journal keeps as paths (text), and those it never keeps
#: (where output goes, and how this HQ process was asked to run).
_PATHS = ("json_path", "html_path", "junit_path", "csv_prefix", "journal_path")
_NOT_KEPT = ("out", "resume", "no_journal")
#: The fields a ``--resume`` or ``report`` command line may set in place of the journal's.
OUTPUTS = ("json_path", "html_path", "junit_path", "csv_prefix", "progress")


def settings_of(options: HQOptions, ports: tuple[int, int]) -> dict[str, Any]:
    """``options`` as the journal keeps them (JSON), with the ports actually bound."""
    settings: dict[str, Any] = {}
    for declared in fields(HQOptions):
        name = declared.name
        value = getattr(options, name)
        if name in _NOT_KEPT:
            continue
        if name in _PATHS:
            value = None if value is None else str(value)
        elif name == "thresholds":
            value = [threshold.expression for threshold in value]
        elif name == "secret_key":
            value = None if value is None else str(value.path)
        elif name == "turret_keys":
            value = None if value is None else str(value.folder)
        settings[name] = value
    settings["pub_port"], settings["rc_port"] = ports
    return settings


def options_from(journal: Journal, **given: Any) -> HQOptions:
    """The HQOptions the journal's run ran with; ``given`` (``OUTPUTS``) replace its own.

    JournalError if its settings cannot be read back (keys moved, a foreign layout)."""
    settings = dict(journal.meta("settings"))
    try:
        for name in _PATHS:
            if settings.get(name) is not None:
                settings[name] = Path(settings[name])
        settings["thresholds"] = parse_thresholds(settings["thresholds"])
        if settings.get("secret_key") is not None:
            settings["secret_key"] = read_key_pair(Path(settings["secret_key"]))
        if settings.get("turret_keys") is not None:
            settings["turret_keys"] = read_turret_keys(Path(settings["turret_keys"]))
        options = HQOptions(**settings)
    except (UsageError, KeyError, TypeError) as exc:
        raise JournalError(f"{journal.path}: its settings cannot be used: {exc}") from None
    return replace(options, **given)


def replay(journal: Journal, session: Session, base: float) -> None:
    """Feed every entry of ``journal`` to ``session`` as it first came, on a clock
    whose ``base`` is the journal's epoch. What the session logs meanwhile is of the
    past (the HQ that wrote the journal said it): silenced."""
    logging.disable(logging.WARNING)
    try:
        _replay(journal, session, base)
    finally:
        logging.disable(logging.NOTSET)


def _replay(journal: Journal, session: Session, base: float) -> None:
    for entry in journal.entries():
        if entry.kind in (Kind.STATUS, Kind.DATA) and entry.raw is not None:
            session.take(entry.raw, base + entry.at)
        elif entry.kind == Kind.RESULTS:
            for at, raw in Journal.results(entry):
                session.take(raw, base + at)
        elif entry.kind == Kind.SAMPLE:
            value = entry.value if entry.value is not None and entry.value >= 0 else None
            session.sample(entry.at, value)
        elif entry.kind == Kind.EVENT and entry.raw is not None:
            event = json.loads(entry.raw)
            if event.get("event") == "start":
                session.started(base + event["t0"], event["started_at"])
            elif event.get("event") == "stop":
                session.stopped(base + entry.at)
            elif event.get("event") == "late_start":
                session.started_late(event["uuid"], base + entry.at)
