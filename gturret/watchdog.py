"""A real OS thread that keeps the turret answerable when a script blocks the loop.

Why it exists: canons are greenlets, so a script that never yields (a CPU loop, a
blocking C call) holds the one thread every greenlet shares, and no command, signal
or result gets through. The watchdog lives outside the gevent loop: a greenlet beats
a heartbeat; the thread watches it. When the loop has been blocked for
``BLOCKED_AFTER`` seconds it logs that once, and if meanwhile a ``stop`` or ``kill``
(seen on the watchdog's own SUB connection) or a signal is pending, it interrupts the
running canon with :class:`CanonInterrupted` and ceases fire, so the loop comes back
and the dispatcher handles the order as usual. A block in C code cannot be
interrupted: after a ``kill`` the watchdog then sends the final ``killed`` status
itself and exits the process.

It must never act while the loop is healthy (the dispatcher owns every state change)
or while no test runs, never interrupt anything but a canon (in ``--standalone``
the HQ shares the loop and may hold it, reading a backlog or writing its report: the
main thread's stack must run through :func:`gturret.canon.fire`), and never touch
the turret's own sockets (ZeroMQ sockets are not thread-safe): it has its own.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Callable
from time import monotonic
from typing import Any

import gevent
import zmq
from gevent import monkey

from gturret import wire
from gturret.canon import fire
from gturret.errors import WireError

log = logging.getLogger(__name__)

#: Seconds between heartbeats, and between two looks by the watchdog thread.
BEAT_INTERVAL = 0.05
CHECK_INTERVAL = 0.1
#: Seconds without a heartbeat after which the loop counts as blocked.
BLOCKED_AFTER = 0.3
#: Seconds a kill may wait on a loop that interrupting did not free, before exiting.
KILL_DEADLINE = 0.8

_real_sleep = monkey.get_original("time", "sleep")
_real_get_ident = monkey.get_original("_thread", "get_ident")
_real_start_thread = monkey.get_original("_thread", "start_new_thread")
_FIRE_CODE = fire.__code__


class CanonInterrupted(Exception):
    """Raised inside a canon that held the loop while the HQ or a signal wanted it."""

    def __str__(self) -> str:
        return "interrupted: the script held the loop while a stop or kill was pending"


class Watchdog:
    """Watches the loop's heartbeat from a real thread; frees or ends a blocked turret."""

    def __init__(
        self,
        command_endpoint: str,
        collector_endpoint: str,
        uuid: str,
        running: Callable[[], bool],
        cease_fire: Callable[[], None],
        killed_status: Callable[[], bytes],
    ) -> None:
        self._command_endpoint = command_endpoint
        self._collector_endpoint = collector_endpoint
        self._uuid = uuid
        self._running = running
        self._cease_fire = cease_fire
        self._killed_status = killed_status
        self._main_thread = _real_get_ident()
        self._beat = monotonic()
        self._order: str | None = None
        self._order_at = 0.0
        self._closing = False
        self._beater: gevent.Greenlet | None = None

    @property
    def loop_blocked_for(self) -> float:
        """Seconds since the loop last beat (about BEAT_INTERVAL when healthy)."""
        return monotonic() - self._beat

    def start(self) -> None:
        self._beater = gevent.spawn(self._beat_forever)
        _real_start_thread(self._watch, ())

    def close(self) -> None:
        self._closing = True
        if self._beater is not None:
            self._beater.kill()

    def order(self, name: str) -> None:
        """Note a pending stop/kill (from a signal handler or the watchdog's own SUB)."""
        if self._order != "kill":
            self._order = name
            self._order_at = monotonic()

    def _beat_forever(self) -> None:
        while True:
            self._beat = monotonic()
            gevent.sleep(BEAT_INTERVAL)

    def _watch(self) -> None:
        context = zmq.Context()
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(self._command_endpoint)
        try:
            self._watch_loop(sub, context)
        except Exception:
            log.exception("watchdog failed; a blocked loop will no longer be freed")
        finally:
            sub.close()
            context.term()

    def _watch_loop(self, sub: Any, context: Any) -> None:
        reported = False
        while not self._closing:
            _real_sleep(CHECK_INTERVAL)
            self._read_orders(sub)
            blocked = self.loop_blocked_for
            if blocked < BLOCKED_AFTER or not self._running():
                reported = False
                self._order = None
                continue
            where = self._canon_holding_the_loop()
            if where is None:
                continue
            if not reported:
                reported = True
                log.warning(
                    "the gevent loop has been blocked for %.1fs by a canon at %s: the script"
                    " holds the CPU or blocks in C code without yielding",
                    blocked,
                    where,
                )
            if self._order is None:
                continue
            self._interrupt()
            if self._order == "kill" and monotonic() - self._order_at > KILL_DEADLINE:
                sub.close()
                self._exit_killed(context)

    def _read_orders(self, sub: Any) -> None:
        while True:
            try:
                frame = sub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                command = wire.decode_command(frame)
            except WireError:
                continue
            if command.channel in ("", self._uuid) and command.name in ("stop", "kill"):
                self.order(command.name)

    def _interrupt(self) -> None:
        if self.loop_blocked_for < BLOCKED_AFTER:
            return
        self._cease_fire()
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(self._main_thread), ctypes.py_object(CanonInterrupted)
        )

    def _canon_holding_the_loop(self) -> str | None:
        """``file:line in function`` where a canon holds the main thread, or None if no
        canon does (its stack would run through :func:`gturret.canon.fire`)."""
        top = frame = sys._current_frames().get(self._main_thread)
        while frame is not None:
            if frame.f_code is _FIRE_CODE:
                assert top is not None
                code = top.f_code
                return f"{code.co_filename}:{top.f_lineno} in {code.co_name}"
            frame = frame.f_back
        return None

    def _exit_killed(self, context: Any) -> None:
        log.error("the loop is blocked in C code and cannot be freed: exiting on kill")
        push = context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 500)
        push.connect(self._collector_endpoint)
        push.send(self._killed_status())
        push.close()
        context.term()
        os._exit(0)
