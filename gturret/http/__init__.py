"""gturret.http: the fast HTTP client for test scripts, with requests' API.

Why it exists: a turret runs hundreds of canons in one process, and with
``requests`` most of each request's time goes into Python layers (urllib3,
http.client, cookie jars, environment lookups), not into the network. This client
is its own HTTP/1.1 core on gevent sockets and llhttp (``httptools``), and keeps
only what a load test needs: keep-alive connections per host:port, one cookie jar
per client, default headers, redirects, timeouts, and ``name=`` to time a request
into the calling transaction's ``custom_timers``::

    import gturret.http

    class Transaction(gturret.Transaction):
        def __init__(self, config, context=None):
            super().__init__(config, context)
            self.http = gturret.http.Client(config.get("target"), transaction=self)

        def run(self):
            self.http.post("/login", json={"user": "u1"}, name="login").raise_for_status()
            self.http.get("/cart", name="cart")

The module-level ``get()``, ``post()`` … make a fresh client per call (a new
connection, no cookies kept), as ``requests.get()`` does: fine in ``setup``, slow
in ``run``. ``Client.build_request`` and ``Client.send`` split a call in two, as in
httpx. See ``_errors`` for the exception hierarchy; the modules, each with one job:
``_client`` (policy: pools, cookies, redirects, timers), ``_request`` (a request
checked and encoded once), ``_pool`` (kept-alive connections per origin),
``_connection`` (one socket, the parser, framing), ``_models`` (``Response``,
headers), ``_cookies``, ``_tls``, ``_errors``; with ``http2``, ``_h2pool`` (which
protocol an origin gets) and ``_h2`` (one multiplexed HTTP/2 connection on ``h2``).

What it must never do: log or sleep on the request path, share one client's
connections or cookies with another client, or monkey-patch anything (importing it
imports gevent's sockets, which work with or without patching).
"""

from __future__ import annotations

from gturret.http._client import USER_AGENT, Client, RequestOptions, _OneShot
from gturret.http._cookies import Cookies
from gturret.http._errors import (
    ConnectionError,
    ConnectTimeout,
    ContentDecodingError,
    HTTPError,
    InvalidURL,
    ReadTimeout,
    RequestError,
    Timeout,
    TooManyRedirects,
)
from gturret.http._models import DefaultHeaders, Response, ResponseHeaders
from gturret.http._request import Request

__all__ = [
    "USER_AGENT",
    "Client",
    "ConnectTimeout",
    "ConnectionError",
    "ContentDecodingError",
    "Cookies",
    "DefaultHeaders",
    "HTTPError",
    "InvalidURL",
    "ReadTimeout",
    "Request",
    "RequestError",
    "RequestOptions",
    "Response",
    "ResponseHeaders",
    "Timeout",
    "TooManyRedirects",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "request",
]

_ONE_SHOT = _OneShot()
request = _ONE_SHOT.request
get = _ONE_SHOT.get
head = _ONE_SHOT.head
options = _ONE_SHOT.options
delete = _ONE_SHOT.delete
post = _ONE_SHOT.post
put = _ONE_SHOT.put
patch = _ONE_SHOT.patch
