"""The run's journal: one SQLite file from which the run can be resumed or reported.

Why it exists: the HQ holds a run in memory; a journal makes the run outlive its
HQ process. It holds the run's settings (``meta``), each turret as the roster knows
it (``turrets``), and, in order (``entries``), what the session took in: every status
and every accepted data message (an interval, or a result with ``--per-result``)
as received with its ``sender`` and ``seq``, each sample of the per-second series,
and the events (start, late starts, warnings, the end). Replaying the entries
through a :class:`~gturret.hq.session.Session` gives the same statistics, roster and
series as the run that wrote them: that is how ``--resume`` and ``gturret-hq report``
rebuild a run (:mod:`gturret.hq.resume`), and why the outputs never read this file.

Writes are batched: the session adds entries to a list in memory and commits them
at most once a second (``COMMIT_S``) and at the end, in one transaction on gevent's
threadpool (SQLite blocks its thread: the loop keeps serving the turrets meanwhile).
WAL mode, so a commit that a SIGKILL cuts leaves the last committed state whole. A
commit that fails (a full disk, an I/O error) is warned about once: the HQ then runs
on in memory, and the verdict says the journal is incomplete. It must never raise
into the session once open, and is the only writer of its file.
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import gevent

from gturret.errors import JournalError, JournalFull
from gturret.text import valid_unicode

log = logging.getLogger(__name__)

#: The version of this file's layout, in ``PRAGMA user_version``: a newer one is refused.
SCHEMA_VERSION = 1
#: ``PRAGMA application_id``: "gtrj", so a foreign SQLite file is told apart.
APPLICATION_ID = 0x6774726A
#: The longest time entries stay in memory before they are committed.
COMMIT_S = 1.0
#: How long a commit waits for another connection to let go of the file (the session
#: waits with it): past it, the entries wait for the next commit.
BUSY_S = 1.0

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE turrets (uuid TEXT PRIMARY KEY, name TEXT NOT NULL, canons INTEGER,
                      script TEXT);
CREATE TABLE entries (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, at REAL NOT NULL,
                      sender TEXT, seq INTEGER, value INTEGER, raw BLOB);
"""


class Kind(IntEnum):
    """What an entry is: a message taken in, a sample of the series, or an event."""

    STATUS = 0
    DATA = 1
    #: ``at`` the elapsed seconds, ``value`` the canons active (-1: unknown).
    SAMPLE = 2
    #: ``raw`` a JSON object: ``{"event": NAME, ...}``.
    EVENT = 3
    #: Results (``--per-result``) in a row: ``raw`` holds each as ``RESULT_HEADER``
    #: (its ``at``, its length) then its bytes; ``value`` their number.
    RESULTS = 4


#: Before each result of a ``Kind.RESULTS`` entry: its ``at`` (a double) and length.
RESULT_HEADER = struct.Struct("<dI")


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of ``entries``; ``at`` is seconds on the run's clock (``Journal.epoch``)."""

    kind: int
    at: float
    sender: str | None
    seq: int | None
    value: int | None
    raw: bytes | None


