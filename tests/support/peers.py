"""Where the real peers live: venvs of their own under ``.peers/``, built by ``make peers``.

A test that needs a peer or a program that is not there fails under CI (``CI``
set: a missing install step must never pass as a skip) and is skipped elsewhere,
with the command that installs it as the reason (``pytest -rs`` shows it).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
OCT_VENV = ROOT / ".peers" / "oct"


def unavailable(why: str) -> NoReturn:
    """Fail the test under CI, skip it elsewhere; ``why`` says what to install."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI is set: a missing install step fails)")
    pytest.skip(why)


def peer_program(venv: Path, name: str) -> Path:
    """The program ``name`` of the peer venv ``venv``; fail or skip if it was not built."""
    program = venv / "bin" / name
    if not program.exists():
        unavailable(f"{program} is missing: run `make peers`")
    return program


def system_program(name: str, install: str) -> Path:
    """A program on the PATH; fail or skip, naming ``install``, where it is absent."""
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed: run `{install}`")
    return Path(found)


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports free on 127.0.0.1 now, for a peer that needs fixed ports."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
