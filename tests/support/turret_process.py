"""Real ``gturret`` processes for the tests, and the files they run.

Turrets always run as real processes: the test process itself is never
monkey-patched by gevent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from tests.support.fake_hq import FakeHQ

GTURRET = [sys.executable, "-m", "gturret"]


class TurretProcess:
    """A real ``gturret`` process; its stderr goes to a file the test can read."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.log_path = cwd / f"turret-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*GTURRET, *args], cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_log(self, text: str, timeout: float = 15.0) -> None:
        """Wait until the turret has logged ``text``: a condition, never a fixed sleep."""
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the turret's log:\n{self.log}")
            time.sleep(0.02)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()


def write_turret(
    folder: Path,
    script: str,
    hq: FakeHQ | tuple[int, int] | None = None,
    *,
    canons: int = 2,
    rampup: float = 0,
    **extra: Any,
) -> Path:
    """Write ``script.py`` and ``config.json`` into ``folder``; return the config path.

    ``hq`` is a fake HQ or the (PUB, PULL) ports of a real one.
    """
    (folder / "script.py").write_text(textwrap.dedent(script))
    if isinstance(hq, FakeHQ):
        publisher, rc = hq.pub_port, hq.rc_port
    else:
        publisher, rc = hq or (1, 1)
    config = {
        "name": "test-turret",
        "canons": canons,
        "rampup": rampup,
        "script": "script.py",
        "hq_address": "127.0.0.1",
        "hq_publisher": publisher,
        "hq_rc": rc,
        **extra,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def run_cli(args: list[str], cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``gturret`` to completion (for commands that must exit on their own)."""
    return subprocess.run(
        [*GTURRET, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
