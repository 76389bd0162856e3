"""Key pairs for the CurveZMQ tests, and the rogue peers that try their luck.

The keys are made by the code under test (``gturret.keys.create_key_pair``, which
``gturret-keys`` calls); ``tests/test_keys.py`` tests that command itself.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import zmq

from gturret.keys import create_key_pair, read_key_pair, read_public_key


@dataclass(frozen=True)
class Keys:
    """hq, turret and rogue key pairs in ``folder``; ``accepted`` holds the turret's .key."""

    folder: Path

    @classmethod
    def create(cls, folder: Path) -> Keys:
        folder.mkdir()
        (folder / "accepted").mkdir()
        for name in ("hq", "turret", "rogue"):
            create_key_pair(folder, name)
        (folder / "accepted" / "turret.key").write_bytes((folder / "turret.key").read_bytes())
        return cls(folder)

    def hq_args(self) -> list[str]:
        """``gturret-hq`` options for a keyed HQ."""
        return ["--secret-key", str(self.secret("hq")), "--turret-keys", str(self.accepted)]

    def turret_config(self, name: str = "turret") -> dict[str, str]:
        """Config keys for a turret with key pair ``name``."""
        return {
            "hq_public_key": str(self.public("hq")),
            "turret_secret_key": str(self.secret(name)),
        }

    @property
    def accepted(self) -> Path:
        return self.folder / "accepted"

    def public(self, name: str) -> Path:
        return self.folder / f"{name}.key"

    def secret(self, name: str) -> Path:
        return self.folder / f"{name}.key_secret"


def rogue_socket(
    context: zmq.Context[zmq.Socket[bytes]], kind: int, keys: Keys | None
) -> zmq.Socket[bytes]:
    """A socket of ``kind``, plain or (given keys) a CURVE client with the rogue pair."""
    socket = context.socket(kind)
    socket.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        rogue = read_key_pair(keys.secret("rogue"))
        socket.setsockopt(zmq.CURVE_SERVERKEY, read_public_key(keys.public("hq")))
        socket.setsockopt(zmq.CURVE_PUBLICKEY, rogue.public)
        socket.setsockopt(zmq.CURVE_SECRETKEY, rogue.secret)
    return socket


class Rogues:
    """Two rogue sockets of ``kind`` on ``endpoint``, one plain and one keyed with a
    key the HQ does not accept, worked by a thread until closed."""

    def __init__(self, kind: int, endpoint: str, keys: Keys) -> None:
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sockets = [rogue_socket(self._context, kind, k) for k in (None, keys)]
        for socket in self.sockets:
            if kind == zmq.SUB:
                socket.setsockopt(zmq.SUBSCRIBE, b"")
            socket.connect(endpoint)
        self.closing = threading.Event()
        self._thread = threading.Thread(target=self.work)
        self._thread.start()

    def work(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.closing.set()
        self._thread.join(5)
        for socket in self.sockets:
            socket.close()
        self._context.term()


class RogueListener(Rogues):
    """SUB sockets on the HQ's PUB: whatever they read is a leak."""

    def __init__(self, endpoint: str, keys: Keys) -> None:
        self.frames: list[bytes] = []
        super().__init__(zmq.SUB, endpoint, keys)

    def work(self) -> None:
        poller = zmq.Poller()
        for sub in self.sockets:
            poller.register(sub, zmq.POLLIN)
        while not self.closing.is_set():
            for sub, _ in poller.poll(50):
                self.frames.append(sub.recv())


class RoguePushes(Rogues):
    """PUSH sockets on the HQ's PULL sending well-formed results until closed."""

    def __init__(self, endpoint: str, keys: Keys, frames: list[bytes]) -> None:
        self.sent = 0
        self._frames = frames
        super().__init__(zmq.PUSH, endpoint, keys)

    def work(self) -> None:
        """Send at once, then every 50 ms: ZeroMQ queues a PUSH's frames on the pipe
        ``connect`` made, until the handshake fails and drops it (soon after, then
        again at each reconnect), so the first send must not wait on the loop's
        timer: on a loaded machine a thread that slept first found no pipe at all."""
        while True:
            for push in self.sockets:
                for frame in self._frames:
                    try:
                        push.send(frame, zmq.NOBLOCK)
                        self.sent += 1
                    except zmq.Again:
                        break
            if self.closing.wait(0.05):
                return


def rogue_results(name: str, error: str, count: int) -> list[bytes]:
    """Well-formed OCT results (docs/protocol.md), as a rogue PUSH would send them."""
    return [
        json.dumps(
            {
                "turret_name": name,
                "elapsed": 0.5,
                "epoch": 1.0,
                "scriptrun_time": 0.001,
                "error": error,
                "custom_timers": {},
            }
        ).encode()
        for _ in range(count)
    ]
