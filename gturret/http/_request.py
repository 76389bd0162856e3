"""``Request``: one request, built once, carried whole through cookies, redirects and timers.

Why its own module: the old client passed six to nine loose values down four
layers; here a request is checked and encoded once, when it is built, into the
bytes of its head (request line, ``Host``, the client's default headers, the
request's own, ``Content-Type``, ``Content-Length``) and its body. Only the
``Cookie`` line is added when it is sent, since a redirect may have set a cookie
in between. A redirect builds the next ``Request`` from this one
(``redirected``), as httpx does.

The parts that do not change between requests (default headers, the ``Host``
line, the cookie line) arrive here already encoded; a request encodes only its
request line and what it adds itself. This module must never do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import ujson

from gturret.http._errors import InvalidURL

if TYPE_CHECKING:
    from gturret.http._models import HeaderBlock
    from gturret.http._pool import ConnectionPool

Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | str
Data = bytes | bytearray | str | Mapping[str, Any] | Sequence[tuple[str, Any]]

IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
_KNOWN_METHODS = IDEMPOTENT | _BODY_METHODS
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_UNSAFE_TARGET = re.compile(r"[^\x21-\x7e]")
_TARGET_SAFE = "/?&=%:@!$'()*+,;~-._[]"
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"


class Request:
    """One request as it goes on the wire: method, where, head and body.

    ``head`` is every header line but ``Cookie`` (added from the client's jar when
    the request is sent, unless the request set its own) and the blank line that
    ends the head. ``fields`` are the header lines it was built from (the client's
    defaults, with the request's own ``headers`` laid over); ``headers`` are kept so
    a redirect to another origin can drop ``Authorization`` from them. A request is
    never changed once built, so a client may send the same one again.
    """

    __slots__ = (
        "body",
        "content_type",
        "fields",
        "head",
        "headers",
        "jar_cookies",
        "method",
        "pool",
        "target",
        "timeout",
    )

    def __init__(
        self,
        method: str,
        pool: ConnectionPool,
        target: str,
        fields: HeaderBlock,
        headers: Mapping[str, str | None] | None,
        body: bytes,
        content_type: str | None,
        timeout: float | None,
    ) -> None:
        block, names = fields
        self.fields = fields
        self.method = method
        self.pool = pool
        self.target = target
        self.headers = headers
        self.body = body
        self.content_type = content_type
        self.timeout = timeout
        self.jar_cookies = "cookie" not in names
        line = f"{method} {target} HTTP/1.1\r\n".encode("latin-1")
        parts = [line, block if "host" in names else pool.host_line + block]
        if content_type is not None and "content-type" not in names:
            parts.append(f"Content-Type: {content_type}\r\n".encode("latin-1"))
        if (body or method in _BODY_METHODS) and "content-length" not in names:
            parts.append(b"Content-Length: %d\r\n" % len(body))
        self.head = b"".join(parts)

    @property
    def url(self) -> str:
        """The absolute URL of this request."""
        return self.pool.prefix + self.target

    @property
    def idempotent(self) -> bool:
        """Whether sending it twice does what sending it once does (RFC 9110 9.2.2)."""
        return self.method in IDEMPOTENT

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


def check_method(method: str) -> str:
    """The method in capitals; a ValueError if it is not an HTTP token."""
    if method in _KNOWN_METHODS:
        return method
    method = method.upper()
    if method not in _KNOWN_METHODS and not _TOKEN.fullmatch(method):
        raise ValueError(f"invalid HTTP method {method!r}")
    return method


def is_absolute(url: str) -> bool:
    """Whether ``url`` names its scheme (``http://…``) rather than a path."""
    return _ABSOLUTE.match(url) is not None


def split_url(url: str) -> tuple[str, str, int, str, str]:
    """``(scheme, host, port, netloc, target)`` of an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        raise InvalidURL(f"invalid URL {url!r}: only http:// and https:// URLs with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidURL(f"URL {url!r} holds credentials; send an Authorization header")
    if port is None:
        port = 443 if scheme == "https" else 80
    target = parts.path or "/"
    if parts.query:
        target = target + "?" + parts.query
    return scheme, host, port, parts.netloc, target


def finish_target(target: str, params: Params | None) -> str:
    """``target`` with ``params`` added to its query, and quoted where it must be."""
    if params:
        target = _with_params(target, params)
    if _UNSAFE_TARGET.search(target):
        target = quote(target, safe=_TARGET_SAFE)
    return target


def encode_body(data: Data | None, json: Any) -> tuple[bytes, str | None]:
    """The body and its Content-Type: ``json`` as JSON, else ``data`` as given or as a form."""
    if json is not None:
        return ujson.dumps(json, ensure_ascii=False, escape_forward_slashes=False).encode(), _JSON
    if data is None:
        return b"", None
    if isinstance(data, bytes):
        return data, None
    if isinstance(data, str):
        return data.encode(), None
    if isinstance(data, bytearray):
        return bytes(data), None
    if isinstance(data, Mapping | list | tuple):
        pairs = data.items() if isinstance(data, Mapping) else data
        return urlencode(list(pairs), doseq=True).encode("ascii"), _FORM
    kind = type(data).__name__
    raise TypeError(f"data must be bytes, str, a dict or a list of pairs, not {kind}")


def _with_params(target: str, params: Params) -> str:
    if isinstance(params, str):
        query = params
    else:
        pairs = params.items() if isinstance(params, Mapping) else params
        query = urlencode([(k, v) for k, v in pairs if v is not None], doseq=True)
    if not query:
        return target
    return target + ("&" if "?" in target else "?") + query
