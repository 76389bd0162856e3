"""The turret face: what the HQ sees of a turret, for a turret and a fleet parent alike.

Why it exists: a turret running its canons (:class:`gturret.turret.Turret`) and the
parent of a ``--processes`` fleet (:class:`gturret.fleet.Fleet`) look the same to
the HQ, so they share this one face, as Locust's runners share one ``Runner`` base:
the uuid, the state, the kill flag (which signals raise: :mod:`gturret.signals`),
the command table, the status frames (six keys unless the HQ asked for counters:
docs/protocol.md) and the cease-fire log line. Each side only says how it starts,
stops, kills and reports, and what it counts (:class:`StatusCounters`).

Frames follow the rules of docs/protocol.md: a broadcast or a direct order to our
uuid runs its command's handler; any other channel is not for us; a frame that does
not decode, names no command we know, or carries a context that is not an object is
logged a few times, counted in the status, and ignored. It must never let a bad
frame raise, and never change state but through the subclass's own handlers.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import uuid as uuid_module
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from gturret import wire
from gturret.config import TurretConfig
from gturret.errors import WireError
from gturret.wire import State

log = logging.getLogger(__name__)

#: Bad frames logged one by one before the rest are only counted.
BAD_FRAMES_LOGGED = 5


@dataclass(slots=True)
class StatusCounters:
    """What a turret counts, sent in its status to an HQ that asked for counters.

    Canons and results count the current (or last) test. A canon is spawned on the
    rampup schedule, started once its greenlet first runs, failed if its
    Transaction could not be built, completed once it finished a transaction;
    ``canons_killed`` maps a phase to the canons killed there at the stop and the
    longest time one had spent in it. In the open model, ``pacing_*`` count the
    transactions scheduled, those started late and those dropped for being too
    late. ``rss_bytes`` and ``rss_peak_bytes`` are the process's resident memory now
    and at its highest (:func:`process_memory`; a fleet's: its processes' added up).
    ``processes`` is set by a fleet parent only.
    """

    canons_active: int = 0
    canons_spawned: int = 0
    canons_started: int = 0
    canons_failed: int = 0
    canons_completed: int = 0
    canons_killed: dict[str, dict[str, float]] = field(default_factory=dict)
    results_produced: int = 0
    results_sent: int = 0
    results_dropped: int = 0
    results_queued: int = 0
    pacing_scheduled: int = 0
    pacing_late: int = 0
    pacing_dropped: int = 0
    frames_ignored: int = 0
    loop_blocked_s: float = 0.0
    rss_bytes: int = 0
    rss_peak_bytes: int = 0
    processes: int | None = None

    def as_status_keys(self) -> dict[str, Any]:
        """The keys a status carries: the protocol version, then every known counter."""
        counters = {key: value for key, value in asdict(self).items() if value is not None}
        return {"gturret": wire.PROTOCOL_VERSION, **counters}

    @classmethod
    def from_status(cls, status: dict[str, Any]) -> StatusCounters:
        """The counters a status of ours carries (missing ones are 0)."""
        known = {name: status[name] for name in cls.__dataclass_fields__ if name in status}
        return cls(**known)

    @classmethod
    def combined(cls, parts: Iterable[StatusCounters]) -> StatusCounters:
        """Counters of several processes as one turret's: added up, the worst stall kept."""
        total = cls()
        for part in parts:
            for name in cls.__dataclass_fields__:
                value = getattr(part, name)
                if isinstance(value, int) and name != "processes":
                    setattr(total, name, getattr(total, name) + value)
            total.loop_blocked_s = max(total.loop_blocked_s, part.loop_blocked_s)
            for phase, killed in part.canons_killed.items():
                into = total.canons_killed.setdefault(phase, {"count": 0, "longest_s": 0.0})
                into["count"] += killed["count"]
                into["longest_s"] = max(into["longest_s"], killed["longest_s"])
        return total


