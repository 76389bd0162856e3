"""The turret face: what the HQ sees of a turret, for a turret and a fleet parent alike.

Why it exists: a turret running its canons (:class:`gturret.turret.Turret`) and the
parent of a ``--processes`` fleet (:class:`gturret.fleet.Fleet`) look the same to
the HQ, so they share this one face, as Locust's runners share one ``Runner`` base:
the uuid, the state, the serve loop (the kill flag, which signals raise:
:mod:`gturret.signals`; the ready line; a failed handshake ends it with a usage
exit, a crash with an abort), the command table, the status frames (six keys
unless the HQ asked for counters: docs/protocol.md) and the cease-fire log line.
Each side only says how it opens, takes one turn, starts, stops, kills, aborts
and reports, and what it counts (:class:`StatusCounters`).

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
from gturret.counts import CanonCounts
from gturret.errors import CanonInterrupted, ExitStatus, HandshakeError, WireError
from gturret.feeders import merge_reports
from gturret.wire import Command, State

log = logging.getLogger(__name__)

#: Bad frames logged one by one before the rest are only counted.
BAD_FRAMES_LOGGED = 5


@dataclass(slots=True)
class StatusCounters(CanonCounts):
    """What a turret counts, sent in its status to an HQ that asked for counters.

    The canons' counts (:class:`~gturret.counts.CanonCounts`: the current or last
    test), then what the process counts besides. Results count the current (or
    last) test too. ``rss_bytes`` and ``rss_peak_bytes`` are the process's resident
    memory now and at its highest (:func:`process_memory`; a fleet's: its
    processes' added up). ``processes`` is set by a fleet parent only. ``feeders``
    holds each feeder's rows served and left and when it ran out
    (:meth:`gturret.feeders.Feeder.report`). The journal's counters (``seq_sent``,
    ``replay_dropped``, ``replay_kept`` and ``senders``, the same per sender) are set
    only while the HQ journals; a fleet's add up its workers' and ``senders`` holds
    each worker's entry.
    """

    canons_active: int = 0
    results_produced: int = 0
    results_sent: int = 0
    results_dropped: int = 0
    results_queued: int = 0
    frames_ignored: int = 0
    loop_blocked_s: float = 0.0
    rss_bytes: int = 0
    rss_peak_bytes: int = 0
    processes: int | None = None
    feeders: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq_sent: int | None = None
    replay_dropped: int | None = None
    replay_kept: int | None = None
    senders: dict[str, dict[str, int]] | None = None

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
        """Counters of several processes as one turret's: added up, the worst stall
        kept, every sender's journal entry."""
        total = cls()
        for part in parts:
            for name in cls.__dataclass_fields__:
                value = getattr(part, name)
                if isinstance(value, int) and name != "processes":
                    setattr(total, name, (getattr(total, name) or 0) + value)
            if part.senders is not None:
                total.senders = {**(total.senders or {}), **part.senders}
            total.loop_blocked_s = max(total.loop_blocked_s, part.loop_blocked_s)
            for phase, killed in part.canons_killed.items():
                into = total.canons_killed.setdefault(phase, {"count": 0, "longest_s": 0.0})
                into["count"] += killed["count"]
                into["longest_s"] = max(into["longest_s"], killed["longest_s"])
            total.feeders = merge_reports([total.feeders, part.feeders])
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
        #: The canons this turret runs: its config's, until a ``set_canons`` order.
        self.canons = config.canons
        self._handlers: dict[str, Callable[[Any], None]] = {
            "status_request": self._on_status_request,
            "set_transaction_context": self._on_set_transaction_context,
            "start": self.start_test,
            "stop": self.stop_test,
            "kill": lambda msg: self.kill("kill command"),
            "journal": self._on_journal,
            wire.SET_ARRIVAL_RATE: self._on_set_arrival_rate,
            wire.SET_CANONS: self._on_set_canons,
        }

    # What each side says: how it opens, takes a turn, starts, stops, kills, aborts and
    # reports, what it counts.

    def open(self) -> bool:
        """Get ready to serve; False if not ready (a kill came first, or it aborted)."""
        raise NotImplementedError

    def ready_detail(self) -> str:
        """What the ready line adds after the canons (a fleet: its workers)."""
        return ""

    def commands_endpoint(self) -> str:
        """Where the commands come from, as the ready line says."""
        raise NotImplementedError

    def turn(self) -> None:
        """One turn of the serve loop: read the HQ, wait a little if nothing came."""
        raise NotImplementedError

    def refused(self) -> None:
        """The HQ refused our handshake: let go of what this side started."""

    def abort(self, why: str | None) -> None:
        """Report ``aborted`` (``why``: what failed, None for this process itself)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the sockets and whatever else the side holds; the serve's last step."""
        raise NotImplementedError

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

    def journal(self, order: wire.JournalOrder) -> None:
        """Let go of what the HQ acknowledged, and push again what it asks for."""
        raise NotImplementedError

    def set_arrival_rate(self, rate: float) -> None:
        """Steering: the open model's rate, from now on (this turret's share)."""
        raise NotImplementedError

    def set_canons(self, canons: int) -> None:
        """Steering: the canons this turret runs, from now on."""
        raise NotImplementedError

    def take_loop_lag(self) -> str | None:
        """The loop-lag histogram since the last status (encoded), if this side has one."""
        return None

    def answer_status_request(self) -> None:
        """Answer a status_request: at once, unless the side has to gather counters."""
        self.send_status()

    # The shared face.

    def serve(self) -> int:
        """Wait for commands until killed or aborted; the process's exit status."""
        try:
            if self.open():
                # Ready, but said only in answer to status_request: an announcement now
                # could reach an HQ before our subscription does, and the HQ would then
                # send its start into the void (ZeroMQ's PUB drops frames for
                # subscribers that have not joined yet).
                self.state = State.READY
                log.info(
                    "turret %r (%s) ready, %d canons%s; waiting for the HQ at %s (commands)"
                    " and %s (results)",
                    self.config.name,
                    self.uuid,
                    self.config.canons,
                    self.ready_detail(),
                    self.commands_endpoint(),
                    self.config.collector_endpoint,
                )
            while self.state not in (State.KILLED, State.ABORTED):
                try:
                    if self.kill_reason is not None:
                        self.kill(self.kill_reason)
                    else:
                        self.turn()
                except CanonInterrupted:
                    log.debug("a watchdog interrupt landed in the dispatcher; ignored")
            return ExitStatus.OK if self.state is State.KILLED else ExitStatus.FAILED
        except HandshakeError as exc:
            log.error("%s", exc)
            self.refused()
            return ExitStatus.USAGE
        except Exception:
            log.exception("turret error; aborting")
            self.abort(None)
            return ExitStatus.FAILED
        finally:
            self.close()

    def is_for_me(self, command: Command) -> bool:
        """A broadcast (no channel) or a direct order to our uuid: the one rule, for the
        dispatcher and for the watchdog's own SUB."""
        return not command.channel or command.channel == self.uuid

    def handle_frame(self, frame: bytes) -> None:
        """Decode one frame and run its command; bad frames are counted and ignored."""
        try:
            command = wire.decode_command(frame)
        except WireError as exc:
            self.ignore(f"malformed frame ignored: {exc}")
            return
        if not self.is_for_me(command):
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

    def _on_journal(self, msg: Any) -> None:
        try:
            order = wire.decode_journal(msg)
        except WireError as exc:
            self.ignore(f"bad journal command ignored: {exc}")
            return
        self.journal(order)

    def _on_set_transaction_context(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            self.ignore(f"set_transaction_context with a {type(msg).__name__}, not an object")
            return
        self.set_context(msg)

    def _on_set_arrival_rate(self, msg: Any) -> None:
        rate = wire.decode_arrival_rate(msg)
        if rate is None:
            self.ignore("set_arrival_rate without a rate (a number >= 0) ignored")
            return
        self.set_arrival_rate(rate)

    def _on_set_canons(self, msg: Any) -> None:
        canons = wire.decode_canons(msg)
        if canons is None:
            self.ignore("set_canons without canons (a whole number >= 1) ignored")
            return
        self.set_canons(canons)

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
            cannons=self.canons,
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
