"""A real OS thread that keeps the turret answerable when a script blocks the loop.

Why it exists: canons are greenlets, so a script that never yields (a CPU loop, a
blocking C call) holds the one thread every greenlet shares, and no command, signal
or result gets through. The watchdog lives outside the gevent loop. gevent's
``HubSwitchTracer`` (compiled, called by greenlet on every switch) notes when the
hub last got the thread back and which greenlet runs now; the watchdog thread reads
it. When one canon has held the thread for ``BLOCKED_AFTER`` seconds without giving
it back, the watchdog logs that once, naming the script line, and if meanwhile a
``stop`` or ``kill`` (seen on the watchdog's own SUB connection) or a signal is
pending, it interrupts that canon with :class:`CanonInterrupted` and ceases fire, so
the loop comes back and the dispatcher handles the order as usual. A block in C code
cannot be interrupted: after a ``kill`` the watchdog then sends the final ``killed``
status itself and exits the process. It does the same to a turret still alive
``KILL_OVERRUN`` after a kill (from the HQ or a signal), whatever holds it: canons
that each yield but together starve the loop, an HQ that takes nothing. So a kill
always ends the process within about 2 s.

Many busy canons only make the loop late (each gives the thread back to the hub
every millisecond): that is loop lag, not a block, and the watchdog leaves it alone.

It must never act while the loop is healthy (the dispatcher owns every state change)
or while no test runs, never interrupt anything but a canon (in ``--standalone``
the HQ shares the loop), and never touch the turret's own sockets (ZeroMQ sockets
are not thread-safe): it has its own.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Callable
from time import monotonic, perf_counter
from typing import Any

import zmq
from gevent import get_hub, monkey
from gevent._tracer import HubSwitchTracer

from gturret import wire
from gturret.errors import CanonInterrupted, ExitStatus, WireError
from gturret.link import Route, command_socket, push_socket, receive

log = logging.getLogger(__name__)

#: Seconds between two looks by the watchdog thread.
CHECK_INTERVAL = 0.1
#: Seconds one canon may hold the thread before the loop counts as blocked.
BLOCKED_AFTER = 0.3
#: Seconds a kill may wait on a loop that interrupting did not free, before exiting.
KILL_DEADLINE = 0.8
#: Seconds after a kill at which a turret that has not ended is ended, and
#: milliseconds its last ``killed`` status may linger on the way out.
KILL_OVERRUN = 1.6
EXIT_LINGER_MS = 200

_real_sleep = monkey.get_original("time", "sleep")
_real_get_ident = monkey.get_original("_thread", "get_ident")
_real_start_thread = monkey.get_original("_thread", "start_new_thread")


class Watchdog:
    """Watches from a real thread which greenlet holds the loop; frees or ends a blocked turret."""

    def __init__(
        self,
        route: Route,
        is_for_me: Callable[[wire.Command], bool],
        running: Callable[[], bool],
        is_canon: Callable[[Any], bool],
        cease_fire: Callable[[], None],
        killed_status: Callable[[], bytes],
        may_exit: bool = True,
    ) -> None:
        """``is_for_me``: the dispatcher's rule for which commands are ours;
        ``may_exit=False`` (``--standalone``, whose HQ owns the exit status): never
        end the process on ``KILL_OVERRUN``."""
        self._route = route
        self._is_for_me = is_for_me
        self._running = running
        self._is_canon = is_canon
        self._cease_fire = cease_fire
        self._killed_status = killed_status
        self._may_exit = may_exit
        self._main_thread = _real_get_ident()
        self._hub = get_hub()
        self._tracer: HubSwitchTracer | None = None
        self._order: str | None = None
        self._order_at = 0.0
        self._due: tuple[str, float] | None = None
        self._closing = False

    @property
    def loop_blocked_for(self) -> float:
        """Seconds the greenlet running now has held the thread (0 when the hub has it)."""
        tracer = self._tracer
        if tracer is None or tracer.active_greenlet in (None, self._hub):
            return 0.0
        entered: float = tracer.last_entered_hub
        return max(0.0, perf_counter() - entered)

    def start(self) -> None:
        """Trace greenlet switches (from this, the loop's thread) and start watching."""
        self._tracer = HubSwitchTracer(self._hub, BLOCKED_AFTER)
        _real_start_thread(self._watch, ())

    def close(self) -> None:
        self._closing = True
        if self._tracer is not None:
            self._tracer.kill()

    def order(self, name: str) -> None:
        """Note a pending stop/kill (from a signal handler or the watchdog's own SUB).

        A kill stands until the process ends; a stop is over once the loop is healthy.
        """
        if self._order != "kill":
            self._order = name
            self._order_at = monotonic()

    def order_after(self, name: str, seconds: float) -> None:
        """A stop/kill due ``seconds`` from now: pending whenever a canon blocks after that.

        For ``--standalone``, whose HQ shares the loop: a canon that never yields
        would keep the HQ from ever sending its stop.
        """
        self._due = (name, monotonic() + seconds)

    def _watch(self) -> None:
        context: zmq.Context[Any] = zmq.Context()
        sub = command_socket(context, self._route.commands, None, self._route.curve)
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
            self._order_if_due()
            if self._kill_overrun():
                sub.close()
                self._exit_killed(
                    context, f"the turret did not end within {KILL_OVERRUN:g}s of its kill"
                )
            blocked = self.loop_blocked_for
            canon = self._tracer.active_greenlet if self._tracer else None
            if blocked < BLOCKED_AFTER or not self._running() or not self._is_canon(canon):
                reported = False
                if self._order != "kill":
                    self._order = None
                continue
            if not reported:
                reported = True
                log.warning(
                    "the gevent loop has been blocked for %.1fs by a canon at %s: the script"
                    " holds the CPU or blocks in C code without yielding",
                    blocked,
                    self._where(),
                )
            if self._order is None:
                continue
            self._interrupt()
            if self._order == "kill" and monotonic() - self._order_at > KILL_DEADLINE:
                sub.close()
                self._exit_killed(context, "the loop is blocked in C code and cannot be freed")

    def _kill_overrun(self) -> bool:
        return (
            self._may_exit and self._order == "kill" and monotonic() - self._order_at > KILL_OVERRUN
        )

    def _order_if_due(self) -> None:
        if self._due is not None and monotonic() >= self._due[1]:
            self.order(self._due[0])

    def _read_orders(self, sub: Any) -> None:
        while (frame := receive(sub)) is not None:
            try:
                command = wire.decode_command(frame)
            except WireError:
                continue
            if command.name in ("stop", "kill") and self._is_for_me(command):
                self.order(command.name)

    def _interrupt(self) -> None:
        self._cease_fire()
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(self._main_thread), ctypes.py_object(CanonInterrupted)
        )

    def _where(self) -> str:
        """``file:line in function`` the main thread is running now."""
        frame = sys._current_frames().get(self._main_thread)
        if frame is None:
            return "an unknown place"
        return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"

    def _exit_killed(self, context: Any, why: str) -> None:
        log.error("%s: exiting on kill", why)
        push = push_socket(context, self._route.statuses, self._route.curve, EXIT_LINGER_MS)
        push.send(self._killed_status())
        push.close()
        context.term()
        os._exit(ExitStatus.OK)
