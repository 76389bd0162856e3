"""The turret: its state machine and the command dispatcher.

Why it exists: one place decides what each HQ command means in each state, so
the rules of docs/protocol.md read top to bottom here. Every state change happens in the
one dispatcher greenlet (signals only raise a flag it reads), so no two commands ever
interleave. It must never die from a malformed frame: those are counted, logged a
few times, and ignored.

States::

    INIT ─► READY ─start─► RUNNING ─stop─► READY ─► …
              │                │
              └──kill/signal───┴──► KILLED (exit 0)      any crash ─► ABORTED (exit 1)
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import uuid as uuid_module
from collections.abc import Callable
from enum import StrEnum
from time import monotonic
from typing import Any

import gevent

from gturret import wire
from gturret.battery import WHOLE, Battery, Share
from gturret.config import TurretConfig
from gturret.dispatch import CommandReader
from gturret.link import Link, Route
from gturret.outbox import Outbox
from gturret.script import TransactionFactory
from gturret.watchdog import CanonInterrupted, Watchdog

log = logging.getLogger(__name__)

#: Seconds between two looks at the command socket.
COMMAND_POLL_INTERVAL = 0.005
#: At kill, seconds canons get to finish, and seconds to deliver what is queued.
KILL_GRACE = 0.3
KILL_FLUSH_TIMEOUT = 1.0
#: At stop, seconds to deliver what is queued before reporting ready anyway.
STOP_FLUSH_TIMEOUT = 5.0


class State(StrEnum):
    INIT = "init"
    READY = "ready"
    RUNNING = "running"
    KILLED = "killed"
    ABORTED = "aborted"


class Turret(CommandReader):
    """One turret: takes commands from the HQ, runs batteries, reports."""

    def __init__(
        self,
        config: TurretConfig,
        factory: TransactionFactory,
        uuid: str | None = None,
        route: Route | None = None,
        share: Share = WHOLE,
    ) -> None:
        """``route`` and ``share`` make it a worker of a fleet (see ``gturret.worker``)."""
        self.config = config
        self.factory = factory
        self.uuid = uuid or str(uuid_module.uuid4())
        self.state = State.INIT
        self.context: dict[str, Any] = {}
        self.outbox = Outbox(config.outbox_limit)
        self.link = Link(config, self.uuid, self.outbox, route)
        self.share = share
        self.battery: Battery | None = None
        self.frames_ignored = 0
        self.hq_wants: frozenset[str] = frozenset()
        self._counts_at_start = (0, 0, 0)
        self._kill_reason: str | None = None
        self._last_frame_at = monotonic()
        self.watchdog = Watchdog(
            self.link.route.commands,
            self.link.route.statuses,
            self.uuid,
            running=lambda: self.state is State.RUNNING,
            is_canon=lambda greenlet: self.battery is not None and self.battery.is_canon(greenlet),
            cease_fire=self._halt_canons,
            killed_status=lambda: self._status_frame(State.KILLED),
        )
        self._handlers: dict[str, Callable[[Any], None]] = {
            "status_request": self._on_status_request,
            "set_transaction_context": self._on_set_transaction_context,
            "start": self._on_start,
            "stop": self._on_stop,
            "kill": self._on_kill,
        }

    def serve(self) -> int:
        """Wait for commands until killed; the process's exit status."""
        self.link.start_pusher()
        self.watchdog.start()
        try:
            # Ready, but said only in answer to status_request: an announcement now
            # could reach an HQ before our subscription does, and the HQ would then
            # send its start into the void (ZeroMQ's PUB drops frames for
            # subscribers that have not joined yet).
            self.state = State.READY
            log.info(
                "turret %r (%s) ready, %d canons; waiting for the HQ at %s (commands)"
                " and %s (results)",
                self.config.name,
                self.uuid,
                self.config.canons,
                self.link.route.commands,
                self.config.collector_endpoint,
            )
            while self.state is not State.KILLED:
                try:
                    self._tick()
                except CanonInterrupted:
                    log.debug("a watchdog interrupt landed in the dispatcher; ignored")
            return 0
        except Exception:
            log.exception("turret error; aborting")
            self._abort()
            return 1
        finally:
            self.watchdog.close()
            self.link.close()

    def _tick(self) -> None:
        if self._kill_reason is not None:
            self._kill(self._kill_reason)
            return
        frame = self.link.receive()
        if frame is not None:
            self._last_frame_at = monotonic()
            self.handle_frame(frame)
            return
        if self._hq_silent():
            log.warning(
                "no frame from the HQ for %gs while running (hq_timeout): ceasing fire",
                self.config.hq_timeout,
            )
            self._cease_fire(self.config.stop_grace, STOP_FLUSH_TIMEOUT)
            self._set_state(State.READY)
            return
        gevent.sleep(COMMAND_POLL_INTERVAL)

    def _hq_silent(self) -> bool:
        timeout = self.config.hq_timeout
        return (
            timeout > 0
            and self.state is State.RUNNING
            and monotonic() - self._last_frame_at > timeout
        )

    def request_kill(self, reason: str) -> None:
        """Ask the dispatcher to kill the turret at its next tick (safe from a signal)."""
        self._kill_reason = reason
        self.watchdog.order("kill")

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT kill the turret cleanly; a second SIGINT exits at once.

        Plain ``signal.signal`` handlers, not gevent's: they run at the next bytecode
        even while a script holds the loop, so the watchdog learns of the kill.
        They only set flags, since they may run inside any greenlet.
        """

        def on_signal(signum: int, frame: object) -> None:
            name = signal.Signals(signum).name
            if self._kill_reason is not None and signum == signal.SIGINT:
                os.write(2, b"gturret: second SIGINT: exiting now, without flushing\n")
                os._exit(130)
            self.request_kill(name)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)

    def status_extra(self) -> dict[str, Any]:
        """Counters for an HQ that asked for them; results count since the last start."""
        produced, sent, dropped = self._counts_since_start()
        battery = self.battery
        return {
            "gturret": wire.PROTOCOL_VERSION,
            "canons_active": battery.active if battery else 0,
            "canons_spawned": battery.spawned if battery else 0,
            "canons_started": battery.started if battery else 0,
            "canons_completed": battery.completed if battery else 0,
            "canons_killed": {
                phase: {"count": killed.count, "longest_s": round(killed.longest_s, 3)}
                for phase, killed in (battery.killed() if battery else {}).items()
            },
            "results_produced": produced,
            "results_sent": sent,
            "results_dropped": dropped,
            "results_queued": self.outbox.queued,
            "frames_ignored": self.frames_ignored,
            "loop_blocked_s": round(self.watchdog.loop_blocked_for, 3),
            "rss_bytes": _resident_bytes(),
        }

    def _status_frame(self, state: State) -> bytes:
        return wire.encode_status(
            turret=self.config.name,
            status=state.value,
            uuid=self.uuid,
            rampup=round(self.config.rampup),
            script=self.config.raw["script"],
            cannons=self.config.canons,
            extra=self.status_extra() if wire.WANT_COUNTERS in self.hq_wants else None,
        )

    def _send_status(self) -> None:
        self.outbox.put_status(self._status_frame(self.state))
        self.link.drain()

    def _halt_canons(self) -> None:
        """Stop canons from starting new transactions (safe from the watchdog thread)."""
        if self.battery is not None:
            self.battery.firing = False

    def _set_state(self, state: State) -> None:
        self.state = state
        self._send_status()

    def _on_status_request(self, msg: Any) -> None:
        # Each request says again what this HQ wants: a reference HQ that follows one
        # of ours gets the six keys only.
        self.hq_wants = wire.hq_wants(msg)
        self._send_status()

    def _on_set_transaction_context(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            self._ignore(f"set_transaction_context with a {type(msg).__name__}, not an object")
            return
        self.context.update(msg)

    def _on_start(self, msg: Any) -> None:
        if self.state is not State.READY:
            log.info("start while %s: ignored", self.state.value)
            return
        self.battery = Battery(
            self.factory,
            self.config.raw,
            self.context,
            self.outbox,
            self.link.drain,
            self.config.canons,
            self.config.rampup,
            self.share,
        )
        self._counts_at_start = self._counts()
        self._last_frame_at = monotonic()
        self.battery.start()
        log.info("open fire: %d canons over %gs", len(self.battery.mine), self.config.rampup)
        self._set_state(State.RUNNING)

    def _on_stop(self, msg: Any) -> None:
        if self.state is not State.RUNNING:
            self._send_status()
            return
        self._cease_fire(self.config.stop_grace, STOP_FLUSH_TIMEOUT)
        self._set_state(State.READY)

    def _on_kill(self, msg: Any) -> None:
        self._kill("kill command")

    def _kill(self, reason: str) -> None:
        log.info("killing the turret (%s)", reason)
        if self.state is State.RUNNING:
            self._cease_fire(min(self.config.stop_grace, KILL_GRACE), KILL_FLUSH_TIMEOUT)
        self._set_state(State.KILLED)
        self.link.flush(KILL_FLUSH_TIMEOUT)

    def _abort(self) -> None:
        self._halt_canons()
        self.state = State.ABORTED
        try:
            self._send_status()
            self.link.flush(KILL_FLUSH_TIMEOUT)
        except Exception:
            log.exception("could not report the abort to the HQ")

    def _counts(self) -> tuple[int, int, int]:
        return (self.outbox.produced, self.outbox.sent, self.outbox.dropped)

    def _counts_since_start(self) -> tuple[int, int, int]:
        """Results produced, sent and dropped since the last start (the HQ's test)."""
        produced, sent, dropped = (
            now - then for now, then in zip(self._counts(), self._counts_at_start, strict=True)
        )
        return produced, sent, dropped

    def _cease_fire(self, grace: float, flush_timeout: float) -> None:
        assert self.battery is not None
        killed = self.battery.stop(grace)
        delivered = self.link.flush(flush_timeout)
        produced, sent, dropped = self._counts_since_start()
        phases = ", ".join(
            f"in {phase}: {killed.count}, the longest after {killed.longest_s:.1f}s"
            for phase, killed in self.battery.killed().items()
        )
        log.info(
            "cease fire: %d results produced, %d sent, %d dropped, %d still queued;"
            " %d canons killed after %gs grace%s",
            produced,
            sent,
            dropped,
            self.outbox.queued,
            killed,
            grace,
            f" ({phases})" if phases else "",
        )
        if not delivered:
            log.warning(
                "the HQ did not take every result within %gs; %d stay queued for it",
                flush_timeout,
                self.outbox.queued,
            )


def _resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak; for the status."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
