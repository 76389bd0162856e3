"""Shared fixtures: a fake OCT HQ on real sockets, and real turret processes.

The fake HQ binds PUB + PULL on 127.0.0.1 ephemeral ports and speaks the exact
frames of docs/protocol.md, like the reference HQ. Turrets always run as real
``gturret`` processes: the test process itself is never monkey-patched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from gturret import wire

GTURRET = [sys.executable, "-m", "gturret"]


class FakeHQ:
    """An HQ on real sockets: publishes commands, collects statuses and results.

    Its ``status_request`` asks for counters with gturret's handshake, as our HQ
    does; ``asks_counters=False`` makes it send ``msg: null``, as the reference HQ.
    """

    def __init__(
        self, pub_port: int | None = None, rc_port: int | None = None, *, asks_counters: bool = True
    ) -> None:
        self.asks_counters = asks_counters
        self.context = zmq.Context()
        self.pub = self.context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub_port = _bind(self.pub, pub_port)
        self.pull = self.context.socket(zmq.PULL)
        self.pull.setsockopt(zmq.LINGER, 0)
        self.rc_port = _bind(self.pull, rc_port)
        self.raw: list[bytes] = []
        self.statuses: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []

    def send(self, command: str, msg: Any = None, channel: str = "") -> None:
        if command == "status_request" and msg is None and self.asks_counters:
            msg = wire.status_request_msg(wire.WANT_COUNTERS)
        self.pub.send(wire.encode_command(command, msg, channel))

    def send_raw(self, frame: bytes) -> None:
        self.pub.send(frame)

    def poll(self, timeout: float) -> dict[str, Any] | None:
        """Receive one message within ``timeout`` seconds, file it, and return it."""
        if not self.pull.poll(int(timeout * 1000)):
            return None
        raw = self.pull.recv()
        self.raw.append(raw)
        message = wire.decode_message(raw)
        (self.statuses if wire.is_status(message) else self.results).append(message)
        return message

    def collect(self, seconds: float) -> None:
        """File every message that arrives in the next ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.poll(left)

    def wait_status(self, status: str | None, timeout: float = 10.0) -> dict[str, Any]:
        """File messages until a status message arrives: with ``status``, or any if None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.poll(left)
            is_wanted = message is not None and wire.is_status(message)
            if is_wanted and (status is None or message["status"] == status):
                return message
        raise AssertionError(f"no {status!r} status within {timeout}s; got {self.statuses[-3:]}")

    def register(self, timeout: float = 10.0) -> dict[str, Any]:
        """Send status_request until a turret answers (subscriptions take a moment).

        Requests sent before the subscription was made are lost, but those sent
        after it may be answered late: wait until the answers stop, so that no stale
        "ready" is taken later for the answer to a later command.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.send("status_request")
            message = self.poll(0.2)
            if message is not None and wire.is_status(message):
                settle_by = time.monotonic() + 1.0
                while time.monotonic() < settle_by and self.poll(0.3) is not None:
                    pass
                return message
        raise AssertionError(f"no turret registered within {timeout}s")

    def close(self) -> None:
        self.pub.close()
        self.pull.close()
        self.context.term()

    def __enter__(self) -> FakeHQ:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _bind(socket: zmq.Socket, port: int | None) -> int:
    """Bind on 127.0.0.1: ``port``, or an ephemeral one; return the port."""
    if port is None:
        return socket.bind_to_random_port("tcp://127.0.0.1")
    socket.bind(f"tcp://127.0.0.1:{port}")
    return port


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
    hq: FakeHQ | None = None,
    *,
    canons: int = 2,
    rampup: float = 0,
    **extra: Any,
) -> Path:
    """Write ``script.py`` and ``config.json`` into ``folder``; return the config path."""
    (folder / "script.py").write_text(textwrap.dedent(script))
    config = {
        "name": "test-turret",
        "canons": canons,
        "rampup": rampup,
        "script": "script.py",
        "hq_address": "127.0.0.1",
        "hq_publisher": hq.pub_port if hq else 1,
        "hq_rc": hq.rc_port if hq else 1,
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


@pytest.fixture
def hq() -> Iterator[FakeHQ]:
    fake = FakeHQ()
    yield fake
    fake.close()


@pytest.fixture
def turrets(tmp_path: Path) -> Iterator[list[TurretProcess]]:
    """Start turrets with ``spawn(config_path)``; every one is killed at teardown."""
    started: list[TurretProcess] = []
    yield started
    for turret in started:
        turret.stop()


@pytest.fixture
def spawn_turret(tmp_path: Path, turrets: list[TurretProcess]):  # type: ignore[no-untyped-def]
    def spawn(*args: str) -> TurretProcess:
        turret = TurretProcess(list(args), tmp_path)
        turrets.append(turret)
        return turret

    return spawn
