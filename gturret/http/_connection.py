"""One HTTP/1.1 connection: a gevent socket and an httptools parser, one exchange at a time.

Why not geventhttpclient: its per-request cost (header validation, two header
objects merged, a response object that re-reads what the parser already knew) was
most of gturret.http's time. Here a request goes out as the one buffer its
``Request`` encoded, and the response comes back through llhttp (PyPI
``httptools``, the parser uvicorn uses) straight into the few values a
``Response`` holds: the status, the head as it came (read into fields only when
asked: a callback per header would cost more than the rest of the parse), and
the body chunks, joined once.

llhttp frames the response: Content-Length, chunked, no body for 1xx, 204 and 304
(interim 1xx responses are skipped), ``Connection: close`` and HTTP/1.0 keep-alive
rules. Two cases it cannot know are settled here: a HEAD response has no body
whatever its headers say, and a body without a length ends when the server closes
the connection (llhttp would need to be told of the close). A kept-alive
connection the server closed while it sat idle is seen before reuse with the
real ``poll`` (no yield to the loop, any file descriptor number); one that closes
as the next request goes out raises ``StaleConnection`` so the client may resend
an idempotent request once. Malformed responses raise ``ConnectionError`` naming
the problem, and a head is bounded (``MAX_HEAD``) so no server can make a read
last forever without the body being underway.

On plain TCP the common exchange is one call into C (``_fastpath.c``, built where
a compiler is): send, wait, one read, and a response that came whole and plainly
framed read there; whatever it does not take it hands back as the bytes it read,
and the loop below goes on with them as if it had read them itself.

This module must never retry, log or sleep, and never reuse a connection whose
state it is not sure of: anything but a complete response leaves it closed.
"""

from __future__ import annotations

import errno
import os
import select
from time import perf_counter
from typing import TYPE_CHECKING, Any

import gevent.socket
import gevent.ssl
from gevent import get_hub, getcurrent
from gevent.monkey import get_original
from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from gturret.http._errors import ConnectionError, ReadTimeout
from gturret.http._models import Response, head_fields

if TYPE_CHECKING:
    from gturret.http._request import Request

# 64 KiB reads: a large body in few recv calls; a small one costs the same as 4 KiB.
READ_SIZE = 65536
# The most bytes a response head (interim 1xx heads included) may take.
MAX_HEAD = 256 * 1024
_RESET = frozenset((errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED))
_CONTENT_LENGTH = b"content-length"
_TRANSFER_ENCODING = b"transfer-encoding"
_unpatched_poll = get_original("select", "poll")

try:
    from gturret.http._fastpath import roundtrip as _compiled_roundtrip
except ImportError:  # built without a C compiler: every response read in Python
    _compiled_roundtrip = None

#: The compiled exchange of plain-TCP connections (``_fastpath.c``), or None: then
#: every response is read by llhttp here. ``GTURRET_HTTP_PURE_PYTHON=1`` turns it off
#: (to compare, or to rule it out); each exchange reads this name afresh.
roundtrip: Any = None if os.environ.get("GTURRET_HTTP_PURE_PYTHON") else _compiled_roundtrip


class StaleConnection(Exception):
    """A kept-alive connection the server had closed: the request never reached it."""


class _Expired(Exception):
    """The exchange's timer fired: thrown into the greenlet waiting on the server."""


class _Surplus(Exception):
    """Bytes after a complete response: raised in a parser callback to stop the parser."""


