"""A small but real turret for the HQ tests: plain zmq SUB/PUSH in a thread.

It speaks docs/protocol.md through ``gturret.wire``: answers ``status_request``
(with counters only when the HQ asks, as gturret does), obeys
``set_transaction_context``/``start``/``stop``, and while running pushes results at a
fixed pace, counting every one it sends. ``tests/test_hq_fake_turret.py`` checks the
fake itself against raw sockets.
"""

from __future__ import annotations

import threading
import time
import uuid as uuid_module
from collections.abc import Callable
from typing import Any

import ujson
import zmq

from gturret.errors import WireError
from gturret.wire import WANT_COUNTERS, decode_command, encode_result, encode_status, hq_wants

LIFETIME_S = 60.0


class FakeTurret:
    """Connects to an HQ on 127.0.0.1 and plays a turret until close()."""

    def __init__(
        self,
        pub_port: int,
        rc_port: int,
        *,
        name: str = "fake",
        canons: int = 2,
        per_tick: int = 5,
        tick_s: float = 0.01,
        max_results: int | None = None,
        scriptrun_time: Callable[[int], float] = lambda i: 0.005,
        error: Callable[[int], str] = lambda i: "",
        timers: Callable[[int], dict[str, float]] = lambda i: {"login": 0.002},
        report_counters: bool = True,
        raw_results: bool = False,
        obeys_stop: bool = True,
    ) -> None:
        """``obeys_stop=False`` plays a turret that hangs at ``stop``: it never says
        ``ready`` again (the HQ then drains until ``--drain-timeout``)."""
        self.pub_port, self.rc_port = pub_port, rc_port
        self.name, self.canons = name, canons
        self.uuid = str(uuid_module.uuid4())
        self.per_tick, self.tick_s, self.max_results = per_tick, tick_s, max_results
        self._scriptrun_time, self._error, self._timers = scriptrun_time, error, timers
        self.report_counters = report_counters
        self.raw_results = raw_results
        self.obeys_stop = obeys_stop
        self.commands: list[tuple[str, str]] = []
        self.context: dict[str, Any] = {}
        self.sent = 0
        self.sent_at_start = 0
        self.hq_wants: frozenset[str] = frozenset()
        self.running = False
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-turret-{name}", daemon=True)

    def start(self) -> FakeTurret:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=10)

    def started_by(self) -> list[str]:
        """The channels of the start commands received ("" for a broadcast)."""
        return [channel for name, channel in self.commands if name == "start"]

    def _status(self, push: zmq.Socket[bytes]) -> None:
        sent = self.sent - self.sent_at_start
        extra = {
            "canons_active": self.canons if self.running else 0,
            "results_produced": sent,
            "results_sent": sent,
            "results_dropped": 0,
            "results_queued": 0,
        }
        asked = WANT_COUNTERS in self.hq_wants
        push.send(
            encode_status(
                turret=self.name,
                status="running" if self.running else "ready",
                uuid=self.uuid,
                rampup=0,
                script="fake.py",
                cannons=self.canons,
                extra=extra if asked and self.report_counters else None,
            )
        )

    def _result(self, push: zmq.Socket[bytes]) -> None:
        index = self.sent
        fields = (
            self.name,
            1.0,
            time.time(),
            self._scriptrun_time(index),
            self._error(index),
            self._timers(index),
        )
        if self.raw_results:
            keys = ("turret_name", "elapsed", "epoch", "scriptrun_time", "error", "custom_timers")
            push.send(ujson.dumps(dict(zip(keys, fields, strict=True))).encode())
        else:
            push.send(encode_result(*fields))
        self.sent += 1

    def _run(self) -> None:
        context = zmq.Context()
        sub = context.socket(zmq.SUB)
        sub.connect(f"tcp://127.0.0.1:{self.pub_port}")
        sub.setsockopt_string(zmq.SUBSCRIBE, "")
        sub.setsockopt_string(zmq.SUBSCRIBE, self.uuid)
        push = context.socket(zmq.PUSH)
        push.connect(f"tcp://127.0.0.1:{self.rc_port}")
        deadline = time.monotonic() + LIFETIME_S
        try:
            while not self._closing.is_set() and time.monotonic() < deadline:
                if sub.poll(int(self.tick_s * 1000)):
                    self._obey(sub.recv(), push)
                if self.running:
                    for _ in range(self.per_tick):
                        if self.max_results is not None and self.sent >= self.max_results:
                            break
                        self._result(push)
        finally:
            sub.close(linger=0)
            push.close(linger=2000)
            context.term()

    def _obey(self, frame: bytes, push: zmq.Socket[bytes]) -> None:
        try:
            command = decode_command(frame)
        except WireError:
            return
        if command.channel not in ("", self.uuid):
            return
        self.commands.append((command.name, command.channel))
        if command.name == "status_request":
            self.hq_wants = hq_wants(command.msg)
            self._status(push)
        elif command.name == "set_transaction_context" and isinstance(command.msg, dict):
            self.context.update(command.msg)
        elif command.name == "start" and not self.running:
            self.running = True
            self.sent_at_start = self.sent
            self._status(push)
        elif command.name == "stop" and self.running and self.obeys_stop:
            self.running = False
            self._status(push)