def process_memory() -> tuple[int, int]:
    """This process's resident memory now and at its highest so far, in bytes.

    Now from ``/proc/self/statm`` (Linux: one small read, cheap at one status a
    second); the peak from ``getrusage`` (kilobytes on Linux, bytes on macOS), read
    first, so never below the memory now. Without ``/proc`` the peak stands for both.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak *= 1 if sys.platform == "darwin" else 1024
    try:
        with open("/proc/self/statm", "rb") as statm:
            now = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak, peak
    return now, max(now, peak)


class TurretFace:
    """The HQ-facing half of a turret; subclasses fill in the ``abstract`` hooks."""

    def __init__(self, config: TurretConfig, uuid: str | None = None) -> None:
        self.config = config
        self.uuid = uuid or str(uuid_module.uuid4())
        self.state = State.INIT
        self.frames_ignored = 0
        self.hq_wants: frozenset[str] = frozenset()
        self.kill_reason: str | None = None
        self._handlers: dict[str, Callable[[Any], None]] = {
            "status_request": self._on_status_request,
            "set_transaction_context": self._on_set_transaction_context,
            "start": self.start_test,
            "stop": self.stop_test,
            "kill": lambda msg: self.kill("kill command"),
        }

    # What each side says: how it starts, stops, kills and reports, what it counts.

    def counters(self) -> StatusCounters:
        raise NotImplementedError

    def push_status(self, frame: bytes) -> None:
        """Send an encoded status to the HQ now (ahead of any queued result)."""
        raise NotImplementedError

    def set_context(self, context: dict[str, Any]) -> None:
        raise NotImplementedError

    def start_test(self, msg: Any) -> None:
        raise NotImplementedError

    def stop_test(self, msg: Any) -> None:
        raise NotImplementedError

    def kill(self, reason: str) -> None:
        raise NotImplementedError

    def take_loop_lag(self) -> str | None:
        """The loop-lag histogram since the last status (encoded), if this side has one."""
        return None

    def answer_status_request(self) -> None:
        """Answer a status_request: at once, unless the side has to gather counters."""
        self.send_status()

    # The shared face.

    def handle_frame(self, frame: bytes) -> None:
        """Decode one frame and run its command; bad frames are counted and ignored."""
        try:
            command = wire.decode_command(frame)
        except WireError as exc:
            self.ignore(f"malformed frame ignored: {exc}")
            return
        if command.channel and command.channel != self.uuid:
            return
        handler = self._handlers.get(command.name)
        if handler is None:
            self.ignore(f"unknown command {command.name[:80]!r} ignored")
            return
        handler(command.msg)

    def ignore(self, why: str) -> None:
        """Count a frame we cannot obey; log the first few."""
        self.frames_ignored += 1
        if self.frames_ignored <= BAD_FRAMES_LOGGED:
            log.warning(why)
            if self.frames_ignored == BAD_FRAMES_LOGGED:
                log.warning("further bad frames are counted in the status, not logged")

    def _on_status_request(self, msg: Any) -> None:
        # Each request says again what this HQ wants: a reference HQ that follows one
        # of ours gets the six keys only.
        self.hq_wants = wire.hq_wants(msg)
        self.answer_status_request()

    def _on_set_transaction_context(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            self.ignore(f"set_transaction_context with a {type(msg).__name__}, not an object")
            return
        self.set_context(msg)

    def status_frame(self, state: State | None = None) -> bytes:
        """Our status in ``state`` (the current one by default), as this HQ wants it."""
        extra = None
        # The reference HQ stores rampup as an integer; ours starts the fleet on it,
        # so it gets the config's own seconds (0.5 stays 0.5, not 0).
        rampup: float = round(self.config.rampup)
        if wire.WANT_COUNTERS in self.hq_wants:
            rampup = self.config.rampup
            extra = self.counters().as_status_keys()
            lag = self.take_loop_lag()
            if lag is not None:
                extra["loop_lag"] = lag
        return wire.encode_status(
            turret=self.config.name,
            status=(state or self.state).value,
            uuid=self.uuid,
            rampup=rampup,
            script=self.config.raw["script"],
            cannons=self.config.canons,
            extra=extra,
        )

    def send_status(self) -> None:
        self.push_status(self.status_frame())

    def set_state(self, state: State) -> None:
        self.state = state
        self.send_status()

    def request_kill(self, reason: str) -> None:
        """Ask for a kill at the next turn of the loop (safe from a signal handler)."""
        self.kill_reason = reason

    def log_cease_fire(self, counters: StatusCounters, detail: str = "") -> None:
        """The one line a stop leaves in the log: what was produced, sent, dropped."""
        log.info(
            "cease fire: %d results produced, %d sent, %d dropped, %d still queued%s",
            counters.results_produced,
            counters.results_sent,
            counters.results_dropped,
            counters.results_queued,
            detail,
        )
