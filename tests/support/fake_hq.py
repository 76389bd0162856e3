"""A fake OCT HQ on real sockets: the exact frames of docs/protocol.md, nothing more.

It binds PUB + PULL on 127.0.0.1 (ephemeral ports unless told) and files every
message it receives as a status or a result. It stands in for an HQ only where a
test is about the turret; the real HQ of OCT has its own suite (test_oct_hq.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import zmq

from gturret import wire
from tests.support.registration import register

T = TypeVar("T")


class FakeHQ:
    """An HQ on real sockets: publishes commands, collects statuses and results.

    Its ``status_request`` asks for counters with gturret's handshake, as our HQ
    does, or for ``wants`` when given (``journal``, say); ``asks_counters=False``
    makes it send ``msg: null``, as the reference HQ. Given ports, it binds those:
    an HQ that died and came back on the same address.
    """

    def __init__(
        self,
        pub_port: int | None = None,
        rc_port: int | None = None,
        *,
        asks_counters: bool = True,
        wants: tuple[str, ...] = (wire.WANT_COUNTERS,),
    ) -> None:
        self.asks_counters = asks_counters
        self.wants = wants
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
            msg = wire.status_request_msg(*self.wants)
        self.pub.send(wire.encode_command(command, msg, channel))

    def send_raw(self, frame: bytes) -> None:
        self.pub.send(frame)

    def send_journal(self, acked: dict[str, int], resend: bool = False) -> None:
        """Acknowledge (and ask again for what is above) each sender's seq, as our HQ."""
        self.send("journal", wire.journal_msg(wire.JournalOrder(acked, resend)))

    def seqs(self, sender: str | None = None) -> list[int]:
        """The seq of every data message received (of ``sender`` only, if given), in order."""
        return [
            message[wire.SEQ]
            for message in self.results
            if wire.SEQ in message and sender in (None, message[wire.SENDER])
        ]

    def senders(self) -> set[str]:
        """Every sender that numbered a data message received."""
        return {message[wire.SENDER] for message in self.results if wire.SENDER in message}

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

    def collect_until(
        self, predicate: Callable[[FakeHQ], T], what: str, timeout: float = 10.0
    ) -> T:
        """File messages until ``predicate(self)`` is true; its value. A positive
        check waits for what it expects instead of looking after a fixed window,
        which a loaded machine can make too short."""
        deadline = time.monotonic() + timeout
        while not (value := predicate(self)):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {what} within {timeout}s; got {len(self.results)} results, "
                    f"statuses {self.statuses[-3:]}"
                )
            self.poll(min(left, 0.1))
        return value

    def wait_status(self, status: str | None, timeout: float = 10.0) -> dict[str, Any]:
        """File messages until a status message arrives: with ``status``, or any if None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.poll(left)
            is_wanted = message is not None and wire.is_status(message)
            if is_wanted and (status is None or message["status"] == status):
                return message
        raise AssertionError(f"no {status!r} status within {timeout}s; got {self.statuses[-3:]}")

    def open_fire(self) -> None:
        """Register a turret and start its test; back once it runs."""
        self.register()
        self.send("start", "open fire")
        self.wait_status("running")

    def fire_for(self, seconds: float) -> dict[str, Any]:
        """One test on a registered turret: start, collect for ``seconds``, stop;
        the ``ready`` status, with the results sent before it filed too."""
        self.send("start", "open fire")
        self.wait_status("running")
        self.collect(seconds)
        self.send("stop", "premature stop")
        ready = self.wait_status("ready")
        self.collect(0.3)
        return ready

    def register(self, timeout: float = 10.0) -> dict[str, Any]:
        """Send status_request until a turret answers; its first status (see
        ``tests/support/registration.py`` for why late answers are let in)."""
        first = len(self.statuses)

        def listen(seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                message = self.poll(left)
                if message is not None and wire.is_status(message):
                    return True
            return False

        if not register(lambda: self.send("status_request"), listen, timeout=timeout):
            raise AssertionError(f"no turret registered within {timeout}s")
        return self.statuses[first]

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
