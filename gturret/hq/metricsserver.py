"""The ``--metrics-port`` endpoint: ``GET /metrics`` served while the test runs.

Why gevent's ``pywsgi``: the HQ is one gevent loop, and its collector must never
wait on a scraper. pywsgi serves each request in its own greenlet on the same loop,
reading the statistics between two batches of the collector (no thread, no lock,
no copy), and ships with gevent, so the endpoint costs no new dependency. A
request renders :func:`gturret.hq.metrics.exposition` piece by piece, yielding to
the loop between pieces (each summary walks a histogram), and nothing else; it must
never block or write to the stats. Bound to 127.0.0.1 unless ``--metrics-bind``
says otherwise: the numbers are not secret, but the port is nobody else's business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import gevent
from gevent.pywsgi import WSGIServer

from gturret.errors import HQError
from gturret.hq.metrics import CONTENT_TYPE, exposition
from gturret.hq.roster import Roster
from gturret.hq.stats import Stats

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class MetricsServer:
    """Serves the metrics of ``stats`` and ``roster`` on ``bind``:``port`` (0: any)."""

    def __init__(self, bind: str, port: int, stats: Stats, roster: Roster) -> None:
        self._stats = stats
        self._roster = roster
        self._server = WSGIServer((bind, port), self._application, log=None, error_log=log)
        self.bind = bind
        self._asked_port = port

    @property
    def port(self) -> int:
        """The bound port (the one the system chose for port 0)."""
        port: int = self._server.server_port
        return port

    def start(self) -> None:
        """Bind and serve in the background; HQError if the port cannot be bound."""
        try:
            self._server.start()
        except OSError as exc:
            raise HQError(
                f"cannot serve metrics on {self.bind}:{self._asked_port} (--metrics-port): {exc}"
            ) from None
        log.info("metrics served on http://%s:%d/metrics", self.bind, self.port)

    def stop(self) -> None:
        """Close the socket; requests under way are given a second to finish."""
        self._server.stop(timeout=1)

    def _application(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"gturret-hq serves /metrics only\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        pieces = []
        for piece in exposition(self._stats, self._roster):
            pieces.append(piece)
            gevent.sleep(0)  # the collector reads between two pieces
        start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
        return ["".join(pieces).encode()]
