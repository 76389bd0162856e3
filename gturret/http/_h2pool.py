"""A client's way to one origin when it asks for HTTP/2: one shared connection, or HTTP/1.1.

Why its own module: which protocol an origin gets is decided once per origin, here,
so the HTTP/1.1 path pays nothing for HTTP/2 being there (a client made without
``http2`` never reaches this module). With ``http2=True`` a TLS origin is asked by
ALPN; one that does not choose ``h2`` gets HTTP/1.1 from then on (the pool of
``_pool``, this class's base: the first, ALPN-negotiated socket is closed and the
next ones are opened without ALPN). A plain ``http://`` origin gets HTTP/1.1 unless
the client says ``http2="prior-knowledge"`` (h2c: HTTP/2 from the first byte, as
``curl --http2-prior-knowledge``; the HTTP/1.1 Upgrade dance is not done, as RFC
9113 deprecates it). An HTTP/2 origin gets one connection (``_h2``) that every
request of the canon shares, as a browser does; a new one once it breaks or the
server sends GOAWAY.

This module must never send a request or retry one: a request sent again after
``StaleConnection`` (the client's decision) gets a connection that turns a second
one into a ``ConnectionError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gevent.socket
from gevent.lock import Semaphore

from gturret.http._connection import Connection, StaleConnection
from gturret.http._errors import ConnectionError
from gturret.http._h2 import H2Connection
from gturret.http._models import Response
from gturret.http._pool import ConnectionPool
from gturret.http._tls import shared_context

if TYPE_CHECKING:
    from gturret.http._request import Request

PRIOR_KNOWLEDGE = "prior-knowledge"
_ALPN = ("h2", "http/1.1")


def check_http2(http2: bool | str) -> bool | str:
    """``http2`` as given, or a ValueError when it is none of the three settings."""
    if http2 is not False and http2 is not True and http2 != PRIOR_KNOWLEDGE:
        raise ValueError(f"http2 must be False, True or {PRIOR_KNOWLEDGE!r}, not {http2!r}")
    return http2


class H2Pool(ConnectionPool):
    """One origin of a client made with ``http2``: an HTTP/2 connection, or the
    HTTP/1.1 pool it is built on when the origin does not speak HTTP/2."""

    __slots__ = ("_alpn", "_connection", "_dialing", "_http1", "_scheme", "_shut")

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        netloc: str,
        size: int,
        connect_timeout: float | None,
        verify: bool | str,
        http2: bool | str,
    ) -> None:
        tls = scheme == "https"
        context = shared_context(verify) if tls else None
        super().__init__(scheme, host, port, netloc, size, connect_timeout, context)
        self._alpn = shared_context(verify, _ALPN) if tls else None
        self._scheme = scheme
        self._http1 = not tls and http2 != PRIOR_KNOWLEDGE
        self._connection: H2Connection | None = None
        self._dialing = Semaphore()
        self._shut = False

    def acquire(  # type: ignore[override]
        self, request: Request, fresh: bool = False
    ) -> Connection | H2Connection | _LastTry:
        """The origin's HTTP/2 connection (a new one if it broke or is going away),
        or an HTTP/1.1 connection from the base pool when the origin speaks that."""
        if self._http1:
            return super().acquire(request, fresh)
        if self._shut:
            raise ConnectionError(f"{request.method} {request.url}: the client is closed")
        connection = self._connection
        if connection is None or not connection.usable:
            connection = self._dial(request)
            if connection is None:
                return super().acquire(request, fresh)
        return _LastTry(connection) if fresh else connection

    def release(self, connection: Connection | H2Connection | _LastTry) -> None:
        """An HTTP/1.1 connection goes back to the base pool; an HTTP/2 one stays shared."""
        if isinstance(connection, Connection):
            super().release(connection)

    def close(self) -> None:
        """Close the HTTP/2 connection (requests in flight fail) and the HTTP/1.1 ones."""
        self._shut = True
        super().close()
        if self._connection is not None:
            self._connection.close()

    def _dial(self, request: Request) -> H2Connection | None:
        """Open the origin's HTTP/2 connection, one greenlet at a time (the others then
        share it); None when ALPN chose HTTP/1.1."""
        with self._dialing:
            connection = self._connection
            if connection is not None and connection.usable:
                return connection
            if self._http1:
                return None
            with self.connecting(request):
                sock = gevent.socket.create_connection(
                    (self.host, self.port), timeout=self._connect_timeout
                )
                try:
                    sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
                    if self._alpn is not None:
                        sock = self._alpn.wrap_socket(sock, server_hostname=self.host)
                        if sock.selected_alpn_protocol() != "h2":
                            sock.close()
                            self._http1 = True
                            return None
                    connection = self._connection = H2Connection(sock, self._scheme)
                except BaseException:
                    sock.close()
                    raise
            return connection


class _LastTry:
    """The HTTP/2 connection as a request sent a second time sees it: not a third."""

    __slots__ = ("connection",)

    def __init__(self, connection: H2Connection) -> None:
        self.connection = connection

    def exchange(self, request: Request, cookie_line: bytes, start: float) -> Response:
        """``H2Connection.exchange``, a second stale connection being an error."""
        try:
            return self.connection.exchange(request, cookie_line, start)
        except StaleConnection:
            raise ConnectionError(
                f"{request.method} {request.url}: the server went away before processing "
                "the request, on two connections in a row; not sent a third time"
            ) from None