class Connection:
    """One socket to one origin and the parser of its responses.

    The connection is its parser's protocol: llhttp calls its ``on_*`` methods as
    it reads, and they fill the response being read. ``reusable`` says, after an
    exchange, whether the connection may carry another request.
    """

    __slots__ = (
        "_chunks",
        "_done",
        "_fd",
        "_head_done",
        "_hub",
        "_interim",
        "_is_head",
        "_keep_alive",
        "_parser",
        "_parser_spent",
        "_readable",
        "_status",
        "_timeout",
        "_timer",
        "exchanges",
        "poll",
        "reusable",
        "sock",
    )

    def __init__(self, sock: gevent.socket.socket, tls: bool) -> None:
        sock.settimeout(None)  # waits are bounded by the exchange's timer (see exchange)
        self.sock = sock
        # A response never arrives within the send that asks for it: on plain TCP the
        # exchange waits for the socket to be readable before its first recv, rather
        # than paying for a recv that fails and the exception gevent makes of it. (TLS
        # may hold decrypted bytes the socket does not show: it reads first.)
        self._hub = get_hub()
        self._fd = sock.fileno()
        self._readable: Any = None if tls else self._hub.loop.io(self._fd, 1)
        self._timeout: float | None = None
        self._timer: Any = None
        poller = _unpatched_poll()
        poller.register(sock.fileno(), select.POLLIN)
        #: ``poll(0)``: the events the server caused on the socket since the last read,
        #: none while it is idle (see ``is_idle``; the pool calls it directly).
        self.poll = poller.poll
        self._parser = HttpResponseParser(self)
        self._parser_spent = False
        self.exchanges = 0
        self.reusable = False
        self._done = self._head_done = self._is_head = self._keep_alive = False
        self._status = self._interim = 0
        self._chunks: list[bytes] = []

    def is_idle(self) -> bool:
        """Whether the server has neither closed this kept-alive connection nor sent on it.

        A zero-timeout ``poll`` of the real kind: it answers at once without
        yielding to the loop, and (unlike ``select``) for any file descriptor.
        """
        try:
            return not self.poll(0)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        """Close the socket; the connection is never used again."""
        self.reusable = False
        if self._timer is not None:
            self._timer.close()
        if self._readable is not None:
            self._readable.close()
        self.sock.close()

    def exchange(self, request: Request, cookie_line: bytes, start: float) -> Response:
        """Send ``request`` with ``cookie_line`` in its head and read the response to it;
        ``start`` is when the request began to wait for this connection.

        Head and body go out in one write, unless the body is large enough that
        copying it would cost more than a second write.

        ``request.timeout`` bounds each wait on the server (a send, or the silence
        before each piece of the response). The socket has no timeout of its own:
        gevent would start and close a ``Timeout`` (a new exception and a new timer)
        around every wait, which cost more than the parse. Instead one timer per
        connection is restarted when the request goes out and whenever bytes come
        in, and stopped after the response; if it fires, it throws into the
        waiting greenlet.
        """
        timer = self._timer
        if request.timeout != self._timeout:
            timer = self._new_timer(request.timeout)
        sock = self.sock
        reused = self.exchanges > 0
        self.exchanges += 1
        self.reusable = self._done = self._head_done = False
        self._is_head = request.method == "HEAD"
        self._status = self._interim = 0
        body = request.body
        received = 0
        before_body: list[bytes] = []  # what came until the head was complete
        parser = self._parser
        throw = None
        if timer is not None:
            throw = getcurrent().throw
            timer.again(throw, _Expired)
        chunk: bytes | None = None  # read, not yet given to the parser
        try:
            if roundtrip is not None and self._readable is not None and len(body) <= READ_SIZE:
                payload = b"".join((request.head, cookie_line, b"\r\n", body))
                outcome = roundtrip(
                    self._fd, payload, self._hub.wait, self._readable, self._is_head
                )
                if type(outcome) is tuple:  # the whole response, plainly framed
                    status, head, content, self.reusable, sets_cookie = outcome
                    elapsed = perf_counter() - start
                    return Response(status, head, content, request, elapsed, sets_cookie)
                if type(outcome) is bytes:  # the compiled path declined: llhttp reads it
                    chunk = outcome
                else:  # sent in part: the rest, then llhttp reads the response
                    sock.sendall(memoryview(payload)[outcome:])
            elif len(body) <= READ_SIZE:
                _send(sock, b"".join((request.head, cookie_line, b"\r\n", body)))
            else:
                _send(sock, b"".join((request.head, cookie_line, b"\r\n")))
                _send(sock, body)
            if chunk is None and self._readable is not None:
                self._hub.wait(self._readable)
            while not self._done:
                if chunk is None:
                    chunk = sock.recv(READ_SIZE)
                if not chunk:
                    self._end_at_close(request, reused, before_body)
                    break
                received += len(chunk)
                if not self._head_done:
                    before_body.append(chunk)
                parser.feed_data(chunk)
                if received > MAX_HEAD and not self._head_done:
                    raise _invalid(request, f"no end of the head within {MAX_HEAD:,} bytes")
                if throw is not None and not self._done:
                    timer.again(throw, _Expired)
                chunk = None
        except HttpParserError as exc:
            if not self._done:
                raise _invalid(request, str(exc) or type(exc).__name__) from None
            self._keep_alive = False  # bytes after the response: the parser stopped there
        except HttpParserUpgrade:
            raise _invalid(
                request, f"the server switched protocols ({self._status}), not HTTP/1.1"
            ) from None
        except _Expired:
            raise ReadTimeout(
                f"{request.method} {request.url}: no answer within {request.timeout} s (timeout)"
            ) from None
        except OSError as exc:
            if reused and received == 0 and exc.errno in _RESET:
                raise StaleConnection from exc
            raise ConnectionError(
                f"{request.method} {request.url}: connection broken: {reason(exc)}"
            ) from exc
        finally:
            if timer is not None:
                timer.stop()
        if self._parser_spent and self._keep_alive:
            self._parser = HttpResponseParser(self)
            self._parser_spent = False
        self.reusable = self._keep_alive
        chunks = self._chunks
        first = before_body[0]
        if self._interim or len(before_body) > 1 or first[:1] in b"\r\n":
            head = final_head(before_body, self._interim)
        else:  # the whole head in the first read, with nothing before it: most responses
            head = first[: first.index(b"\r\n\r\n") + 4]
        return Response(
            self._status,
            head,
            chunks[0] if len(chunks) == 1 else b"".join(chunks),
            request,
            perf_counter() - start,
        )

    def _new_timer(self, timeout: float | None) -> Any:
        """The timer that bounds each wait of an exchange to ``timeout`` seconds (None: no
        bound), in place of the one made for the last timeout."""
        if self._timer is not None:
            self._timer.close()
        self._timeout = timeout
        self._timer = None if timeout is None else get_hub().loop.timer(timeout, timeout, ref=False)
        return self._timer

    def _end_at_close(self, request: Request, reused: bool, before_body: list[bytes]) -> None:
        """The server closed the connection before llhttp saw the response end: a body
        framed by the close is complete now; anything else was cut short."""
        where = f"{request.method} {request.url}"
        received = sum(len(chunk) for chunk in before_body)
        if received == 0:
            if reused:
                raise StaleConnection
            raise ConnectionError(f"{where}: the server closed the connection without a response")
        if not self._head_done:
            raise ConnectionError(
                f"{where}: the server closed the connection in the middle of the response "
                f"head (after {received:,} bytes)"
            )
        framing = ""
        for name, value in head_fields(final_head(before_body, self._interim)):
            lower = name.lower()
            if lower == _CONTENT_LENGTH:
                framing = f"Content-Length {value.decode('latin-1')}"
            elif lower == _TRANSFER_ENCODING and value.rstrip().lower().endswith(b"chunked"):
                framing = "chunked"
        if not framing:
            self._done = True
            self._keep_alive = False
            return
        got = sum(len(chunk) for chunk in self._chunks)
        raise ConnectionError(
            f"{where}: the server closed the connection in the middle of the body "
            f"(after {got:,} body bytes; {framing})"
        )

    # -- the parser's protocol: llhttp calls these as it reads -------------------------

    def on_message_begin(self) -> None:
        if self._done:
            raise _Surplus
        self._chunks = []

    def on_headers_complete(self) -> None:
        status = self._status = self._parser.get_status_code()
        if status >= 200:
            self._head_done = True
            if self._is_head:
                # No body follows whatever Content-Length says; llhttp would wait for one.
                self._keep_alive = self._parser.should_keep_alive()
                self._done = self._parser_spent = True

    def on_body(self, body: bytes) -> None:
        if self._done:
            raise _Surplus
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:
            self._interim += 1  # 100 Continue, 103 Early Hints…: the final response follows
            return
        if self._parser_spent:
            self._parser_spent = False  # llhttp knew there was no body after all
        else:
            self._keep_alive = self._parser.should_keep_alive()
        self._done = True


