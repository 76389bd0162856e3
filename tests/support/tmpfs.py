"""A real, small file system for the tests of report files: a full disk, a read-only one.

Why a tmpfs: a test of "the disk is full" or "the folder is read-only" must meet the
kernel's own ENOSPC and EROFS, which root (these tests' user in CI and here) meets
on no ordinary folder. Mounting needs root: without it the test fails under CI and is
skipped elsewhere (``peers.unavailable``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.peers import unavailable


@contextmanager
def tmpfs(folder: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (made if needed), unmounted at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs (run the tests as root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True, timeout=30)


def read_only(folder: Path) -> None:
    """Remount the tmpfs on ``folder`` read-only: every write in it fails with EROFS."""
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, timeout=30)


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to its last byte (a file named ``filler``)."""
    with (folder / "filler").open("wb", buffering=0) as filler:
        try:
            while filler.write(b"\0" * 4096):
                pass
        except OSError:
            pass  # ENOSPC: full
