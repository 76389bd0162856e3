"""The console's HTTP side: the page, its files, the event stream and the JSON API.

Why gevent's ``pywsgi``, as ``--metrics-port``: the HQ is one gevent loop; each
request runs in a greenlet of its own on it, reads the session between two of its
reads, and costs no new dependency. Routes::

    GET  /                      the page (static/console.html); no build step, no CDN
    GET  /static/NAME           console.js, and uPlot from gturret/hq/vendor
    GET  /events                Server-Sent Events: a frame a second (feed.py)
    GET  /api/state             the latest frame, once (for scripts)
    POST /api/start             {"run_time": "30s", "arrival_rate": 50, "context": {}}
    POST /api/stop              {}
    POST /api/rate              {"arrival_rate": 200}
    POST /api/canons            {"turret": "<uuid>", "canons": 20}
    GET  /reports/KIND          a report the test wrote (json, html, junit, csv_*)

Every request passes :class:`~gturret.hq.console.guard.Guard` first; a POST must be
JSON (``Content-Type: application/json``, which a page of another origin cannot send
without a preflight this server never grants). A change the test cannot take now is
refused with 409 and the session's reason, and changes nothing. It must never block
the loop: a request reads at most ``MAX_BODY`` bytes and the session's steering
methods only publish.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from gevent.pywsgi import WSGIServer
from gevent.queue import Empty

from gturret.errors import HQError, SteeringError, UsageError
from gturret.hq.console.feed import Feed
from gturret.hq.console.guard import Guard
from gturret.hq.options import parse_context, parse_duration
from gturret.hq.session import Session

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

#: The largest request body read (a context JSON object fits many times over).
MAX_BODY = 64 * 1024
#: Seconds between two comments on an idle event stream: a client that went away is
#: noticed at the next write at the latest.
KEEPALIVE_S = 5.0
#: The page's own files and the vendored ones, by the name the page asks for.
STATIC = {
    "console.js": ("console/static/console.js", "text/javascript; charset=utf-8"),
    "uPlot.iife.min.js": ("vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    "uPlot.min.css": ("vendor/uPlot.min.css", "text/css; charset=utf-8"),
}
REPORT_TYPES = {
    "json": "application/json; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "junit": "application/xml; charset=utf-8",
}
#: What the page may do and load: its own files only, never an inline script.
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]


def _asset(path: str) -> bytes:
    return resources.files("gturret.hq").joinpath(path).read_bytes()


class ConsoleServer:
    """Serves the console of ``session`` on ``bind``:``port`` (0: any free port)."""

    def __init__(
        self, bind: str, port: int, session: Session, feed: Feed, token: str | None
    ) -> None:
        self._session = session
        self._feed = feed
        self._token = token
        self._server = WSGIServer((bind, port), self._application, log=None, error_log=log)
        self.bind = bind
        self._asked_port = port
        self.guard = Guard(bind, port, token)
        self.reports: dict[str, Path] = {}

    @property
    def port(self) -> int:
        """The bound port (the one the system chose for port 0)."""
        port: int = self._server.server_port
        return port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Bind and serve in the background; HQError if the port cannot be bound."""
        try:
            self._server.start()
        except OSError as exc:
            raise HQError(
                f"cannot serve the console on {self.bind}:{self._asked_port} (--web): {exc}"
            ) from None
        self.guard = Guard(self.bind, self.port, self._token)

    def stop(self) -> None:
        """End the event streams and close the socket (a second for requests under way)."""
        self._feed.close()
        self._server.stop(timeout=1)

    def _application(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        changes = method == "POST"
        if path == "/" or path.startswith("/static/"):
            # The page and its files hold no figure and no token: anyone who may reach
            # the port may load them (the Host check still holds, against rebinding).
            refusal = self.guard.refusal(environ, changes=False) if self._token is None else None
        else:
            refusal = self.guard.refusal(environ, changes=changes)
        if refusal is not None:
            return _json(start_response, refusal[0], {"error": refusal[1]})
        if changes:
            return self._post(path, environ, start_response)
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD, POST")])
            return [b""]
        if path == "/":
            page = _asset("console/static/console.html")
            return _bytes(start_response, page, "text/html; charset=utf-8")
        if path.startswith("/static/") and path[8:] in STATIC:
            asset, kind = STATIC[path[8:]]
            return _bytes(start_response, _asset(asset), kind)
        if path == "/events":
            return self._events(start_response)
        if path == "/api/state":
            frame = self._feed.frame_text(whole=True)
            return _bytes(start_response, frame.encode(), "application/json")
        if path.startswith("/reports/") and path[9:] in self.reports:
            kind = path[9:]
            content = REPORT_TYPES.get(kind, "text/csv; charset=utf-8")
            return _bytes(start_response, self.reports[kind].read_bytes(), content)
        return _json(start_response, "404 Not Found", {"error": f"no {path[:100]!r} here"})

    def _events(self, start_response: StartResponse) -> Iterator[bytes]:
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-store"),
                ("X-Accel-Buffering", "no"),
            ],
        )
        return self._stream()

    def _stream(self) -> Iterator[bytes]:
        """The frames of one client until it goes away (a write fails: pywsgi closes
        this generator, and ``finally`` lets its queue go) or the console stops."""
        queue = self._feed.subscribe()
        try:
            while self._feed.listening(queue):
                try:
                    frame = queue.get(timeout=KEEPALIVE_S)
                except Empty:
                    yield b": still here\n\n"
                    continue
                if frame is None:
                    return
                yield b"data: " + frame.encode() + b"\n\n"
        finally:
            self._feed.unsubscribe(queue)

    def _post(
        self, path: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        action = {
            "/api/start": self._start,
            "/api/stop": self._stop,
            "/api/rate": self._rate,
            "/api/canons": self._canons,
        }.get(path)
        if action is None:
            return _json(start_response, "404 Not Found", {"error": f"no {path[:100]!r} here"})
        if not str(environ.get("CONTENT_TYPE", "")).startswith("application/json"):
            return _json(
                start_response, "415 Unsupported Media Type", {"error": "send application/json"}
            )
        try:
            body = _body(environ)
            action(body)
        except UsageError as exc:
            return _json(start_response, "400 Bad Request", {"error": str(exc)})
        except SteeringError as exc:
            return _json(start_response, "409 Conflict", {"error": str(exc)})
        return _json(start_response, "200 OK", {"ok": True, "phase": self._session.phase})

    def _start(self, body: dict[str, Any]) -> None:
        options = self._session.options
        run_time = body.get("run_time", options.run_time)
        rate = body.get("arrival_rate", options.arrival_rate)
        context = body.get("context", options.context)
        if isinstance(context, str):
            context = parse_context(context)
        if not isinstance(context, dict):
            raise UsageError("context must be a JSON object")
        self._session.begin(_duration(run_time), _rate(rate), context)

    def _stop(self, body: dict[str, Any]) -> None:
        self._session.end()

    def _rate(self, body: dict[str, Any]) -> None:
        self._session.change_rate(_rate(body.get("arrival_rate")))

    def _canons(self, body: dict[str, Any]) -> None:
        turret, canons = body.get("turret"), body.get("canons")
        if not isinstance(turret, str):
            raise UsageError("turret must be a turret's uuid")
        if isinstance(canons, bool) or not isinstance(canons, int):
            raise UsageError("canons must be a whole number")
        self._session.change_canons(turret, canons)


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise UsageError("Content-Length is not a number") from None
    if length > MAX_BODY:
        raise UsageError(f"the body is over {MAX_BODY} bytes")
    raw = environ["wsgi.input"].read(length) if length else b"{}"
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object")
    return body


def _duration(value: Any) -> float:
    if isinstance(value, bool):
        raise UsageError("run_time must be a duration: 45, 30s, 2m, 1h")
    return parse_duration(str(value), name="run_time")


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e12:
        raise UsageError(f"arrival_rate must be 0 or more transactions/s, not {value!r}")
    return float(value)


def _bytes(start_response: StartResponse, body: bytes, content_type: str) -> list[bytes]:
    start_response(
        "200 OK",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *SECURITY_HEADERS],
    )
    return [body]


def _json(start_response: StartResponse, status: str, value: dict[str, Any]) -> list[bytes]:
    body = json.dumps(value).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