class Journal:
    """An open journal: ``create`` a new one or ``open`` one to resume or report."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._entries: list[
            tuple[int, float, str | None, int | None, int | None, bytes | None]
        ] = []
        self._turrets: dict[str, tuple[str, str, int | None, str | None]] = {}
        self._results = bytearray()
        self._results_count = 0
        self._results_at = 0.0
        self._changed_turrets: set[str] = set()
        self._meta: dict[str, str] = {}
        self._pending_meta = False
        self._busy_warned = False
        self._last_commit = time.monotonic()
        #: Why the journal stopped taking entries (a commit failed), or None.
        self.broken: str | None = None
        self.commit_seconds = 0.0
        self.commits = 0
        #: Whether it broke because its disk was full.
        self.full = False

    @classmethod
    def create(cls, path: Path) -> Journal:
        """A new journal at ``path``, replacing a file there, unless that file is the
        journal of a run that has not ended (two hours a user may still resume);
        JournalError if it cannot."""
        if path.is_file():
            try:
                existing = cls.open(path)
            except JournalError:
                existing = None
            unfinished = existing is not None and existing.meta("outcome") is None
            if existing is not None:
                existing.release()
            if unfinished:
                raise JournalError(
                    f"{path} holds a run that has not ended: resume it (gturret-hq --resume"
                    f" {path}), or remove it"
                )
        files = (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        db: sqlite3.Connection | None = None
        try:
            for stale in files:
                stale.unlink(missing_ok=True)
            db = sqlite3.connect(
                path, timeout=BUSY_S, check_same_thread=False, isolation_level=None
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            _remove(db, files)
            error = JournalFull if _full(exc) else JournalError
            raise error(f"cannot create the journal {path}: {exc}") from None
        journal = cls(path, db)
        journal.set_meta("run_id", uuid.uuid4().hex)
        journal.set_meta("epoch", time.time())
        journal.commit()
        if journal.broken is not None:
            _remove(db, files)
            error = JournalFull if journal.full else JournalError
            raise error(f"cannot write the journal {path}: {journal.broken}")
        return journal

    @classmethod
    def open(cls, path: Path) -> Journal:
        """An existing journal; JournalError (one line naming the problem) for a missing
        file, a file that is not SQLite or not a journal, or one of a newer layout."""
        if not path.is_file():
            raise JournalError(f"no journal at {path}: give the file --journal wrote")
        try:
            db = sqlite3.connect(
                path, timeout=BUSY_S, check_same_thread=False, isolation_level=None
            )
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise JournalError(f"{path} is not a gturret journal (not SQLite: {exc})") from None
        if application_id != APPLICATION_ID:
            raise JournalError(f"{path} is not a gturret journal (a foreign SQLite file)")
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"{path} is a journal of a newer gturret (layout {version}; this one reads"
                f" up to {SCHEMA_VERSION}): upgrade gturret to read it"
            )
        journal = cls(path, db)
        try:
            journal._meta = dict(db.execute("SELECT key, value FROM meta"))
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise JournalError(f"{path} is a corrupt gturret journal: {exc}") from None
        for key in ("run_id", "epoch", "settings"):
            if key not in journal._meta:
                raise JournalError(f"{path} is an incomplete gturret journal (no {key})")
        return journal

    def meta(self, key: str) -> Any:
        """A value set with ``set_meta`` (None if never set)."""
        text = self._meta.get(key)
        return None if text is None else json.loads(text)

    @property
    def epoch(self) -> float:
        """The wall-clock time (``time.time()``) that entries' ``at`` counts from."""
        return float(self.meta("epoch"))

    def set_meta(self, key: str, value: Any) -> None:
        """Set ``key`` (a JSON value) in ``meta``; written with the next commit."""
        self._meta[key] = json.dumps(value)
        self._pending_meta = True

    def turret(self, uuid: str, name: str, canons: int | None, script: str | None) -> None:
        """Note a turret as the roster knows it; written with the next commit."""
        # A turret's texts came over the wire: a lone surrogate cannot go into SQLite.
        row = (valid_unicode(uuid), valid_unicode(name), canons, script and valid_unicode(script))
        if self._turrets.get(uuid) != row:
            self._turrets[uuid] = row
            self._changed_turrets.add(uuid)

    def add(
        self,
        kind: Kind,
        at: float,
        raw: bytes | None = None,
        *,
        sender: str | None = None,
        seq: int | None = None,
        value: int | None = None,
    ) -> None:
        """Add an entry, committed with the next commit (nothing once broken)."""
        if self.broken is None:
            self._close_results()
            sender = None if sender is None else valid_unicode(sender)
            self._entries.append((kind, at, sender, seq, value, raw))

    def add_result(self, at: float, raw: bytes) -> None:
        """Add a result (``--per-result``): results in a row share one entry, so a
        second of tens of thousands costs one row, not one each."""
        if self.broken is None:
            if not self._results_count:
                self._results_at = at
            self._results += RESULT_HEADER.pack(at, len(raw))
            self._results += raw
            self._results_count += 1

    def _close_results(self) -> None:
        """End the row of results being gathered: it becomes one entry, in order."""
        if self._results_count:
            self._entries.append(
                (
                    Kind.RESULTS,
                    self._results_at,
                    None,
                    None,
                    self._results_count,
                    bytes(self._results),
                )
            )
            self._results = bytearray()
            self._results_count = 0

    def event(self, at: float, name: str, **details: Any) -> None:
        """Add an event (``{"event": name, **details}``)."""
        self.add(Kind.EVENT, at, json.dumps({"event": name, **details}).encode())

    def due(self, now: float) -> bool:
        """True when ``COMMIT_S`` has passed since the last commit."""
        return now - self._last_commit >= COMMIT_S

    def commit(self) -> bool:
        """Write what was added since the last commit, in one transaction on gevent's
        threadpool; False (warned once, the journal then broken) if it failed."""
        self._last_commit = time.monotonic()
        if self.broken is not None:
            return False
        self._close_results()
        entries, self._entries = self._entries, []
        turrets = [self._turrets[uuid] for uuid in self._changed_turrets]
        self._changed_turrets = set()
        meta = list(self._meta.items()) if self._pending_meta else []
        self._pending_meta = False
        started = time.perf_counter()
        try:
            gevent.get_hub().threadpool.apply(self._write, (entries, turrets, meta))
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                return self._break(exc)
            # Another process holds the file (a reader recovering it after a crash, say):
            # all of it is written with the next commit, and nothing is acknowledged now.
            self._entries[:0] = entries
            self._changed_turrets.update(turret[0] for turret in turrets)
            self._pending_meta = self._pending_meta or bool(meta)
            if not self._busy_warned:
                self._busy_warned = True
                log.warning("the journal %s is busy (%s): retrying at each commit", self.path, exc)
            return False
        except (OSError, sqlite3.Error, UnicodeError) as exc:
            return self._break(exc)
        self.commit_seconds += time.perf_counter() - started
        self.commits += 1
        return True

    def _break(self, exc: Exception) -> bool:
        """Stop journaling after a failed commit (warned once); False."""
        self.broken = str(exc)
        self.full = _full(exc)
        log.warning(
            "the journal %s cannot be written (%s): the HQ runs on in memory; the"
            " journal is incomplete and the verdict says so",
            self.path,
            exc,
        )
        return False

    def _write(
        self,
        entries: list[tuple[int, float, str | None, int | None, int | None, bytes | None]],
        turrets: list[tuple[str, str, int | None, str | None]],
        meta: list[tuple[str, str]],
    ) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO entries (kind, at, sender, seq, value, raw) VALUES (?,?,?,?,?,?)",
                entries,
            )
            self._db.executemany("INSERT OR REPLACE INTO turrets VALUES (?,?,?,?)", turrets)
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", meta)

    def entries(self) -> Iterator[Entry]:
        """Every committed entry, in the order it was added; JournalError if unreadable."""
        try:
            for row in self._db.execute(
                "SELECT kind, at, sender, seq, value, raw FROM entries ORDER BY id"
            ):
                yield Entry(*row)
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path} is a corrupt gturret journal: {exc}") from None

    @staticmethod
    def results(entry: Entry) -> Iterator[tuple[float, bytes]]:
        """Each result of a ``Kind.RESULTS`` entry: its ``at`` and bytes."""
        raw = entry.raw or b""
        offset = 0
        while offset < len(raw):
            at, length = RESULT_HEADER.unpack_from(raw, offset)
            offset += RESULT_HEADER.size
            yield at, raw[offset : offset + length]
            offset += length

    def close(self) -> None:
        """Commit what is left and close the file."""
        self.commit()
        self.release()

    def release(self) -> None:
        """Close the file without writing (a journal only read)."""
        self._db.close()


def _remove(db: sqlite3.Connection | None, files: tuple[Path, ...]) -> None:
    """Leave nothing of a journal that could not be made: a half-made file is no
    journal to resume."""
    if db is not None:
        db.close()
    for file in files:
        file.unlink(missing_ok=True)


def _full(exc: Exception) -> bool:
    """No room left on the journal's disk (SQLite's SQLITE_FULL, or ENOSPC)."""
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite's "database is locked" or "busy": another connection, for now."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text
