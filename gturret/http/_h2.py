"""One HTTP/2 connection: a gevent socket, python-hyper's ``h2`` state machine, many streams.

Why its own module: HTTP/2 carries every request of a canon to one origin on one
connection, each on a stream of its own, so unlike HTTP/1.1 a response may arrive
for any request at any time. One reader greenlet per connection (spawned when the
connection opens, never per request) reads the socket, feeds ``h2`` and hands each
event to the stream it belongs to; the request's greenlet sends its HEADERS and
DATA and waits on its stream. Writes need no lock: whoever flushes first sends
everything ``h2`` has queued, what others queue meanwhile included, and the others
return at once, so the reader never waits behind a request to acknowledge data.

What a request sees is what it sees on HTTP/1.1: a ``Response`` (its head written
as an HTTP/1.1 head would be, status line ``HTTP/2 200``, so headers, cookies and
decoding work unchanged), the same errors and the same timeouts. ``timeout`` bounds
each wait of a request: for a free stream, for the server to take more of the body
(its flow-control window closed: that request times out and its stream is reset,
the connection and the other streams go on), for each piece of the response. A
RST_STREAM fails its request only. GOAWAY lets the streams the server took finish
and fails the others with ``StaleConnection`` (not processed: the client may send
an idempotent one again, on a new connection). A frame ``h2`` rejects (malformed,
a HPACK error, a header list over ``MAX_HEAD``) fails every request in flight with
a ``ConnectionError`` naming it, and closes the connection. Pushes are refused in
SETTINGS (``ENABLE_PUSH 0``), so a PUSH_PROMISE is such an error.

This module must never retry, log or sleep, and never send on a connection whose
state it is not sure of: an interrupted write closes it.
"""

from __future__ import annotations

from contextlib import suppress
from time import perf_counter
from typing import TYPE_CHECKING, Any

import gevent
import gevent.socket
import h2.connection
from gevent import Timeout
from gevent.event import Event
from h2.config import H2Configuration
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.events import Event as H2Event
from h2.exceptions import StreamClosedError
from h2.settings import SettingCodes, Settings

from gturret.http._connection import MAX_HEAD, READ_SIZE, StaleConnection, _send, reason
from gturret.http._errors import ConnectionError, ReadTimeout
from gturret.http._models import Response

if TYPE_CHECKING:
    from gturret.http._request import Request

# Windows we give the server: a 1 MiB response without waiting for a WINDOW_UPDATE,
# and bodies of several streams at once on the connection. Bodies are read in full
# anyway, and acknowledged as they come.
STREAM_WINDOW = 1 << 20
CONNECTION_WINDOW = 16 << 20
# Header fields HTTP/2 forbids (RFC 9113 8.2.2); Host becomes :authority.
_HOP_BY_HOP = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade")
)
# Requests' heads already turned into header lists, per connection.
_KNOWN_HEADS = 256


def _after_goaway() -> dict[Any, Any]:
    """h2's connection state table, where the frames of the streams a server took still
    pass after its GOAWAY (RFC 9113 6.8: a graceful close lets them finish). h2 itself
    takes no frame once a GOAWAY is in, not even one read in the same batch; here the
    closed state takes what an open one would, but new streams and pushes. A GOAWAY
    with an error, or one we send, ends the connection anyway (see ``_goaway``)."""
    states, inputs = h2.connection.ConnectionState, h2.connection.ConnectionInputs
    table = dict(h2.connection.H2ConnectionStateMachine._transitions)
    refused = (inputs.SEND_HEADERS, inputs.SEND_PUSH_PROMISE, inputs.RECV_PUSH_PROMISE)
    for (state, given), (action, _) in h2.connection.H2ConnectionStateMachine._transitions.items():
        if state is states.CLIENT_OPEN and given not in refused:
            table.setdefault((states.CLOSED, given), (action, states.CLOSED))
    return table


_AFTER_GOAWAY = _after_goaway()


class _Stream:
    """One request's stream: what its response brought so far, and how it ended."""

    __slots__ = (
        "chunks",
        "done",
        "event",
        "failure",
        "fields",
        "id",
        "received",
        "reused",
        "stale",
        "status",
    )

    def __init__(self, stream_id: int, reused: bool) -> None:
        self.id = stream_id
        self.reused = reused
        self.event = Event()
        self.status = 0
        self.fields: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.received = self.done = self.stale = False
        self.failure: str | None = None

    def fail(self, why: str, stale: bool) -> None:
        """End the stream with ``why``; ``stale``: the server never processed it."""
        if self.failure is None and not self.done:
            self.failure = why
            self.stale = stale
        self.event.set()


