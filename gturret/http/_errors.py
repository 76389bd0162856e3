"""The errors :mod:`gturret.http` raises, in one small hierarchy.

Why its own module: a script catches these by class (``except gturret.http.Timeout``)
and the canon records them as a run's error, so each message names the method, the
URL and what went wrong, and must be readable on its own in the HQ's report.

::

    RequestError                base of every error gturret.http raises
    ├── InvalidURL              a URL the client cannot send (also a ValueError)
    ├── ConnectionError         no connection, or it broke before a full response
    │   └── ConnectTimeout      connecting took longer than ``connect_timeout``
    ├── Timeout                 any timeout
    │   ├── ConnectTimeout      (also a ConnectionError, as in requests)
    │   └── ReadTimeout         the server was silent longer than ``timeout``
    ├── TooManyRedirects        more than ``max_redirects`` redirects in a row
    ├── ContentDecodingError    a gzip or deflate body that does not decode (on reading it)
    └── HTTPError               ``raise_for_status()`` on a 4xx or 5xx response

The names are those of ``requests.exceptions``, so a script ported from requests
keeps its ``except`` clauses. This module must never import gevent or sockets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gturret.errors import GturretError

if TYPE_CHECKING:
    from gturret.http._models import Response


class RequestError(GturretError):
    """Base of every error :mod:`gturret.http` raises."""


class InvalidURL(RequestError, ValueError):
    """A URL that cannot be sent: no scheme and no ``base_url``, or credentials in it."""


class ConnectionError(RequestError):
    """The connection could not be made, or broke before a full response arrived."""


class Timeout(RequestError):
    """The server did not answer in time."""


class ConnectTimeout(ConnectionError, Timeout):
    """Connecting took longer than the client's ``connect_timeout``."""


class ReadTimeout(Timeout):
    """The server sent nothing for longer than the request's ``timeout``."""


class TooManyRedirects(RequestError):
    """More redirects in a row than the client's ``max_redirects``; ``response`` is the last."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response


class ContentDecodingError(RequestError):
    """The body does not decode as its Content-Encoding says; ``raw_content`` still has it."""


class HTTPError(RequestError):
    """A 4xx or 5xx status, raised by ``Response.raise_for_status()``; ``response`` has it."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response
