"""Feeders: rows of a CSV or JSON Lines file handed to canons, one ``feed()`` at a time.

Why its own module: test data is read where the canons run, and a data file may be
bigger than the memory a turret should spend on it. So a file is never loaded whole:
it is scanned once at start (every row checked there, so bad input stops the turret
before the test and never mid-run) into the byte offset of each row, eight bytes a
row; rows are read back by seeking, a block at a time for the modes that go in
order. Each process serves the rows of its *slice* of the file: its share of the
canons of the feeder's scope (the turret, or the whole fleet as our HQ's start order
places it), so no two processes ever hand out the same row of a ``unique`` feeder.

It must never import the turret, sockets or gevent: a canon calls :meth:`CanonFeeds.take`
between two yields, and the battery reads the counts (:meth:`Feeder.report`).
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import random
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gturret.errors import ConfigError, FeederError, FeederExhausted

MODES = ("circular", "random", "unique", "per_canon")
SCOPES = ("turret", "fleet")
ON_EXHAUSTED = ("stop_canon", "recycle", "stop_test")
#: A file's format from its name's suffix, unless its entry says ``format``.
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: The keys a feeder's entry may have.
ENTRY_KEYS = ("file", "mode", "scope", "on_exhausted", "format")
#: Rows read and parsed at once by the modes that go in order.
BLOCK_ROWS = 256
#: Exhausted events kept with their time (the count goes on past them).
EVENTS_KEPT = 20


@dataclass(frozen=True, slots=True)
class FeederSpec:
    """One entry of the config's ``feeders``: its file (inside the config's folder)."""

    name: str
    file: Path
    mode: str = "circular"
    scope: str = "turret"
    on_exhausted: str = "stop_canon"
    format: str = "csv"


def parse_feeders(given: Any, source: Path) -> tuple[FeederSpec, ...]:
    """The config's ``feeders`` (an object of name → entry), each entry checked."""
    if given is None:
        return ()
    if not isinstance(given, dict):
        raise ConfigError(f"{source}: 'feeders' must be an object of name → feeder")
    return tuple(_spec(name, entry, source) for name, entry in given.items())


def _spec(name: str, entry: Any, source: Path) -> FeederSpec:
    where = f"{source}: feeder {name!r}"
    if not name.isidentifier():
        raise ConfigError(f"{where}: a name must be a Python identifier (users, search_terms)")
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise ConfigError(f'{where} must be an object with a "file" (a path), not {entry!r:.60}')
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(ENTRY_KEYS)})")
    folder = source.parent.resolve()
    path = (folder / entry["file"]).resolve()
    if not path.is_relative_to(folder) or path == folder:
        raise ConfigError(f"{where}: file {entry['file']!r} is not inside the config's folder")
    if not path.is_file():
        raise ConfigError(f"{where}: file {entry['file']!r} does not exist (looked at {path})")
    chosen = {
        key: _choice(entry, key, allowed, where)
        for key, allowed in (
            ("mode", MODES),
            ("scope", SCOPES),
            ("on_exhausted", ON_EXHAUSTED),
            ("format", tuple(sorted(set(FORMATS.values())))),
        )
    }
    file_format = chosen["format"] or FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise ConfigError(
            f"{where}: cannot tell the format of {entry['file']!r}: name it .csv or .jsonl,"
            ' or say "format": "csv" or "jsonl"'
        )
    if chosen["on_exhausted"] and chosen["mode"] != "unique":
        raise ConfigError(f"{where}: 'on_exhausted' applies to mode 'unique' only")
    return FeederSpec(
        name=name,
        file=path,
        mode=chosen["mode"] or "circular",
        scope=chosen["scope"] or "turret",
        on_exhausted=chosen["on_exhausted"] or "stop_canon",
        format=file_format,
    )


def _choice(entry: dict[str, Any], key: str, allowed: tuple[str, ...], where: str) -> str | None:
    value = entry.get(key)
    if value is not None and value not in allowed:
        raise ConfigError(
            f"{where}: '{key}' must be one of {', '.join(allowed)}, not {value!r:.60}"
        )
    return value