class H2Connection:
    """One socket to one origin speaking HTTP/2, shared by every request of a canon to it.

    ``usable`` says whether a new request may start on it: not once it broke, was
    closed or the server sent GOAWAY.
    """

    __slots__ = (
        "_broken",
        "_completed",
        "_heads",
        "_machine",
        "_reader",
        "_scheme",
        "_sending",
        "_slot",
        "_streams",
        "going_away",
        "sock",
    )

    def __init__(self, sock: gevent.socket.socket, scheme: str) -> None:
        sock.settimeout(None)  # each wait is bounded by its request's timeout instead
        self.sock = sock
        self._scheme = scheme.encode("ascii")
        machine = h2.connection.H2Connection(
            H2Configuration(client_side=True, header_encoding=None)
        )
        machine.local_settings = Settings(
            client=True,
            initial_values={
                SettingCodes.ENABLE_PUSH: 0,
                SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEAD,
            },
        )
        machine.decoder.max_header_list_size = MAX_HEAD  # also before the server's ACK
        machine.state_machine._transitions = _AFTER_GOAWAY
        machine.initiate_connection()
        machine.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._machine = machine
        self._streams: dict[int, _Stream] = {}
        self._heads: dict[bytes, tuple[bytes, list[tuple[bytes, bytes]]]] = {}
        self._slot = Event()
        self._sending = False
        self._broken: str | None = None
        self._completed = 0
        self.going_away = False
        self._flush()
        self._reader = gevent.spawn(self._read)

    def __repr__(self) -> str:
        state = self._broken or ("going away" if self.going_away else "open")
        return f"<H2Connection {state} streams={len(self._streams)}>"

    @property
    def usable(self) -> bool:
        """Whether a new request may start on this connection."""
        return self._broken is None and not self.going_away

    def close(self) -> None:
        """Close the socket; requests still in flight fail with ConnectionError."""
        self._lose(_CLOSED)

    def exchange(self, request: Request, cookie_line: bytes, start: float) -> Response:
        """Send ``request`` on a new stream, with ``cookie_line`` among its headers, and
        read its response in full; ``start`` is when the request began to wait.

        Raises ``StaleConnection`` when the server did not process the request (GOAWAY
        below its stream, REFUSED_STREAM, or a kept connection lost before any answer).
        """
        stream = self._start(request, cookie_line)
        try:
            if request.body:
                self._send_body(stream, request)
            self._await(stream, request)
        except BaseException as exc:
            self._cancel(stream, request, exc)
            raise
        if stream.id in self._streams:
            self._cancel(stream, request, None)  # answered before the whole body went out
        self._completed += 1
        chunks = stream.chunks
        return Response(
            stream.status,
            _head(stream),
            chunks[0] if len(chunks) == 1 else b"".join(chunks),
            request,
            perf_counter() - start,
        )

    def _start(self, request: Request, cookie_line: bytes) -> _Stream:
        """Open a stream for ``request`` once the server allows one more, and send its
        HEADERS (ending the stream when there is no body)."""
        machine = self._machine
        while True:
            if self._broken is not None or self.going_away:
                raise StaleConnection
            limit = machine.remote_settings.max_concurrent_streams
            if machine.open_outbound_streams < limit:
                break
            self._slot.clear()
            if not self._slot.wait(request.timeout):
                raise ReadTimeout(
                    f"{_where(request)}: no stream free within {request.timeout} s: the server "
                    f"allows {limit} at once on the connection (timeout)"
                )
        authority, fields = self._header_list(request.head)
        headers = [
            (b":method", request.method.encode("ascii")),
            (b":scheme", self._scheme),
            (b":authority", authority),
            (b":path", request.target.encode("ascii")),
            *fields,
        ]
        if cookie_line:
            headers.append((b"cookie", cookie_line[7:].strip()))
        stream_id = machine.get_next_available_stream_id()
        stream = self._streams[stream_id] = _Stream(stream_id, self._completed > 0)
        machine.send_headers(stream_id, headers, end_stream=not request.body)
        self._send(request)
        return stream

    def _header_list(self, head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The :authority and header fields of an HTTP/1.1 request head (its request
        line skipped), lower-cased as HTTP/2 wants them; remembered per head."""
        known = self._heads.get(head)
        if known is not None:
            return known
        authority = b""
        fields = []
        for line in head.split(b"\r\n")[1:]:
            if not line:
                continue
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"host":
                authority = value
            elif name == b"te":
                if value.lower() == b"trailers":
                    fields.append((name, b"trailers"))
            elif name not in _HOP_BY_HOP:
                fields.append((name, value))
        known = (authority, fields)
        if len(self._heads) < _KNOWN_HEADS:
            self._heads[head] = known
        return known

    def _send_body(self, stream: _Stream, request: Request) -> None:
        """Send the body as the server's flow-control windows allow; stop when the
        server answers (or resets) first."""
        machine = self._machine
        body = request.body
        total = len(body)
        offset = 0
        while offset < total:
            if stream.done or stream.failure is not None or self._broken is not None:
                return
            try:
                window = machine.local_flow_control_window(stream.id)
            except StreamClosedError:
                return
            if window <= 0:
                stream.event.clear()
                if not stream.event.wait(request.timeout):
                    raise ReadTimeout(
                        f"{_where(request)}: the server took no more of the body for "
                        f"{request.timeout} s (flow-control window closed after "
                        f"{offset:,} of {total:,} bytes; timeout)"
                    )
                continue
            end = min(total, offset + window)
            frame_size = machine.max_outbound_frame_size
            while offset < end:
                upto = min(end, offset + frame_size)
                machine.send_data(stream.id, body[offset:upto], end_stream=upto == total)
                offset = upto
            self._send(request)

    def _await(self, stream: _Stream, request: Request) -> None:
        """Wait for the whole response, each silence bounded by the request's timeout."""
        while not stream.done:
            if stream.failure is not None:
                if stream.stale:
                    raise StaleConnection
                raise ConnectionError(f"{_where(request)}: {stream.failure}")
            stream.event.clear()
            if not stream.event.wait(request.timeout):
                raise ReadTimeout(
                    f"{_where(request)}: no answer within {request.timeout} s (timeout)"
                )

    def _cancel(self, stream: _Stream, request: Request, exc: BaseException | None) -> None:
        """Forget ``stream`` and reset it (CANCEL) if it is still open on our side; the
        reset goes out now unless the request is being interrupted from outside."""
        if self._streams.pop(stream.id, None) is None or self._broken is not None:
            return
        self._slot.set()
        try:
            self._machine.reset_stream(stream.id, ErrorCodes.CANCEL)
        except StreamClosedError:
            return
        if exc is None or isinstance(exc, ConnectionError | ReadTimeout):
            with suppress(ConnectionError, ReadTimeout):  # then the connection is closed
                self._send(request)

    def _send(self, request: Request) -> None:
        """Flush what ``h2`` queued, the wait bounded by the request's timeout."""
        if self._sending:
            return
        timer = None if request.timeout is None else Timeout.start_new(request.timeout)
        try:
            self._flush()
        except Timeout as exc:
            if exc is not timer:
                raise
            raise ReadTimeout(
                f"{_where(request)}: the server took nothing for {request.timeout} s "
                "(timeout); connection closed"
            ) from None
        except OSError as exc:
            raise ConnectionError(f"{_where(request)}: connection broken: {reason(exc)}") from exc
        finally:
            if timer is not None:
                timer.close()

    def _flush(self) -> None:
        """Send everything ``h2`` queued, including what is queued while this sends; a
        write cut short leaves a frame half sent, so it closes the connection."""
        if self._sending:
            return
        self._sending = True
        try:
            data = self._machine.data_to_send()
            while data:
                _send(self.sock, data)
                data = self._machine.data_to_send()
        except BaseException as exc:
            self._lose(f"connection broken while sending: {reason(exc)}")
            raise
        finally:
            self._sending = False

    # -- the reader greenlet ------------------------------------------------------------

    def _read(self) -> None:
        """Read frames until the connection ends, handing events to their streams."""
        sock = self.sock
        machine = self._machine
        try:
            while self._broken is None:
                data = sock.recv(READ_SIZE)
                if not data:
                    self._lose("the server closed the connection")
                    return
                try:
                    events = machine.receive_data(data)
                except Exception as exc:  # h2's ProtocolError, or worse on hostile input
                    self._refuse(exc)
                    return
                for event in events:
                    self._handle(event)
                self._flush()
        except OSError as exc:
            self._lose(f"connection broken: {reason(exc)}")

    def _handle(self, event: H2Event) -> None:
        kind = type(event)
        if kind is DataReceived:
            assert isinstance(event, DataReceived)
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None and event.data:
                stream.chunks.append(event.data)
                stream.received = True
                stream.event.set()
            self._machine.acknowledge_received_data(
                event.flow_controlled_length or 0, event.stream_id or 0
            )
        elif kind is ResponseReceived:
            assert isinstance(event, ResponseReceived)
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream.fields = list(event.headers or ())
                stream.status = _status(stream.fields)
                stream.received = True
                stream.event.set()
        elif kind is StreamEnded:
            assert isinstance(event, StreamEnded)
            self._ended(event.stream_id or 0, None, False)
        elif kind is StreamReset:
            assert isinstance(event, StreamReset)
            code = _code(event.error_code)
            refused = event.error_code == ErrorCodes.REFUSED_STREAM
            self._ended(event.stream_id or 0, f"the server reset the stream ({code})", refused)
        elif kind is WindowUpdated or kind is RemoteSettingsChanged:
            # More room to send: wake the stream it names, or all of them.
            stream = self._streams.get(getattr(event, "stream_id", 0) or 0)
            for waiting in (stream,) if stream is not None else self._streams.values():
                waiting.event.set()
            self._slot.set()
        elif kind is ConnectionTerminated:
            assert isinstance(event, ConnectionTerminated)
            self._goaway(event)

    def _ended(self, stream_id: int, failure: str | None, stale: bool) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            if failure is None:
                stream.done = True
                stream.event.set()
                if (
                    stream_id in self._machine.streams
                    and not self._machine.streams[stream_id].closed
                ):
                    return  # answered while its body still goes out: _send_body stops
            else:
                stream.fail(failure, stale)
            del self._streams[stream_id]
        self._slot.set()
        if self.going_away and not self._streams:
            self._lose("the server went away (GOAWAY) and every stream it took has ended")

    def _goaway(self, event: ConnectionTerminated) -> None:
        """The server stops taking streams: those above its last one were never
        processed (stale); the others may finish when it is a graceful close."""
        self.going_away = True
        last = event.last_stream_id or 0
        for stream_id in [i for i in self._streams if i > last]:
            self._streams.pop(stream_id).fail("the server went away (GOAWAY) first", True)
        self._slot.set()
        if event.error_code != ErrorCodes.NO_ERROR:
            extra = f": {event.additional_data!r}" if event.additional_data else ""
            self._lose(
                f"the server closed the connection (GOAWAY {_code(event.error_code)}{extra})"
            )
        elif not self._streams:
            self._lose("the server went away (GOAWAY)")

    def _refuse(self, exc: Exception) -> None:
        """The server sent what HTTP/2 forbids: tell it (h2 queued a GOAWAY) without
        waiting on it, and fail every request in flight."""
        why = f"invalid HTTP/2 from the server: {reason(exc)}; connection closed"
        data = self._machine.data_to_send()
        if data and not self._sending:
            with suppress(OSError):
                self.sock.send(data)
        self._lose(why)

    def _lose(self, why: str) -> None:
        """The connection is over: every stream in flight fails with ``why`` (stale when
        it had no answer on a connection that had carried an exchange before)."""
        if self._broken is not None:
            return
        self._broken = why
        for stream in self._streams.values():
            stream.fail(why, stream.reused and not stream.received and why != _CLOSED)
        self._streams.clear()
        self._slot.set()
        self.sock.close()


_CLOSED = "the client is closed"


def _head(stream: _Stream) -> bytes:
    """The response's head as HTTP/1.1 would carry it, status line ``HTTP/2 <status>``."""
    parts = [b"HTTP/2 %d\r\n" % stream.status]
    for name, value in stream.fields:
        if name[:1] != b":":
            parts.append(b"%s: %s\r\n" % (name, value))
    parts.append(b"\r\n")
    return b"".join(parts)


def _status(fields: list[tuple[bytes, bytes]]) -> int:
    for name, value in fields:
        if name == b":status":
            return int(value)
    return 0  # h2 refuses a response without :status before it gets here


def _code(error_code: ErrorCodes | int | None) -> str:
    return error_code.name if isinstance(error_code, ErrorCodes) else f"error code {error_code}"


def _where(request: Request) -> str:
    return f"{request.method} {request.url}"
