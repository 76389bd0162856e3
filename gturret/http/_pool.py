"""The kept-alive connections of one client to one origin (scheme://host:port).

Why its own module: how many connections a canon may hold, which one a request
gets and when one is thrown away are one decision, made here. A pool holds at most
``size`` connections (a request waits for one up to the connect timeout); idle ones
are kept and handed out newest first (the least likely to have been closed by the
server), each checked without yielding to the loop before reuse (see
``Connection.is_idle``). The pool also fixes what every request to its origin
shares: the URL prefix and the encoded ``Host`` line.

This module must never send a request, retry one, or share a connection between
two clients: a pool belongs to one client, as the cookies do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import gevent.ssl
from gevent.lock import BoundedSemaphore

from gturret.http._connection import Connection, connect, reason
from gturret.http._errors import ConnectionError, ConnectTimeout

if TYPE_CHECKING:
    from gturret.http._request import Request


class ConnectionPool:
    """At most ``size`` connections to one origin, those kept alive waiting for reuse."""

    __slots__ = (
        "_closed",
        "_connect_timeout",
        "_context",
        "_idle",
        "_size",
        "_slots",
        "host",
        "host_line",
        "port",
        "prefix",
    )

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        netloc: str,
        size: int,
        connect_timeout: float | None,
        context: gevent.ssl.SSLContext | None,
    ) -> None:
        self.host = host
        self.port = port
        self.prefix = f"{scheme}://{netloc.lower()}"
        self.host_line = f"Host: {_ascii_netloc(host, netloc)}\r\n".encode("ascii")
        self._size = size
        self._connect_timeout = connect_timeout
        self._context = context
        self._idle: list[Connection] = []
        self._slots = BoundedSemaphore(size)
        self._closed = False

    def __repr__(self) -> str:
        return f"<ConnectionPool {self.prefix} idle={len(self._idle)} size={self._size}>"

    def acquire(self, request: Request, fresh: bool = False) -> Connection:
        """A connection for ``request``: an idle one still open, else a new one (always new
        when ``fresh``). Give it back with ``release``, whatever happens."""
        if self._closed:
            raise ConnectionError(f"{request.method} {request.url}: the client is closed")
        if not self._slots.acquire(timeout=self._connect_timeout):
            raise ConnectTimeout(
                f"{request.method} {request.url}: all {self._size} connections of the pool "
                f"stayed busy for {self._connect_timeout} s (pool_size, connect_timeout)"
            )
        idle = self._idle
        while idle and not fresh:
            connection = idle.pop()
            try:
                if not connection.poll(0):  # Connection.is_idle, without its call
                    return connection
            except (OSError, ValueError):
                pass
            connection.close()
        try:
            return self._open(request)
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection: Connection) -> None:
        """Take ``connection`` back: kept for reuse if its last exchange allows, else closed."""
        if connection.reusable and not self._closed:
            self._idle.append(connection)
        else:
            connection.close()
        self._slots.release()

    def close(self) -> None:
        """Close the idle connections now and the busy ones when they come back."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    def _open(self, request: Request) -> Connection:
        with self.connecting(request):
            return connect(self.host, self.port, self._connect_timeout, self._context)

    @contextmanager
    def connecting(self, request: Request) -> Iterator[None]:
        """A connect's failures as the errors a script sees, naming ``request`` (both
        protocols' pools open their connections in it)."""
        try:
            yield
        except TimeoutError:
            raise ConnectTimeout(
                f"{request.method} {request.url}: no connection within "
                f"{self._connect_timeout} s (connect_timeout)"
            ) from None
        except OSError as exc:
            raise ConnectionError(
                f"{request.method} {request.url}: cannot connect: {reason(exc)}"
            ) from exc


def _ascii_netloc(host: str, netloc: str) -> str:
    """``netloc`` as a Host header carries it: an international name in its IDNA form."""
    if netloc.isascii():
        return netloc
    name = host.encode("idna").decode("ascii")
    _, colon, port = netloc.rpartition(":")
    return f"{name}:{port}" if colon and port.isdigit() else name