class FeederFile:
    """A scanned file: its header (CSV) and the byte offset of every row.

    ``offsets`` holds one entry a row and one for the end of the last row, in an
    ``array`` of 8-byte integers (8 MB for a million rows); the rows stay on disk.
    """

    def __init__(self, spec: FeederSpec) -> None:
        self.spec = spec
        self.header: tuple[str, ...] = ()
        self.offsets = array("q")
        self._handle = open(spec.file, "rb")  # noqa: SIM115 (kept open: rows are read back)
        self._fd = self._handle.fileno()
        try:
            if spec.format == "csv":
                self._scan_csv()
            else:
                self._scan_jsonl()
        except BaseException:
            self._handle.close()
            raise

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    def read(self, first: int, last: int) -> list[dict[str, Any]]:
        """Rows ``first`` to ``last`` (excluded), read in one seek."""
        start = self.offsets[first]
        self._handle.seek(start)
        data = self._handle.read(self.offsets[last] - start).decode("utf-8")
        if self.spec.format == "jsonl":
            return [json.loads(line) for line in data.split("\n") if line.strip()]
        header = self.header
        return [
            dict(zip(header, fields, strict=True))
            for fields in csv.reader(io.StringIO(data, newline=""))
            if fields
        ]

    def read_one(self, index: int) -> dict[str, Any]:
        """Row ``index`` alone, in one ``pread`` (the modes that jump about). A CSV row
        without a quote is split on commas, as the csv module would split it."""
        start = self.offsets[index]
        data = os.pread(self._fd, self.offsets[index + 1] - start, start).decode("utf-8")
        if self.spec.format == "jsonl":
            row: dict[str, Any] = json.loads(data)
            return row
        if '"' in data:
            fields = next(csv.reader(io.StringIO(data, newline="")))
        else:
            fields = data.rstrip("\r\n").split(",")
        return dict(zip(self.header, fields, strict=True))

    def close(self) -> None:
        self._handle.close()

    def _scan_csv(self) -> None:
        lines = _Lines(self._handle, self.spec.file)
        reader = csv.reader(lines)
        offsets = self.offsets
        header: list[str] | None = None
        while True:
            start, line = lines.pos, lines.line + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise FeederError(f"{self.spec.file}:{line}: not CSV ({exc})") from None
            if not fields:
                continue
            if header is None:
                header = _header(fields, self.spec.file, line)
            elif len(fields) != len(header):
                raise FeederError(
                    f"{self.spec.file}:{line}: {len(fields)} fields where the header has"
                    f" {len(header)} ({'too many' if len(fields) > len(header) else 'too few'})"
                )
            else:
                offsets.append(start)
        if header is None:
            raise FeederError(f"{self.spec.file}:1: no header row (the file holds no row at all)")
        self.header = tuple(header)
        offsets.append(lines.pos)

    def _scan_jsonl(self) -> None:
        lines = _Lines(self._handle, self.spec.file)
        offsets = self.offsets
        for text in lines:
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except ValueError as exc:
                raise FeederError(f"{self.spec.file}:{lines.line}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise FeederError(
                    f"{self.spec.file}:{lines.line}: a JSON {type(row).__name__}, not an"
                    " object (a row is an object of field → value)"
                )
            offsets.append(lines.start)
        offsets.append(lines.pos)


def _header(fields: list[str], path: Path, line: int) -> list[str]:
    names = [name.strip() for name in fields]
    if not all(names):
        raise FeederError(f"{path}:{line}: the header row has an empty column name")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise FeederError(f"{path}:{line}: the header row names {twice[0]!r} twice")
    return names


