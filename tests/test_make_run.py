"""``make run``, the README's first command: a taken port stops it in one line.

Before, a taken target port printed a traceback and the demo then loaded whatever
held the port; a taken metrics port failed only after the target had started. Both
ports are now checked by the demo target before anything serves.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.peers import ROOT, free_ports


@contextmanager
def held_port() -> Iterator[int]:
    """A port another program listens on (this test) while the block runs."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def make_run(target_port: int, metrics_port: int) -> subprocess.CompletedProcess[str]:
    """``make run`` as typed in a shell, also when the suite itself runs under make."""
    shell = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "-s", "run", f"DEMO_PORT={target_port}", f"DEMO_METRICS_PORT={metrics_port}"],
        cwd=ROOT,
        env=shell,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("which", ["the demo target's port", "the metrics port"])
def test_a_taken_port_is_refused_in_one_line_before_anything_starts(which):
    with held_port() as taken:
        (free,) = free_ports(1)
        ports = (taken, free) if which == "the demo target's port" else (free, taken)
        done = make_run(*ports)
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]
    assert ours == [
        f"target.py: 127.0.0.1:{taken} ({which}) is already in use by another program;"
        " stop it and run again"
    ]
    assert done.stdout == ""
