"""The turret's two ZeroMQ sockets: SUB for the HQ's commands, PUSH for what we send.

Why it exists: sockets, their options and their failure modes in one place. The
turret connects and the HQ binds; ZeroMQ reconnects on its own when the HQ restarts.
A worker of a fleet (``--processes``) is given a :class:`Route`: it takes commands
from, and sends statuses to, its parent, while its results still go straight to the
HQ on their own PUSH socket.

With keys in the config (:mod:`gturret.keys`) every socket to the HQ is a CurveZMQ
client; a fleet's ipc sockets stay plain (a local socket of the same user, in a
folder only that user can open). Handshake failures on the sockets to the HQ are
watched (:meth:`HQSockets.handshake_failure`): ZeroMQ alone would retry them silently.

Every send here is non-blocking (``NOBLOCK``). The dispatcher waits for commands
on the SUB socket's FD through a gevent IO watcher (:func:`receive_within`), which
wakes its greenlet straight from the loop as a timer does, while a ``zmq.green``
receive is woken through a loop callback, queued behind every canon waiting to
run. Measured (2026-11-28, one core, a frame sent every 0.25 s from another process
to a dispatcher sharing the loop with N canons that each compute 1 ms between
yields), when the dispatcher still polled every 5 ms:

    busy canons    SUB polled every 5 ms           zmq.green recv()
    100            p50 44 ms,  max 172 ms          p50 249 ms,   max 293 ms
    1,000          p50 43 ms,  max 133 ms          p50 2,094 ms, 8 of 20 frames within 8 s
    3,000          p50 28 ms,  max 51 ms           p50 2,082 ms, max 3,098 ms
    10,000         p50 31 ms,  max 52 ms           no frame at all within 8 s

Measured again (2026-12-03, the same setup, 29 frames each): the FD wait p50 31 ms
(max 48) at 100 canons and 37 ms (max 225) at 1,000, the 5 ms poll 30 ms (max 40)
and 29 ms (max 225): the same, and an idle turret's dispatcher wakes 10 times a
second instead of 200. Because nothing waits through pyzmq's green layer, these are plain pyzmq
sockets, not ``zmq.green`` ones: the green wrapper re-reads the socket's event
state after every send so that waiters can be woken, and measured with py-spy that
bookkeeping was two thirds of the turret's CPU per result. No call here can block
the loop.

This module must never block a canon and never drop a message without counting it.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from time import monotonic, perf_counter
from typing import Any, cast

import gevent
import gevent.socket
import zmq

from gturret import wire
from gturret.config import TurretConfig
from gturret.keys import HandshakeFailure, HandshakeWatch, TurretKeys, curve_client
from gturret.outbox import Outbox
from gturret.replay import ReplayBuffer

log = logging.getLogger(__name__)

#: Seconds between two drains of the outbox while results flow; while none come, the
#: wait doubles from ``PUSH_IDLE_INTERVAL`` up to ``PUSH_IDLE_LONGEST``, so that an idle
#: turret (a hundred of them on one machine) costs next to nothing. Statuses and
#: intervals are sent as they are queued, so only a result after a lull waits longer.
PUSH_INTERVAL = 0.002
PUSH_IDLE_INTERVAL = 0.02
PUSH_IDLE_LONGEST = 0.2
#: Seconds one drain may hold the CPU before it gives the canons their turn.
PUSH_BUDGET = 0.005
#: Milliseconds ZeroMQ keeps trying to deliver queued messages when the link closes.
CLOSE_LINGER_MS = 1000
#: Seconds between two log lines about dropped results.
DROP_LOG_INTERVAL = 5.0

# pyzmq's send without its Python layer (which only handles routing ids and groups,
# never used here): half the cost of a send, measured, on the turret's hot path.
_send = zmq.backend.Socket.send
NOBLOCK = zmq.NOBLOCK


@dataclass(frozen=True, slots=True)
class Route:
    """Where a turret takes its commands from and sends its statuses to, with what keys."""

    commands: str
    statuses: str
    curve: TurretKeys | None = None

    @classmethod
    def to_hq(cls, config: TurretConfig) -> Route:
        """A turret on its own: both ways lead to the HQ (with the config's keys)."""
        return cls(config.publisher_endpoint, config.collector_endpoint, config.curve)

    @property
    def to_parent(self) -> bool:
        """True for a fleet worker's route: local ipc sockets to its parent."""
        return self.commands.startswith("ipc://")


def command_socket(
    context: zmq.Context[Any], endpoint: str, uuid: str | None, curve: TurretKeys | None = None
) -> zmq.Socket[bytes]:
    """A SUB socket for an HQ's (or a fleet parent's) commands: broadcasts and our orders.

    Subscribed to ``""`` and, given a ``uuid``, to it too: ``""`` matches every frame
    anyway, but a fleet parent learns that a worker hears its orders from that
    worker's subscription to its uuid (XPUB passes on only the first subscription
    to a topic, so a second socket of the same worker, the watchdog's, must not
    make one). Works with plain and ``zmq.green`` contexts.
    """
    sub: zmq.Socket[bytes] = context.socket(zmq.SUB)
    if curve is not None:
        curve_client(sub, curve)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    if uuid is not None:
        sub.setsockopt(zmq.SUBSCRIBE, uuid.encode())
    sub.connect(endpoint)
    return sub


def push_socket(
    context: zmq.Context[Any],
    endpoint: str,
    curve: TurretKeys | None,
    linger_ms: int,
    immediate: bool = False,
) -> zmq.Socket[bytes]:
    """A PUSH socket to an HQ (a CurveZMQ client given keys) or to a fleet parent.

    ``immediate`` queues messages only on a connection that completed its handshake.
    """
    push: zmq.Socket[bytes] = context.socket(zmq.PUSH)
    if curve is not None:
        curve_client(push, curve)
    push.setsockopt(zmq.LINGER, linger_ms)
    if immediate:
        push.setsockopt(zmq.IMMEDIATE, 1)
    push.connect(endpoint)
    return push


def handshake_problem(failure: HandshakeFailure, curve: TurretKeys | None) -> str:
    """The turret's one line on a failed handshake with the HQ, naming the likely cause."""
    endpoint = failure.endpoint
    if failure.mechanism_mismatch and curve is None:
        return (
            f"the HQ at {endpoint} requires CurveZMQ keys and this turret has none: add"
            " 'hq_public_key' and 'turret_secret_key' to its config"
        )
    if failure.mechanism_mismatch:
        return (
            f"the HQ at {endpoint} does not use CurveZMQ keys, and this turret does: give"
            " the HQ --secret-key and --turret-keys, or remove the keys from the config"
        )
    if failure.refused_key and curve is not None:
        return (
            f"the HQ at {endpoint} refused this turret's key ({curve.own.public.decode()},"
            f" {curve.own.path}): put its .key file in the HQ's --turret-keys folder"
        )
    if curve is not None:
        return (
            f"the CurveZMQ handshake with the HQ at {endpoint} failed: does that HQ use keys"
            f" (--secret-key), and is {curve.hq_public_path} (hq_public_key) its public key?"
        )
    return (
        f"the HQ at {endpoint} closed the connection during the handshake: does it require"
        " CurveZMQ keys ('hq_public_key' and 'turret_secret_key' in this turret's config)?"
    )


def receive(socket: zmq.Socket[bytes]) -> bytes | None:
    """The next frame waiting on ``socket``, or None: never waits."""
    try:
        frame: bytes = socket.recv(zmq.NOBLOCK)
    except zmq.Again:
        return None
    return frame


def receive_within(socket: zmq.Socket[bytes], seconds: float) -> bytes | None:
    """The next frame on ``socket``, waiting up to ``seconds`` for one without holding
    the gevent loop.

    The socket is a plain ZeroMQ one, so the wait is on its FD. That FD is
    edge-triggered: it tells that ZeroMQ's state changed, not that a frame waits,
    so EVENTS is read after every failed receive before waiting again.
    """
    deadline = monotonic() + seconds
    while True:
        frame = receive(socket)
        if frame is not None:
            return frame
        left = deadline - monotonic()
        if left <= 0:
            return None
        events = cast(int, socket.getsockopt(zmq.EVENTS))
        if not events & zmq.POLLIN:
            fd = cast(int, socket.getsockopt(zmq.FD))
            gevent.socket.wait_read(fd, left, timeout_exc=False)


def _batch_scheduled_context() -> zmq.Context[Any]:
    """A ZeroMQ context whose I/O thread runs under Linux's SCHED_BATCH policy.

    Woken for every send, a normally scheduled I/O thread on the same core preempts
    the gevent loop, moves one message and sleeps again: a context switch per
    result. Under SCHED_BATCH it waits for its fair turn and then moves a whole
    batch. Measured on one core with a no-op script: 145,000 -> 240,000 results/s.
    Where the policy is not available the context is left as it is.
    """
    context: zmq.Context[Any] = zmq.Context()
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return context
    try:
        context.set(zmq.THREAD_SCHED_POLICY, policy)
        context.set(zmq.THREAD_PRIORITY, 0)
    except zmq.ZMQError:
        log.debug("no SCHED_BATCH for ZeroMQ's I/O thread here")
    return context


class HQSockets:
    """The sockets a turret face holds towards its HQ: SUB for commands, PUSH to the HQ.

    A turret (:class:`Link`) and a fleet parent (:class:`gturret.fleet.Fleet`) hold
    one each, in a context of their own choosing. The handshakes of both sockets are
    watched unless ``watch`` is False: a worker's handshakes with the HQ are its
    parent's to watch (the same keys, the same HQ, one line for the fleet).
    """

    def __init__(
        self,
        context: zmq.Context[Any],
        config: TurretConfig,
        uuid: str,
        route: Route,
        linger_ms: int,
        immediate: bool = False,
        watch: bool = True,
    ) -> None:
        self.route = route
        self._curve = config.curve
        self.commands = command_socket(context, route.commands, uuid, route.curve)
        self.push = push_socket(
            context, config.collector_endpoint, config.curve, linger_ms, immediate
        )
        self._handshakes = HandshakeWatch([self.commands, self.push]) if watch else None

    def receive(self) -> bytes | None:
        """The next command frame, or None when none is waiting."""
        return receive(self.commands)

    def receive_within(self, seconds: float) -> bytes | None:
        """The next command frame, waiting up to ``seconds`` for one (gevent only)."""
        return receive_within(self.commands, seconds)

    def handshake_failure(self) -> str | None:
        """What went wrong, in one line, if a handshake with the HQ failed; never waits."""
        if self._handshakes is None:
            return None
        failure = self._handshakes.settled()
        return None if failure is None else handshake_problem(failure, self._curve)

    def close(self, linger_ms: int | None = None) -> None:
        """Close both sockets; PUSH lingers ``linger_ms`` (its own setting if None)."""
        if self._handshakes is not None:
            self._handshakes.close()
        self.commands.close()
        self.push.close(linger=linger_ms)


class Link:
    """The HQ sockets, a status PUSH, and the pusher greenlet that drains the outbox."""

    def __init__(
        self, config: TurretConfig, uuid: str, outbox: Outbox, route: Route | None = None
    ) -> None:
        self.outbox = outbox
        self._name = config.name
        self._uuid = uuid
        self._encode = wire.result_encoder(config.name, sender=uuid)
        self._context = _batch_scheduled_context()
        self.route = route or Route.to_hq(config)
        self.hq = HQSockets(
            self._context,
            config,
            uuid,
            self.route,
            CLOSE_LINGER_MS,
            immediate=True,
            watch=not self.route.to_parent,
        )
        self._status_push = (
            self.hq.push
            if self.route.statuses == config.collector_endpoint
            else push_socket(
                self._context, self.route.statuses, self.route.curve, CLOSE_LINGER_MS, True
            )
        )
        #: Every data message pushed while the HQ journals, until it acknowledges it.
        self.replay = ReplayBuffer(uuid, config.replay_buffer_mb)
        self._journal: ReplayBuffer | None = None
        self._resending: deque[bytes] = deque()
        self._pusher: gevent.Greenlet | None = None
        self._dropped_logged = 0
        self._drop_log_at = 0.0

    def encode_uncorrected(self, wanted: bool) -> None:
        """Whether results of a paced run carry their uncorrected time (our HQ asks)."""
        self._encode = wire.result_encoder(self._name, uncorrected=wanted, sender=self._uuid)

    def journal(self, wanted: bool) -> None:
        """Whether data messages go out numbered and kept (our HQ journals), from now on."""
        self._journal = self.replay if wanted else None

    @property
    def journaling(self) -> bool:
        return self._journal is not None

    def resend(self, acked: int) -> None:
        """Push again every kept message above seq ``acked``, oldest first, ahead of
        new data (a resend asked again starts over: the HQ drops what it has twice)."""
        self._resending = deque(self.replay.after(acked))
        if self._resending:
            log.info(
                "the HQ asks for what it missed: sending again %d data messages, seq %d to %d",
                len(self._resending),
                self.replay.seq_sent - len(self._resending) + 1,
                self.replay.seq_sent,
            )

    def drain(self, budget: float = PUSH_BUDGET) -> bool:
        """Send queued messages for up to ``budget`` seconds; True when the outbox is empty.

        Messages asked for again (``resend``) go first, then the outbox. Stops early,
        keeping the rest queued, when ZeroMQ cannot take more (no HQ connected, or
        its queue is full). While the HQ journals, each data message is numbered as
        ZeroMQ takes it and kept (``replay``): one refused keeps its place, and its
        seq goes to it again at the next drain.
        """
        items = self.outbox.items
        send = _send
        push = self.hq.push
        status_push = self._status_push
        encode = self._encode
        journal = self._journal
        numbered = wire.numbered
        # The seq the next data message takes; 0: not numbered (no journal).
        seq = 0 if journal is None else journal.seq_sent + 1
        tail = b"" if journal is None else journal.tail
        kept: list[bytes] = []
        keep = kept.append
        deadline = perf_counter() + budget
        sent = 0
        try:
            if self._resending:
                self._send_again(deadline)
            while items:
                item = items[0]
                if isinstance(item, tuple):
                    frame = encode(item, seq)
                    count = 1
                elif isinstance(item, bytes):
                    send(status_push, item, NOBLOCK)
                    items.popleft()
                    continue
                else:
                    frame = numbered(item.frame, tail, seq) if seq else item.frame
                    count = item.count
                send(push, frame, NOBLOCK)
                items.popleft()
                sent += count
                if seq:
                    seq += 1
                    keep(frame)
                if not sent & 255 and perf_counter() > deadline:
                    break
        except zmq.Again:
            pass
        finally:
            self.outbox.sent += sent
            if journal is not None and kept:
                journal.keep(kept)
        return not items and not self._resending

    def _send_again(self, deadline: float) -> None:
        """Send what a resend asked for until done or ``deadline``; zmq.Again passes up."""
        resending = self._resending
        push = self.hq.push
        while resending:
            _send(push, resending[0], NOBLOCK)
            resending.popleft()
            if not len(resending) & 255 and perf_counter() > deadline:
                return

    def flush(self, timeout: float) -> bool:
        """Drain until the outbox is empty or ``timeout`` seconds pass; True if empty."""
        deadline = perf_counter() + timeout
        while not self.drain():
            if perf_counter() >= deadline:
                return False
            gevent.sleep(PUSH_INTERVAL)
        return True

    def start_pusher(self) -> None:
        """Start the greenlet that keeps the outbox draining in the background."""
        self._pusher = gevent.spawn(self._push_forever)

    def _push_forever(self) -> None:
        idle_wait = PUSH_IDLE_INTERVAL
        produced = self.outbox.produced
        while True:
            empty = self.drain()
            self._log_drops()
            if not empty:
                gevent.sleep(PUSH_INTERVAL)
            elif self.outbox.produced != produced:
                produced = self.outbox.produced
                idle_wait = PUSH_IDLE_INTERVAL
                gevent.sleep(idle_wait)
            else:
                gevent.sleep(idle_wait)
                idle_wait = min(idle_wait * 2, PUSH_IDLE_LONGEST)

    def _log_drops(self) -> None:
        dropped = self.outbox.dropped
        if dropped == self._dropped_logged:
            return
        now = perf_counter()
        if now < self._drop_log_at:
            return
        log.warning(
            "outbox full (%d queued, limit %d): %d results dropped since the last report,"
            " %d in all; is the HQ taking results?",
            self.outbox.queued,
            self.outbox.limit,
            dropped - self._dropped_logged,
            dropped,
        )
        self._dropped_logged = dropped
        self._drop_log_at = now + DROP_LOG_INTERVAL

    def close(self, linger: float | None = None) -> None:
        """Stop the pusher and close the sockets; PUSH lingers to deliver its queue, for
        ``linger`` seconds if given (a kill's time left), else ``CLOSE_LINGER_MS``."""
        if self._pusher is not None:
            self._pusher.kill()
        linger_ms = CLOSE_LINGER_MS if linger is None else round(linger * 1000)
        if self._status_push is not self.hq.push:
            self._status_push.close(linger=linger_ms)
        self.hq.close(linger_ms)
        self._context.term()
