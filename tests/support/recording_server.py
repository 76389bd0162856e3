"""An HTTP server on 127.0.0.1 that answers 404 to everything and records each request.

For the requirements tests: point ``PIP_INDEX_URL`` (or a hostile requirement's URL)
at it, and its record says whether pip ever went there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.listening import in_thread


@contextmanager
def recording_server() -> Iterator[tuple[str, list[str]]]:
    """``(base URL, the request lines received so far)``; stopped on exit."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.requestline)
            self.send_error(404)

        do_HEAD = do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the record is the log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with in_thread(server):
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