class _Lines:
    """A binary file's lines as text, for ``csv.reader``: where the next line starts and
    its number, so each row's offset and line are known; a BOM at the start skipped."""

    def __init__(self, handle: io.BufferedReader, path: Path) -> None:
        self._lines = iter(handle)
        self._path = path
        self.pos = 0
        self.start = 0
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = next(self._lines)
        self.line += 1
        if self.line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
            self.pos = 3
        self.start = self.pos
        self.pos += len(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FeederError(
                f"{self._path}:{self.line}: not UTF-8 (byte {exc.start + 1} of the line)"
            ) from None


def scan_feeders(specs: tuple[FeederSpec, ...]) -> dict[str, FeederFile]:
    """Every feeder's file scanned and checked; FeederError naming the file and line."""
    files: dict[str, FeederFile] = {}
    try:
        for spec in specs:
            files[spec.name] = FeederFile(spec)
    except BaseException:
        for opened in files.values():
            opened.close()
        raise
    return files


def check_script_feeds(script: Path, specs: tuple[FeederSpec, ...]) -> None:
    """Every ``feed("name")`` the script writes with a literal name must name a feeder.

    Read from the script's syntax tree at start, so a misspelt name stops the turret
    before the test rather than failing each canon; a name computed at run time is
    only known when ``feed()`` is called (then that transaction fails).
    """
    try:
        tree = ast.parse(script.read_bytes(), str(script))
    except (SyntaxError, ValueError):
        return  # the script's loader says what is wrong with it
    known = {spec.name for spec in specs}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "feed"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value not in known
        ):
            have = ", ".join(sorted(known)) or "none"
            raise FeederError(
                f"{script}:{node.lineno}: feed({node.args[0].value!r}) names no feeder of the"
                f" config's 'feeders' (it has: {have})"
            )


@dataclass(frozen=True, slots=True)
class Place:
    """Where one process's canons sit among the canons of a feeder's scope:
    ``first`` to ``first + canons`` of ``total`` (the fleet's, with our HQ)."""

    first: int
    canons: int
    total: int

    def slice_of(self, rows: int) -> range:
        """This process's rows: its share of ``rows``, by its share of the canons
        (none past ``total``: a turret placed where the fleet has no room left)."""
        if self.total <= 0:
            return range(0)
        start = rows * self.first // self.total
        stop = rows * (self.first + self.canons) // self.total
        return range(min(rows, start), min(rows, stop))


class Feeder:
    """One feeder in one process: its mode over its slice, and what it served."""

    def __init__(self, file: FeederFile, place: Place) -> None:
        self.file = file
        self.spec = file.spec
        self.place = place
        self.slice = place.slice_of(file.rows)
        self.served = 0
        self.exhausted = 0
        self.events: list[float] = []
        self.stop_test = False
        self._next = self.slice.start
        self._block: list[dict[str, Any]] = []
        self._block_at = self.slice.start
        self._random = random.Random()

    def take(self, canon: int, cursor: list[int]) -> dict[str, Any]:
        """The next row for canon ``canon`` (its fleet index in the scope); ``cursor``
        is the canon's own place in its rows (``per_canon``)."""
        mode = self.spec.mode
        if mode == "per_canon":
            return self._own_row(canon, cursor)
        if not self.slice:
            self._exhaust()
        if mode == "random":
            index = self._random.randrange(self.slice.start, self.slice.stop)
            self.served += 1
            return self.file.read_one(index)
        if self._next >= self.slice.stop:
            if mode == "unique" and self.spec.on_exhausted != "recycle":
                self._exhaust()
            if mode == "unique":
                self._note_exhausted()
            self._next = self.slice.start
            self._block = []  # read again: a row a script changed is never handed out twice
        row = self._row(self._next)
        self._next += 1
        self.served += 1
        return row

    def _row(self, index: int) -> dict[str, Any]:
        """Row ``index``, from the block read last or a new block."""
        offset = index - self._block_at
        if not 0 <= offset < len(self._block):
            last = min(index + BLOCK_ROWS, self.slice.stop)
            self._block = self.file.read(index, last)
            self._block_at = index
            offset = 0
        return self._block[offset]

    def _own_row(self, canon: int, cursor: list[int]) -> dict[str, Any]:
        """``per_canon``: canon *g* of *C* has rows g, g + C, g + 2C, … (g mod rows when
        the file has fewer rows than canons), in turn."""
        rows, total = self.file.rows, self.place.total
        if rows == 0:
            self._exhaust()
        index = canon + cursor[0] * total
        if index >= rows:
            cursor[0] = 0
            index = canon % rows
        cursor[0] += 1
        self.served += 1
        return self.file.read_one(index)

    def _note_exhausted(self) -> None:
        self.exhausted += 1
        if len(self.events) < EVENTS_KEPT:
            self.events.append(round(time.time(), 3))

    def _exhaust(self) -> None:
        """No row left for this canon: noted once, then the canon ends (or the test)."""
        if not self.exhausted:
            self._note_exhausted()
            self.stop_test = self.spec.on_exhausted == "stop_test"
        raise FeederExhausted(self.spec.name, self.stop_test)

    @property
    def left(self) -> int | None:
        """Rows not yet served (``unique``); None for the modes that never run out."""
        if self.spec.mode != "unique":
            return None
        return max(0, self.slice.stop - self._next)

    def report(self) -> dict[str, Any]:
        """What a status carries of this feeder."""
        return {
            "served": self.served,
            "left": self.left,
            "exhausted": self.exhausted,
            "exhausted_at": list(self.events),
            "stop_test": self.stop_test,
        }


