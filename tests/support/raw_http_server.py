"""A server that answers HTTP requests with exact bytes, for framing and fuzz tests.

Run as a script (``python tests/support/raw_http_server.py``) it listens on an
ephemeral 127.0.0.1 port, prints it, and serves each connection in a thread of its
own, so a client under test can neither starve it nor hide a blocking call. It
reads one request at a time (head, then a Content-Length body) and answers by the
request's target:

- ``/raw/<hex>`` writes the hex-decoded bytes exactly, then does what ``after=``
  says: ``keep`` (default: read the next request), ``close`` (close at once),
  ``drop-next`` (read the next request, count it, and close without a byte), ``hold`` (send
  nothing more; close when the client does). ``split=N`` writes the bytes N at a
  time, pausing a millisecond after each piece, so the client reads them in pieces.
- ``/big?n=N`` answers N bytes of a repeating pattern (``pattern(N)``), with a
  Content-Length, or ``&chunk=C``: chunked in chunks of C bytes.
- ``/long-head?n=N`` sends a status line and N bytes of one header's value, never
  ending the head, then holds the connection open.
- ``/count`` answers how many connections have carried a request and how many
  requests were read, as ``connections requests`` (``/count`` itself not counted).

Every connection ends when the client closes it or after ``IDLE_LIMIT`` seconds
without a byte, so nothing here outlives a test run.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

IDLE_LIMIT = 60.0
MAX_HEAD = 1 << 20


def answer(status: str, body: bytes, *headers: str) -> bytes:
    """A well-formed response with a Content-Length, for tests to send raw."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0


def pattern(n: int) -> bytes:
    """The body ``/big?n=N`` sends: the 256 byte values over and over, cut at ``n``."""
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def _big(conn: socket.socket, n: int, chunk: int) -> None:
    body = pattern(n)
    if not chunk:
        conn.sendall(answer("200 OK", body))
        return
    pieces = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]
    for start in range(0, n, chunk):
        piece = body[start : start + chunk]
        pieces.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    pieces.append(b"0\r\n\r\n")
    conn.sendall(b"".join(pieces))


def _read_request(conn: socket.socket, buffer: bytearray) -> str | None:
    """The target of the next request (its body read and dropped), None at the close."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data or len(buffer) > MAX_HEAD:
            return None
        buffer += data
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end]).decode("latin-1")
    del buffer[:end]
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(buffer) < length:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    del buffer[:length]
    return head.split(" ")[1]


def _write(conn: socket.socket, data: bytes, split: int) -> None:
    if split <= 0:
        conn.sendall(data)
        return
    for start in range(0, len(data), split):
        conn.sendall(data[start : start + split])
        time.sleep(0.001)


def _serve_connection(conn: socket.socket, counts: _Counts) -> None:
    conn.settimeout(IDLE_LIMIT)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    counted = False
    with conn:
        while True:
            target = _read_request(conn, buffer)
            if target is None:
                return
            parts = urlsplit(target)
            query = dict(parse_qsl(parts.query))
            if parts.path == "/count":
                with counts.lock:
                    body = f"{counts.connections} {counts.requests}".encode()
                conn.sendall(answer("200 OK", body))
                continue
            with counts.lock:
                counts.requests += 1
                counts.connections += 0 if counted else 1
            counted = True
            if parts.path == "/big":
                _big(conn, int(query["n"]), int(query.get("chunk", "0")))
                continue
            if parts.path == "/long-head":
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * int(query["n"]))
                query["after"] = "hold"
            elif not parts.path.startswith("/raw/"):
                conn.sendall(answer("404 Not Found", b"no such route"))
                continue
            else:
                _write(conn, bytes.fromhex(parts.path[5:]), int(query.get("split", "0")))
            after = query.get("after", "keep")
            if after == "close":
                return
            if after == "drop-next":
                if _read_request(conn, buffer) is not None:
                    with counts.lock:
                        counts.requests += 1
                return
            if after == "hold":
                while conn.recv(65536):
                    pass
                return


def _handle(conn: socket.socket, counts: _Counts) -> None:
    # A client that left or reset is no error here: its test says what it expected.
    with contextlib.suppress(OSError):
        _serve_connection(conn, counts)


def main() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    print(listener.getsockname()[1], flush=True)
    counts = _Counts()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_handle, args=(conn, counts), daemon=True).start()


@contextmanager
def raw_http_server() -> Iterator[str]:
    """Run the server in a subprocess for the block; yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve())], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.kill()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
