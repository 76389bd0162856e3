"""Where the real peers live: venvs of their own under ``.peers/``, built by ``make peers``.

A test that needs a peer that is not there fails under CI (``CI`` set: a missing
install step must never pass as a skip) and is skipped elsewhere, with the command
that builds it as the reason (``pytest -rs`` shows it).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OCT_VENV = ROOT / ".peers" / "oct"


def peer_program(venv: Path, name: str) -> Path:
    """The program ``name`` of the peer venv ``venv``; fail or skip if it was not built."""
    program = venv / "bin" / name
    if not program.exists():
        why = f"{program} is missing: run `make peers`"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return program


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
