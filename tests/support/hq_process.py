"""The real ``gturret-hq`` console script as a subprocess, for the tests of our HQ."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from tests.support.fake_turret import FakeTurret

HQ = Path(sys.executable).with_name("gturret-hq")
BOUND = re.compile(
    r"commands \(PUB\) on tcp://127\.0\.0\.1:(\d+), results \(PULL\) on tcp://127\.0\.0\.1:(\d+)"
)
TIMEOUT_S = 30


class HQProcess:
    """``gturret-hq --pub 0 --rc 0 ARGS``; reads its start-up line to learn the ports."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(HQ), "--pub", "0", "--rc", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stdout: list[bytes] = []
        self.stderr: list[bytes] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[bytes] | None, into: list[bytes]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line)

    def ports(self) -> tuple[int, int]:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            match = BOUND.search(b"".join(self.stderr).decode())
            if match:
                return int(match[1]), int(match[2])
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no start-up line: {b''.join(self.stderr).decode()}")

    def wait_for(self, text: str) -> None:
        """Wait until the HQ has logged ``text`` (standard error)."""
        deadline = time.monotonic() + TIMEOUT_S
        while text not in b"".join(self.stderr).decode():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in: {b''.join(self.stderr).decode()}")
            time.sleep(0.02)

    def finish(self) -> tuple[int, str, str]:
        try:
            code = self.process.wait(timeout=TIMEOUT_S)
        finally:
            self.process.kill()
            for reader in self._readers:
                reader.join(timeout=5)
        return code, b"".join(self.stdout).decode(), b"".join(self.stderr).decode()


def run_hq_cli(*args: str, **turret: Any) -> tuple[int, str, str, FakeTurret]:
    """A 1 s ``gturret-hq`` run against a fake turret made with ``turret`` settings."""
    hq = HQProcess("--run-time", "1", *args)
    fake = FakeTurret(*hq.ports(), **turret).start()
    try:
        code, out, err = hq.finish()
    finally:
        fake.close()
    return code, out, err, fake
