"""An HTTP/2 server (h2c, prior knowledge) whose answers each test scripts, frame by frame.

The server side of python-hyper's ``h2`` on a real 127.0.0.1 socket, each connection
served by a thread of its own (so nothing the client does can hide a blocking call,
and the server keeps going while the client's loop waits). A test gives a handler,
called in the connection's thread for each complete request with an ``Exchange``:
the request (headers, body) and the means to answer it right (``respond``) or
wrong (``raw`` bytes, a reset, a GOAWAY) through the server's own ``h2``
connection. ``settings`` are the server's SETTINGS; what it saw (connections,
requests, the client's settings, the most streams open at once) is counted.
Connections end when the client closes them, on ``stop``, or after ``IDLE_LIMIT``.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import h2.connection
import h2.events
from h2.config import H2Configuration
from h2.errors import ErrorCodes

from tests.support.listening import in_thread

IDLE_LIMIT = 30.0


@dataclass
class Seen:
    """What the server saw, for the tests to check."""

    connections: int = 0
    requests: list[str] = field(default_factory=list)
    client_settings: dict[int, int] = field(default_factory=dict)
    most_open: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Exchange:
    """One request received on a connection, and the ways to answer it."""

    def __init__(
        self,
        sock: socket.socket,
        machine: h2.connection.H2Connection,
        stream_id: int,
        headers: dict[bytes, bytes],
        body: bytes,
        connection: int,
    ) -> None:
        self.sock = sock
        self.machine = machine
        self.stream_id = stream_id
        self.headers = headers
        self.body = body
        self.connection = connection
        self.path = headers.get(b":path", b"").decode()

    def respond(
        self, status: int = 200, body: bytes = b"", headers: list[tuple[bytes, bytes]] = ()
    ) -> None:
        """A well-formed response, naming the connection it came on (x-connection)."""
        fields = [
            (b":status", str(status).encode()),
            (b"x-connection", str(self.connection).encode()),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ]
        self.machine.send_headers(self.stream_id, fields, end_stream=not body)
        offset = 0
        while offset < len(body):
            size = min(
                self.machine.local_flow_control_window(self.stream_id),
                self.machine.max_outbound_frame_size,
                len(body) - offset,
            )
            self.machine.send_data(
                self.stream_id, body[offset : offset + size], end_stream=offset + size == len(body)
            )
            offset += size
            self.flush()
        self.flush()

    def reset(self, code: ErrorCodes = ErrorCodes.INTERNAL_ERROR) -> None:
        self.machine.reset_stream(self.stream_id, code)
        self.flush()

    def goaway(
        self, last_stream_id: int, code: ErrorCodes = ErrorCodes.NO_ERROR, flush: bool = True
    ) -> None:
        """Send GOAWAY (or with ``flush`` False, queue it to go out in one write with
        what follows); a graceful one (NO_ERROR) lets the server finish the streams it
        took, as nginx does (h2 itself would send nothing more)."""
        self.machine.close_connection(code, last_stream_id=last_stream_id)
        if flush:
            self.flush()
        if code == ErrorCodes.NO_ERROR:
            self.machine.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN

    def raw(self, data: bytes) -> None:
        """Bytes written exactly, whatever HTTP/2 says of them."""
        self.flush()
        self.sock.sendall(data)

    def close(self) -> None:
        """End the connection (the server's thread then sees its end too)."""
        self.sock.shutdown(socket.SHUT_RDWR)

    def flush(self) -> None:
        data = self.machine.data_to_send()
        if data:
            self.sock.sendall(data)


Handler = Callable[[Exchange], None]


class H2Server:
    """Listening on 127.0.0.1; ``url`` is its base URL (h2c with prior knowledge)."""

    def __init__(
        self,
        handler: Handler,
        settings: dict[int, int] | None = None,
        defer: bool = False,
        acknowledge: bool = True,
    ) -> None:
        self.handler = handler
        self.acknowledge = acknowledge
        self.settings = settings or {}
        self.defer = defer
        self.seen = Seen()
        self.stopping = threading.Event()

    def serve(self, sock: socket.socket) -> None:
        """Serve one connection until it ends (a client gone away is no error here)."""
        with contextlib.suppress(OSError):
            self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        with self.seen.lock:
            self.seen.connections += 1
            number = self.seen.connections
        sock.settimeout(IDLE_LIMIT)
        machine = h2.connection.H2Connection(
            H2Configuration(client_side=False, header_encoding=None)
        )
        machine.initiate_connection()
        if self.settings:
            machine.update_settings(self.settings)
        sock.sendall(machine.data_to_send())
        requests: dict[int, tuple[dict[bytes, bytes], list[bytes]]] = {}
        pending: list[Exchange] = []
        while not self.stopping.is_set():
            data = sock.recv(65536)
            if not data:
                return
            try:
                events = machine.receive_data(data)
            except h2.exceptions.ProtocolError:
                return
            for event in events:
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    for code, change in event.changed_settings.items():
                        self.seen.client_settings[int(code)] = change.new_value
                elif isinstance(event, h2.events.RequestReceived):
                    requests[event.stream_id] = (dict(event.headers), [])
                    self.seen.most_open = max(self.seen.most_open, len(requests))
                elif isinstance(event, h2.events.DataReceived):
                    requests[event.stream_id][1].append(event.data)
                    if self.acknowledge:
                        machine.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                elif isinstance(event, h2.events.StreamEnded):
                    headers, chunks = requests.pop(event.stream_id)
                    exchange = Exchange(
                        sock, machine, event.stream_id, headers, b"".join(chunks), number
                    )
                    with self.seen.lock:
                        self.seen.requests.append(exchange.path)
                    pending.append(exchange)
                elif isinstance(event, h2.events.StreamReset):
                    requests.pop(event.stream_id, None)
            sock.sendall(machine.data_to_send())
            if self.defer and len(pending) < 2:
                continue
            while pending:
                self.handler(pending.pop())


@contextmanager
def h2_server(
    handler: Handler,
    settings: dict[int, int] | None = None,
    defer: bool = False,
    acknowledge: bool = True,
) -> Iterator[tuple[str, H2Server]]:
    """Serve ``handler`` for the block; yield the base URL and the server.

    ``defer``: answer nothing until two requests are in, then the later first (so a
    test sees two streams in flight on one connection). ``acknowledge``: False gives
    no WINDOW_UPDATE for request bodies, a server that stops reading them.
    """
    server = H2Server(handler, settings, defer, acknowledge)

    class _Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            server.serve(self.request)

    class _Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    tcp = _Server(("127.0.0.1", 0), _Handler)
    with in_thread(tcp):
        try:
            yield f"http://127.0.0.1:{tcp.server_address[1]}", server
        finally:
            server.stopping.set()