def connect(
    host: str, port: int, timeout: float | None, context: gevent.ssl.SSLContext | None
) -> Connection:
    """A new connection to ``host:port`` (TLS with ``context``), Nagle off.

    A request whose head and body go out in two writes must not wait for a delayed
    ACK before its last segment leaves. Raises ``OSError`` (``TimeoutError`` after
    ``timeout`` seconds), as sockets do.
    """
    sock = gevent.socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise
    return Connection(sock, tls=context is not None)


def _send(sock: gevent.socket.socket, data: bytes) -> None:
    """``sock.sendall(data)`` in one ``send`` when the kernel takes it all (it nearly
    always does): gevent's ``sendall`` asks for the send buffer size first, a
    system call per request."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


def final_head(before_body: list[bytes], interim: int) -> bytes:
    """The head of the final response among the bytes that came before its body,
    after ``interim`` 1xx responses (llhttp skips CR and LF before a response)."""
    data = before_body[0] if len(before_body) == 1 else b"".join(before_body)
    start = end = 0
    for _ in range(interim + 1):
        start = end
        while start < len(data) and data[start] in b"\r\n":
            start += 1
        end = data.index(b"\r\n\r\n", start) + 4
    return data[start:end]


def _invalid(request: Request, problem: str) -> ConnectionError:
    return ConnectionError(f"{request.method} {request.url}: invalid HTTP response: {problem}")


def reason(exc: BaseException) -> str:
    """What went wrong, in the words of the OS or the library that raised ``exc``."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
