"""Report files: checked before the test starts, written whole after it ends.

Why it exists: a report is what a test that ran for an hour leaves behind. A path
that cannot take it (a folder, a missing or read-only folder, a read-only file) is
found while the options are read, before any turret is contacted, with one line
naming it. A file is written to a temporary file in its own folder, flushed to the
disk and renamed over the path, so a full disk or a crash leaves the previous file
or none, never half of one. A device or a pipe (``/dev/stdout``, ``/dev/null``, a
FIFO) is written in place: there is nothing to rename there. It must never write
anywhere but the folder of the path it is given.
"""

from __future__ import annotations

import os
import secrets
import stat
from contextlib import suppress
from pathlib import Path

from gturret.errors import UsageError

#: The CSV files of one prefix, in the order ``csv_paths`` gives them.
CSV_KINDS = ("stats", "history", "errors", "feeders")
#: The prefix ``--csv FOLDER`` (or ``--csv PATH/``) writes inside the folder.
CSV_FOLDER_PREFIX = "gturret"


def csv_paths(prefix: Path) -> tuple[Path, Path, Path, Path]:
    """The stats, history, errors and feeders files for ``prefix`` (``out/run`` →
    ``out/run_stats.csv``)."""
    stats, history, errors, feeders = (
        prefix.with_name(f"{prefix.name}_{kind}.csv") for kind in CSV_KINDS
    )
    return stats, history, errors, feeders


def csv_prefix(text: str) -> Path:
    """The prefix of ``--csv TEXT``: ``TEXT/gturret`` when TEXT is a folder or ends in
    a slash (the files go inside it), else TEXT itself."""
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        return path / CSV_FOLDER_PREFIX
    return path


def check_report_path(flag: str, path: Path) -> None:
    """UsageError, naming ``flag`` and the problem, if a report cannot be written to
    ``path``: a folder, a folder that does not exist or does not let us create a file
    in it, a file or device we may not write."""
    try:
        found = path.stat()
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror}") from None
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise UsageError(f"{flag} {path} is a folder: give the path of a file")
    if found is not None and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: the file is not writable")
    if found is not None and not stat.S_ISREG(found.st_mode):
        return  # a device or a pipe, written in place
    target = Path(os.path.realpath(path))
    if not target.parent.is_dir():
        raise UsageError(f"{flag} {path}: the folder {target.parent} does not exist")
    try:
        probe = _temporary(target)
        probe.open("xb").close()
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot create a file in {target.parent}: {exc.strerror}"
        ) from None


def write_report(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all: a temporary file in the
    same folder, flushed to the disk, renamed over ``path`` (keeping the mode of the
    file it replaces). OSError if it cannot; the temporary file is then removed."""
    data = text.encode("utf-8")
    try:
        found: os.stat_result | None = path.stat()
    except FileNotFoundError:
        found = None
    if found is not None and not stat.S_ISREG(found.st_mode):
        with path.open("wb") as device:
            device.write(data)
        return
    target = Path(os.path.realpath(path))  # a symbolic link stays; its file is replaced
    temporary = _temporary(target)
    try:
        with temporary.open("xb") as file:
            if found is not None:
                os.fchmod(file.fileno(), stat.S_IMODE(found.st_mode))
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            temporary.unlink()
        raise
    _sync_folder(target.parent)


def _temporary(target: Path) -> Path:
    """A fresh hidden name beside ``target`` (short enough for any file system)."""
    return target.with_name(f".{target.name[:200]}.{secrets.token_hex(4)}.tmp")


def _sync_folder(folder: Path) -> None:
    """Flush the rename itself to the disk, where the file system allows it."""
    with suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