class Feeders:
    """The feeders of one test in one process, placed in their scopes."""

    def __init__(self, files: dict[str, FeederFile], turret: Place, fleet: Place | None) -> None:
        """``turret``: this process among its turret's canons; ``fleet``: the turret
        among the fleet's (our HQ's start order), None if no HQ of ours said it."""
        self.turret = turret
        self.fleet = fleet
        self.feeders = {
            name: Feeder(file, self._place(file.spec, turret, fleet))
            for name, file in files.items()
        }

    @staticmethod
    def _place(spec: FeederSpec, turret: Place, fleet: Place | None) -> Place:
        if spec.scope == "turret" or fleet is None:
            return turret
        return Place(fleet.first + turret.first, turret.canons, fleet.total)

    def for_canon(self, index: int) -> CanonFeeds:
        """What canon ``index`` (of its turret) feeds from."""
        return CanonFeeds(self, index)

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: feeder.report() for name, feeder in self.feeders.items()}


def merge_reports(reports: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Several processes' feeder reports as one turret's: rows added up, events merged."""
    merged: dict[str, dict[str, Any]] = {}
    for report in reports:
        for name, part in report.items():
            into = merged.setdefault(
                name,
                {"served": 0, "left": None, "exhausted": 0, "exhausted_at": [], "stop_test": False},
            )
            into["served"] += part["served"]
            if part["left"] is not None:
                into["left"] = (into["left"] or 0) + part["left"]
            into["exhausted"] += part["exhausted"]
            into["exhausted_at"] = sorted(into["exhausted_at"] + part["exhausted_at"])[:EVENTS_KEPT]
            into["stop_test"] = into["stop_test"] or part["stop_test"]
    return merged


class CanonFeeds:
    """One canon's view of the feeders: ``Transaction.feed`` calls :meth:`take`."""

    __slots__ = ("_cursors", "_feeders", "_index")

    def __init__(self, feeders: Feeders, index: int) -> None:
        self._feeders = feeders
        self._index = index
        self._cursors: dict[str, list[int]] = {}

    def take(self, name: str) -> dict[str, Any]:
        feeder = self._feeders.feeders.get(name)
        if feeder is None:
            have = ", ".join(sorted(self._feeders.feeders)) or "none"
            raise LookupError(f"feed({name!r}): no such feeder in the config (it has: {have})")
        fleet = self._feeders.fleet
        canon = self._index
        if feeder.spec.scope == "fleet" and fleet is not None:
            canon += fleet.first
        cursor = self._cursors.get(name)
        if cursor is None:
            cursor = self._cursors[name] = [0]
        return feeder.take(canon, cursor)
