"""Our HQ's ZAP handler: which turret keys may connect, answered in a greenlet.

Why its own handler rather than pyzmq's: ``zmq.auth.thread.ThreadAuthenticator``
runs an asyncio loop in a thread, and under gevent's ``monkey.patch_all()`` that
"thread" is a greenlet whose blocking poll would stall the HQ's loop (and, with
``--standalone``, the canons). The ZAP protocol (RFC 27) is one REP socket on
``inproc://zeromq.zap.01`` in the context of the sockets it vets; on ``zmq.green``
a greenlet serves it like every other socket of the HQ, and the reply is computed
from a set of keys loaded once (:func:`gturret.keys.read_accepted_keys`).

It must be bound before a CURVE socket binds (libzmq lets every peer in when no
handler is there), must answer every request (an unanswered one stalls that
handshake), and accepts nothing but CURVE clients whose key is in the set.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
import zmq.green as zmq
from zmq.utils import z85

from gturret.keys import HQKeys

log = logging.getLogger(__name__)

ENDPOINT = "inproc://zeromq.zap.01"
VERSION = b"1.0"


class ZapHandler:
    """Answers the ZAP requests of ``context``'s sockets from ``keys.turrets``."""

    def __init__(self, context: zmq.Context[Any], keys: HQKeys) -> None:
        self._accepted = {z85.decode(key) for key in keys.turrets.keys}
        self._folder = keys.turrets.folder
        self._socket = context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(ENDPOINT)
        self._refused: set[tuple[bytes, str]] = set()
        self.refusals = 0
        self._greenlet = gevent.spawn(self._serve)

    def _serve(self) -> None:
        while True:
            request = self._socket.recv_multipart()
            try:
                reply = self.answer(request)
            except Exception:
                log.exception("ZAP request not understood; refused")
                reply = [VERSION, request[1] if len(request) > 1 else b"", b"500", b"", b"", b""]
            self._socket.send_multipart(reply)

    def answer(self, request: list[bytes]) -> list[bytes]:
        """The reply to one ZAP request: 200 for an accepted turret key, else 400."""
        if len(request) < 6:
            return [VERSION, request[1] if len(request) > 1 else b"", b"400", b"", b"", b""]
        version, request_id, _domain, address, _identity, mechanism, *credentials = request
        if version != VERSION:
            return [VERSION, request_id, b"400", b"unknown ZAP version", b"", b""]
        key = credentials[0] if mechanism == b"CURVE" and len(credentials) == 1 else None
        if key is not None and key in self._accepted:
            return [VERSION, request_id, b"200", b"OK", z85.encode(key), b""]
        self.refusals += 1
        shown = z85.encode(key) if key is not None else mechanism
        peer = address.decode("utf-8", "replace")
        if (shown, peer) not in self._refused:
            self._refused.add((shown, peer))
            log.warning(
                "refused a turret key from %s: %s is not in %s (--turret-keys)",
                peer,
                shown.decode("ascii", "replace"),
                self._folder,
            )
        return [VERSION, request_id, b"400", b"key not accepted", b"", b""]

    def close(self) -> None:
        """Stop answering; call it before the context is terminated."""
        self._greenlet.kill()
        self._socket.close()
