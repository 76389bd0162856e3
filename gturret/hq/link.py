"""The HQ's two ZeroMQ sockets: PUB for commands out, PULL for messages in.

Why it exists: binding (fixed or ephemeral ports), publishing command frames
(always through ``wire.encode_command``) and receiving in bounded batches live
here, so the session holds no socket code. It uses ``zmq.green`` so that it can
share one gevent loop with a turret in the same process. Given keys, both sockets
are CurveZMQ servers vetted by :class:`~gturret.hq.zap.ZapHandler`; keyed or not,
failed handshakes are logged once per cause (ZeroMQ alone says nothing of them) and
kept for the error when turrets never come. It must never decode a message or
decide anything about one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
import zmq as plain_zmq
import zmq.green as zmq

from gturret.errors import HQError
from gturret.hq.zap import ZapHandler
from gturret.keys import HandshakeFailure, HandshakeWatch, HQKeys, curve_server
from gturret.wire import encode_command

log = logging.getLogger(__name__)

RECEIVE_HWM = 100_000
#: The largest message read (a larger one closes its sender's connection): an
#: interval of our turret is at most about 13 MB (203 series of full histograms).
MAX_MESSAGE_BYTES = 16 << 20
#: The most bytes one batch takes from the socket, whatever its count.
BATCH_BYTES = 16 << 20
#: After a wake-up that found fewer than ``THIN_BATCH`` messages, the next read lets
#: ``GATHER_S`` pass before it takes what is queued: a trickle from many turrets then
#: costs one wake-up per batch, not one per message (each costs tens of µs in
#: zmq.green and gevent), and a message waits 20 ms at most. A hundred turrets send
#: about 200 messages a second: at 2 ms the HQ woke some 300 times a second, and its
#: loop took 6.8 % and 7.9 % of a core against 4.7 % and 6.5 % at 20 ms (two pairs of
#: ``make bench-hq`` runs, 15 s each).
THIN_BATCH = 64
GATHER_S = 0.02
#: Seconds between two reads of the handshake monitors while receiving: each read is
#: a failed non-blocking receive per monitor, and a failed handshake is news that
#: can wait this long.
HANDSHAKES_READ_S = 0.25


def _endpoint(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"tcp://{host}:{port or '*'}"


class HQLink:
    """Bound PUB and PULL sockets (CurveZMQ servers given ``keys``); close() it when done."""

    def __init__(
        self, address: str, pub_port: int, rc_port: int, keys: HQKeys | None = None
    ) -> None:
        self._context = zmq.Context()
        self._keys = keys
        # Bound before the sockets: libzmq lets everyone in while no handler is there.
        self._zap = ZapHandler(self._context, keys) if keys is not None else None
        self._pub = self._context.socket(zmq.PUB)
        self._pull = self._context.socket(zmq.PULL)
        if keys is not None:
            curve_server(self._pub, keys)
            curve_server(self._pull, keys)
        self._handshakes = HandshakeWatch([self._pub, self._pull])
        self._problems: list[str] = []
        self._vague: HandshakeFailure | None = None
        self._pull.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
        self._pull.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if ":" in address:
            self._pub.setsockopt(zmq.IPV6, 1)
            self._pull.setsockopt(zmq.IPV6, 1)
        try:
            self.pub_port = self._bind(self._pub, address, pub_port, "PUB (--pub)")
            self.rc_port = self._bind(self._pull, address, rc_port, "PULL (--rc)")
        except HQError:
            self.close()
            raise
        self.address = address
        self._thin = False
        self._handshakes_read_at = 0.0

    @staticmethod
    def _bind(socket: Any, address: str, port: int, role: str) -> int:
        endpoint = _endpoint(address, port)
        try:
            socket.bind(endpoint)
        except zmq.ZMQError as exc:
            raise HQError(f"cannot bind the {role} socket on {endpoint}: {exc}") from None
        bound: bytes = socket.getsockopt(zmq.LAST_ENDPOINT)
        return int(bound.rsplit(b":", 1)[1])

    @property
    def pub_endpoint(self) -> str:
        return _endpoint(self.address, self.pub_port)

    @property
    def rc_endpoint(self) -> str:
        return _endpoint(self.address, self.rc_port)

    def publish(self, command: str, msg: Any = None, channel: str = "") -> None:
        """Send one command frame: a broadcast, or a direct order when ``channel`` is a uuid."""
        log.debug("publishing %s to %s", command, channel or "every turret")
        self._pub.send(encode_command(command, msg, channel))

    def receive(self, timeout_s: float, limit: int) -> list[bytes]:
        """Wait up to ``timeout_s`` for a message, then take what is queued, up to
        ``limit`` messages and about ``BATCH_BYTES``.

        A green poll returns at once while messages are waiting, so reading a backlog
        would never give the loop away: each batch first yields, so that a turret in
        the same process (``--standalone``) keeps its turn.
        """
        gevent.sleep(0)
        ready = self._pull.poll(max(0, int(timeout_s * 1000)))
        if (now := time.monotonic()) >= self._handshakes_read_at + HANDSHAKES_READ_S:
            self._handshakes_read_at = now
            self._note_handshakes()
        if not ready:
            return []
        if self._thin and timeout_s > GATHER_S:
            gevent.sleep(GATHER_S)
        batch: list[bytes] = []
        size = 0
        while len(batch) < limit and size < BATCH_BYTES:
            try:
                batch.append(message := self._pull.recv(zmq.NOBLOCK))
            except zmq.Again:
                break
            size += len(message)
        self._thin = len(batch) < THIN_BATCH
        return batch

    @property
    def handshake_problems(self) -> list[str]:
        """One line per cause of a failed handshake, in the order first seen.

        A peer that closed mid-handshake counts only when nothing detailed explains it:
        a turret that meets the other mechanism (one side keyed) sees the mismatch in
        the HQ's greeting and, when its I/O thread runs late (a loaded machine), drops
        the connection before its own mechanism was sent, so all this HQ ever learns
        is the close. The monitors are read once more here: this is asked when the
        wait for turrets is over, and the last close may have come since.
        """
        self._note_handshakes()
        if self._problems or self._vague is None:
            return list(self._problems)
        return [self._vague_problem()]

    def _note_handshakes(self) -> None:
        for failure in self._handshakes.failures():
            if not failure.detailed:
                # Logged as the cause only if nothing better comes (handshake_problems):
                # it may be a port scan, or the other half of a failure logged here.
                log.debug("a peer closed the connection during the handshake")
                self._vague = self._vague or failure
                continue
            problem = self._problem(failure)
            if problem not in self._problems:
                self._problems.append(problem)
                if not failure.refused_key:  # the ZAP handler has said it, with the key
                    log.warning("%s", problem)

    def _vague_problem(self) -> str:
        """The HQ's line on peers that closed mid-handshake: the likely cause, hedged."""
        if self._keys is not None:
            return (
                "a peer closed the connection during the handshake, as a turret without"
                " CurveZMQ keys does (a config that lacks 'hq_public_key' and"
                " 'turret_secret_key'?)"
            )
        return (
            "a peer closed the connection during the handshake, as a turret with CurveZMQ"
            " keys does: this HQ has none (give it --secret-key and --turret-keys, or"
            " remove the keys from the turret's config)"
        )

    def _problem(self, failure: HandshakeFailure) -> str:
        """The HQ's one line on a failed handshake, naming the likely cause."""
        keys = self._keys
        if failure.mechanism_mismatch and keys is not None:
            return (
                "refused a peer without CurveZMQ keys (a turret whose config lacks"
                " 'hq_public_key' and 'turret_secret_key'?)"
            )
        if failure.mechanism_mismatch:
            return (
                "refused a peer with CurveZMQ keys: this HQ has none (give it --secret-key"
                " and --turret-keys, or remove the keys from the turret's config)"
            )
        if failure.refused_key and keys is not None:
            return f"refused a turret key that is not in {keys.turrets.folder} (--turret-keys)"
        if failure.cryptographic and keys is not None:
            return (
                "refused a peer whose CurveZMQ hello was not sealed for this HQ's key (a"
                f" turret whose hq_public_key is not the public key of {keys.own.path}?)"
            )
        return f"a handshake failed on {failure.endpoint} (ZeroMQ event {failure.event})"

    def last_stop(self, linger: float) -> None:
        """Publish ``stop`` and close everything, letting ZeroMQ deliver it for up to
        ``linger`` seconds: the last word of a process a second signal ends.

        Called from a signal handler, maybe inside the hub: the plain pyzmq send (no
        green wait), then the context destroyed, which waits in libzmq, not in gevent.
        """
        frame = encode_command("stop", "premature stop")
        plain_zmq.Socket.send(self._pub, frame, zmq.NOBLOCK)
        self._context.destroy(linger=round(linger * 1000))

    def close(self, linger: float = 0.0) -> None:
        """Close both sockets, giving unsent commands ``linger`` seconds (none by
        default: the last one matters only for ``--kill-turrets``' kill)."""
        self._handshakes.close()
        if self._zap is not None:
            self._zap.close()
        self._pub.close(linger=round(linger * 1000))
        self._pull.close(linger=0)
        self._context.term()
