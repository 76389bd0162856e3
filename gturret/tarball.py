"""Unpack a turret package (``gturret --tar``): a tar with ``config.json`` at its top.

Why its own module: a package may come from anywhere, so every member is checked
before anything is written (no absolute path, no ``..``, no link or device, at most
``MAX_TAR_MEMBERS`` members and ``MAX_TAR_BYTES`` unpacked) and each refusal is one
TarError line naming the archive. Building a package is :mod:`gturret.pack`'s job;
checking the config inside is :mod:`gturret.config`'s. It must never write outside
its own temporary folder, nor leave that folder behind.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

from gturret.errors import TarError

#: The config's name at the top of every package (OCT's packs and ours).
CONFIG_NAME = "config.json"
MAX_TAR_MEMBERS = 10_000
MAX_TAR_BYTES = 256 * 1024 * 1024


class ExtractedTar:
    """A turret package unpacked into a private temporary folder, removed on close.

    A context manager, so the folder goes away however the turret ends.
    """

    def __init__(self, archive: str | Path) -> None:
        self.archive = Path(archive)
        self.folder = Path(tempfile.mkdtemp(prefix="gturret-tar-"))
        try:
            _extract_safely(self.archive, self.folder)
        except BaseException:
            self.close()
            raise

    @property
    def config_path(self) -> Path:
        return self.folder / CONFIG_NAME

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ExtractedTar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _extract_safely(archive: Path, folder: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            members = _checked_members(tar, archive)
            tar.extractall(folder, members=members, filter="data")
    except FileNotFoundError:
        raise TarError(f"{archive}: no such tar file") from None
    except IsADirectoryError:
        raise TarError(f"{archive}: is a directory, not a tar file") from None
    except tarfile.TarError as exc:
        raise TarError(f"{archive}: not a readable tar archive ({exc})") from None
    except (OSError, EOFError) as exc:
        raise TarError(f"{archive}: cannot extract ({exc})") from None
    if not (folder / CONFIG_NAME).is_file():
        raise TarError(f"{archive}: holds no top-level {CONFIG_NAME}")


def _checked_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in tar:
        if len(members) >= MAX_TAR_MEMBERS:
            raise TarError(f"{archive}: more than {MAX_TAR_MEMBERS} members; refusing")
        name = member.name
        parts = Path(name).parts
        if name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")):
            raise TarError(f"{archive}: member {name!r} has an absolute path; refusing")
        if ".." in parts:
            raise TarError(f"{archive}: member {name!r} climbs out with '..'; refusing")
        if not (member.isfile() or member.isdir()):
            raise TarError(
                f"{archive}: member {name!r} is a {_member_kind(member)}; only regular files"
                " and folders are allowed"
            )
        total += member.size
        if total > MAX_TAR_BYTES:
            raise TarError(f"{archive}: unpacks to more than {MAX_TAR_BYTES} bytes; refusing")
        members.append(member)
    return members


def _member_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symbolic link"
    if member.islnk():
        return "hard link"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "FIFO"
    return "special file"
