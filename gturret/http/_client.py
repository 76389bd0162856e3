"""``Client``: requests' API on geventhttpclient's pools and C response parser.

Why not ``geventhttpclient.HTTPClient.request``: it validates every header with a
regular expression and merges two ``Headers`` objects on every request, which is
most of its per-request cost. A load generator sends the same few headers
thousands of times, so here the request head is one f-string built from parts
cached per client (default headers) and per origin (``Host``), and only what a
request adds itself is checked. The sockets, their keep-alive pools (one per
host:port, ``pool_size`` sockets each) and the response parser are
geventhttpclient's, unchanged.

Timeouts follow requests: ``timeout`` bounds each wait on the socket (connecting
excepted, which ``connect_timeout`` bounds), not the whole response. Bodies are
always read in full; there is no streaming.

This module must never log, sleep or spawn on the request path, never share a
client's cookies or sockets with another client, and never retry a request that is
not idempotent.
"""

from __future__ import annotations

import errno
import re
import select
from collections.abc import Mapping, Sequence
from functools import partial
from time import perf_counter
from types import TracebackType
from typing import Any, NotRequired, TypedDict, Unpack, cast
from urllib.parse import quote, urlencode, urljoin, urlsplit

import gevent.socket
import gevent.ssl
import ujson
from gevent.monkey import get_original
from geventhttpclient.connectionpool import ConnectionPool, SSLConnectionPool
from geventhttpclient.response import (
    HTTPConnectionClosed,
    HTTPParseError,
    HTTPSocketPoolResponse,
)

from gturret import __version__
from gturret.http._cookies import Cookies
from gturret.http._errors import (
    ConnectionError,
    ConnectTimeout,
    InvalidURL,
    ReadTimeout,
    TooManyRedirects,
)
from gturret.http._models import DefaultHeaders, Response, ResponseHeaders, decode_content

USER_AGENT = f"gturret/{__version__}"

# 64 KiB reads: a large body in few recv calls; a small one costs the same as 4 KiB.
_BLOCK_SIZE = 65536
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
_KNOWN_METHODS = _IDEMPOTENT | _BODY_METHODS
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_UNSAFE_TARGET = re.compile(r"[^\x21-\x7e]")
_TARGET_SAFE = "/?&=%:@!$'()*+,;~-._[]"
_RESET = (errno.ECONNRESET, errno.EPIPE)
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"

Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | str
Data = bytes | bytearray | str | Mapping[str, Any] | Sequence[tuple[str, Any]]


class _Options(TypedDict):
    headers: NotRequired[Mapping[str, str | None] | None]
    json: NotRequired[Any]
    timeout: NotRequired[float | None]
    allow_redirects: NotRequired[bool | None]
    name: NotRequired[str | None]


class _WithData(_Options):
    data: NotRequired[Data | None]


class _WithParams(_Options):
    params: NotRequired[Params | None]


class RequestOptions(_WithData, _WithParams):
    """The keyword arguments every request method takes (see ``Client.request``)."""


class _StaleConnection(Exception):
    """A kept-alive connection the server had closed: the request may be sent again."""


_unpatched_poll = get_original("select", "poll")


class _PoolTuning:
    """What gturret changes in geventhttpclient's pools: Nagle off, a cheaper idle check.

    A request whose head and body go out in two writes (bodies over 64 KiB) must
    not wait for a delayed ACK before its last segment leaves, so new sockets get
    TCP_NODELAY, as urllib3 gives them.

    Before reusing a kept-alive socket the pool asks whether it is readable (a
    readable idle socket is closed or dirty). Under monkey-patching its
    ``select.select`` is gevent's, which yields to the hub on every call: one
    extra greenlet switch per request. The real ``poll`` with a zero timeout
    answers the same question without yielding (the request yields soon enough,
    waiting for its response), and, unlike ``select``, for any file descriptor:
    ``select`` refuses those above 1023, which thousands of canons reach.
    """

    def after_connect(self, sock: Any) -> None:
        sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)

    def _is_socket_alive(self, sock: Any) -> bool:
        try:
            fd = sock.fileno()
            if fd < 0:
                return False
            poller = _unpatched_poll()
            poller.register(fd, select.POLLIN)
            events = poller.poll(0)
        except (OSError, ValueError):
            return False
        return not events


class _Pool(_PoolTuning, ConnectionPool):
    """A plain-HTTP pool of kept-alive sockets to one host:port."""


class _SSLPool(_PoolTuning, SSLConnectionPool):
    """A TLS pool of kept-alive sockets to one host:port."""


class _Origin:
    """One scheme://host:port: its connection pool and the parts of a head it fixes."""

    __slots__ = ("host", "host_line", "pool", "prefix")

    def __init__(self, prefix: str, host: str, netloc: str, pool: ConnectionPool) -> None:
        self.prefix = prefix
        self.host = host
        self.host_line = f"Host: {netloc}\r\n"
        self.pool = pool


class _Verbs:
    """``get``, ``post`` … as in requests, all funnelled into ``request``."""

    def request(self, method: str, url: str, **kwargs: Unpack[RequestOptions]) -> Response:
        raise NotImplementedError

    def get(self, url: str, params: Params | None = None, **kwargs: Unpack[_WithData]) -> Response:
        """GET ``url``; see ``Client.request`` for the keyword arguments."""
        return self.request("GET", url, params=params, **kwargs)

    def head(self, url: str, **kwargs: Unpack[RequestOptions]) -> Response:
        """HEAD ``url``; redirects are not followed unless ``allow_redirects=True``."""
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Unpack[RequestOptions]) -> Response:
        """OPTIONS ``url``."""
        return self.request("OPTIONS", url, **kwargs)

    def delete(self, url: str, **kwargs: Unpack[RequestOptions]) -> Response:
        """DELETE ``url``."""
        return self.request("DELETE", url, **kwargs)

    def post(self, url: str, data: Data | None = None, **kwargs: Unpack[_WithParams]) -> Response:
        """POST ``data`` (or ``json=``) to ``url``."""
        return self.request("POST", url, data=data, **kwargs)

    def put(self, url: str, data: Data | None = None, **kwargs: Unpack[_WithParams]) -> Response:
        """PUT ``data`` (or ``json=``) to ``url``."""
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: str, data: Data | None = None, **kwargs: Unpack[_WithParams]) -> Response:
        """PATCH ``data`` (or ``json=``) to ``url``."""
        return self.request("PATCH", url, data=data, **kwargs)


class Client(_Verbs):
    """One virtual user's HTTP client: keep-alive connections, cookies, default headers.

    Make one per canon, in the Transaction's ``__init__``, and use it in every run::

        self.http = gturret.http.Client("http://shop:8080", transaction=self)
        self.http.get("/cart", name="cart")     # records custom_timers["cart"]

    ``base_url`` lets requests name only a path (joined onto the base's path);
    absolute URLs work too, each origin with its own pool of ``pool_size``
    connections. ``timeout`` (seconds, None: no limit) bounds each wait for the
    server and ``connect_timeout`` each connection attempt; a request may pass its
    own ``timeout``. ``verify`` is True (check certificates against the system's
    CAs), False (do not check) or the path of a CA bundle.

    A client is not shared between canons: its cookies are one user's session.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        transaction: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
        connect_timeout: float | None = 10.0,
        pool_size: int = 10,
        max_redirects: int = 30,
        verify: bool | str = True,
    ) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        if max_redirects < 0:
            raise ValueError(f"max_redirects must be 0 or more, not {max_redirects}")
        self.transaction = transaction
        self.headers = DefaultHeaders({"User-Agent": USER_AGENT, "Accept": "*/*"})
        if headers:
            self.headers.update(headers)
        self.cookies = Cookies()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.pool_size = pool_size
        self.max_redirects = max_redirects
        self.verify = verify
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._base: _Origin | None = None
        self._base_path = ""
        if base_url is not None:
            self._base, target = self._absolute(base_url)
            if "?" in target:
                raise InvalidURL(f"base_url {base_url!r} has a query string; pass params=")
            self._base_path = target.rstrip("/")

    def __repr__(self) -> str:
        base = self._base.prefix + self._base_path if self._base else None
        return f"<gturret.http.Client base_url={base!r}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every kept-alive connection; later requests raise ConnectionError."""
        for origin in self._origins.values():
            origin.pool.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str | None] | None = None,
        data: Data | None = None,
        json: Any = None,
        timeout: float | None = None,
        allow_redirects: bool | None = None,
        name: str | None = None,
    ) -> Response:
        """Send one request and read its response in full, following redirects.

        ``params`` are added to the URL's query; ``headers`` are laid over the
        client's (a None value drops one); ``json`` is sent as JSON, ``data`` as
        is (bytes, str) or form-encoded (a dict or pairs). ``timeout`` replaces
        the client's for this request. Redirects are followed unless
        ``allow_redirects`` is False (HEAD: unless it is True), up to
        ``max_redirects``. With ``name``, the seconds the whole call took go into
        ``custom_timers[name]`` of the client's transaction, failed or not.
        """
        if name is None:
            return self._request(method, url, params, headers, data, json, timeout, allow_redirects)
        timers = self._timers(name)
        start = perf_counter()
        try:
            return self._request(method, url, params, headers, data, json, timeout, allow_redirects)
        finally:
            timers[name] = perf_counter() - start

    def _timers(self, name: str) -> dict[str, float]:
        transaction = self.transaction
        if transaction is None:
            raise ValueError(
                f"name={name!r} records into a transaction's custom_timers: "
                "create the client with Client(..., transaction=self)"
            )
        timers: dict[str, float] | None = getattr(transaction, "custom_timers", None)
        if timers is None:
            timers = transaction.custom_timers = {}
        return timers

    def _request(
        self,
        method: str,
        url: str,
        params: Params | None,
        headers: Mapping[str, str | None] | None,
        data: Data | None,
        json: Any,
        timeout: float | None,
        allow_redirects: bool | None,
    ) -> Response:
        method = method.upper()
        if method not in _KNOWN_METHODS and not _TOKEN.fullmatch(method):
            raise ValueError(f"invalid HTTP method {method!r}")
        origin, target = self._locate(url)
        if params:
            target = _with_params(target, params)
        if _UNSAFE_TARGET.search(target):
            target = quote(target, safe=_TARGET_SAFE)
        body = b""
        content_type = None
        if json is not None:
            body = ujson.dumps(json, ensure_ascii=False, escape_forward_slashes=False).encode()
            content_type = _JSON
        elif data is not None:
            body, content_type = _encode_data(data)
        if timeout is None:
            timeout = self.timeout
        fields = self.headers.merged(headers) if headers else self.headers.compiled
        response = self._exchange(origin, method, target, fields, body, content_type, timeout)
        if response.status_code in _REDIRECTS and (
            allow_redirects or (allow_redirects is None and method != "HEAD")
        ):
            return self._follow(response, headers, fields, body, content_type, timeout)
        return response

    def _locate(self, url: str) -> tuple[_Origin, str]:
        """The origin and request target of ``url``, relative ones joined onto base_url."""
        if _ABSOLUTE.match(url):
            return self._absolute(url)
        if self._base is None:
            raise InvalidURL(f"relative URL {url!r} needs a client made with base_url=")
        if url[:1] == "/":
            return self._base, self._base_path + url
        return self._base, self._base_path + "/" + url

    def _absolute(self, url: str) -> tuple[_Origin, str]:
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
        origin = self._origins.get((scheme, host, port))
        if origin is None:
            origin = self._origins[scheme, host, port] = self._new_origin(
                scheme, host, port, parts.netloc
            )
        return origin, target

    def _new_origin(self, scheme: str, host: str, port: int, netloc: str) -> _Origin:
        settings: dict[str, Any] = {
            "size": self.pool_size,
            "connection_timeout": self.connect_timeout,
            "network_timeout": self.timeout,
        }
        pool: ConnectionPool
        if scheme == "https":
            pool = _SSLPool(
                host,
                port,
                host,
                port,
                insecure=self.verify is False,
                ssl_context_factory=partial(_shared_ssl_context, self.verify),
                **settings,
            )
        else:
            pool = _Pool(host, port, host, port, **settings)
        return _Origin(f"{scheme}://{netloc.lower()}", host, netloc, pool)

    def _exchange(
        self,
        origin: _Origin,
        method: str,
        target: str,
        fields: tuple[str, frozenset[str]],
        body: bytes,
        content_type: str | None,
        timeout: float | None,
    ) -> Response:
        """Send one request (once more if a kept-alive connection had gone stale)."""
        block, names = fields
        host_line = "" if "host" in names else origin.host_line
        cookie_line = "" if "cookie" in names else self.cookies.line(origin.host)
        type_line = (
            f"Content-Type: {content_type}\r\n"
            if content_type is not None and "content-type" not in names
            else ""
        )
        length_line = (
            f"Content-Length: {len(body)}\r\n"
            if (body or method in _BODY_METHODS) and "content-length" not in names
            else ""
        )
        head = (
            f"{method} {target} HTTP/1.1\r\n{host_line}{block}{type_line}{cookie_line}"
            f"{length_line}\r\n"
        ).encode("latin-1")
        if method in _IDEMPOTENT:
            try:
                return self._attempt(origin, method, target, head, body, timeout, True)
            except _StaleConnection:
                pass
        return self._attempt(origin, method, target, head, body, timeout, False)

    def _attempt(
        self,
        origin: _Origin,
        method: str,
        target: str,
        head: bytes,
        body: bytes,
        timeout: float | None,
        may_retry: bool,
    ) -> Response:
        pool = origin.pool
        start = perf_counter()
        try:
            sock = pool.get_socket()
        except TimeoutError:
            raise ConnectTimeout(
                f"{method} {origin.prefix}{target}: no connection within "
                f"{self.connect_timeout} s (connect_timeout)"
            ) from None
        except (OSError, RuntimeError) as exc:
            raise ConnectionError(
                f"{method} {origin.prefix}{target}: cannot connect: {_reason(exc)}"
            ) from exc
        try:
            sock.settimeout(timeout)
            if len(body) > _BLOCK_SIZE:
                sock.sendall(head)
                sock.sendall(body)
            else:
                sock.sendall(head + body)
        except BaseException as exc:
            pool.release_socket(sock)
            if not isinstance(exc, OSError):
                raise
            if may_retry and exc.errno in _RESET:
                raise _StaleConnection from exc
            raise _io_error(exc, method, origin.prefix + target, timeout) from exc
        try:
            raw = HTTPSocketPoolResponse(
                sock, pool, block_size=_BLOCK_SIZE, method=method, headers_type=ResponseHeaders
            )
            content = raw.read()
        except HTTPConnectionClosed as exc:
            if may_retry:
                raise _StaleConnection from exc
            raise ConnectionError(
                f"{method} {origin.prefix}{target}: the server closed the connection "
                "without a response"
            ) from exc
        except HTTPParseError as exc:
            raise ConnectionError(
                f"{method} {origin.prefix}{target}: invalid HTTP response: {exc}"
            ) from exc
        except OSError as exc:
            raise _io_error(exc, method, origin.prefix + target, timeout) from exc
        headers = cast(ResponseHeaders, raw.info())
        coding = _values(headers, "content-encoding")
        if coding is not None and content:
            content = decode_content(content, coding[-1])
        set_cookie = _values(headers, "set-cookie")
        if set_cookie is not None:
            self.cookies.store(origin.host, set_cookie)
        return Response(
            raw.status_code,
            raw.status_message or "",
            headers,
            content,
            method,
            origin.prefix,
            target,
            perf_counter() - start,
        )

    def _follow(
        self,
        response: Response,
        headers: Mapping[str, str | None] | None,
        fields: tuple[str, frozenset[str]],
        body: bytes,
        content_type: str | None,
        timeout: float | None,
    ) -> Response:
        """Follow ``response``'s redirects the way browsers and requests do."""
        history = []
        first_origin = response._origin
        method = response.method
        for _ in range(self.max_redirects):
            location = response.headers.get("location")
            if not isinstance(location, str):
                return response
            history.append(response)
            status = response.status_code
            if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
                method, body, content_type = "GET", b"", None
            origin, target = self._absolute(urljoin(response.url, location.strip()))
            if origin.prefix != first_origin and "authorization" in fields[1]:
                fields = self.headers.merged({**(headers or {}), "Authorization": None})
            response = self._exchange(origin, method, target, fields, body, content_type, timeout)
            response.history = tuple(history)
            if response.status_code not in _REDIRECTS:
                return response
        if response.headers.get("location") is None:
            return response
        raise TooManyRedirects(
            f"{response.method} {response.url}: more than {self.max_redirects} redirects "
            f"(max_redirects), starting from {history[0].url if history else response.url}",
            response,
        )


class _OneShot(_Verbs):
    """The module-level ``gturret.http.get()`` …: a fresh client per call, as in requests."""

    def request(self, method: str, url: str, **kwargs: Unpack[RequestOptions]) -> Response:
        """Send one request on a client of its own: no kept-alive connection, no cookies."""
        with Client(pool_size=1) as client:
            return client.request(method, url, **kwargs)


def _with_params(target: str, params: Params) -> str:
    if isinstance(params, str):
        query = params
    else:
        pairs = params.items() if isinstance(params, Mapping) else params
        query = urlencode([(k, v) for k, v in pairs if v is not None], doseq=True)
    if not query:
        return target
    return target + ("&" if "?" in target else "?") + query


def _encode_data(data: Data) -> tuple[bytes, str | None]:
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


def _values(headers: ResponseHeaders, lower_name: str) -> list[str] | None:
    """The values of one response field, reading geventhttpclient's storage directly.

    ``Headers`` stores ``(name, value)`` or a list of those under the lower-cased
    name; reading it with ``dict.get`` skips a ``KeyError`` per absent field.
    """
    entry = dict.get(headers, lower_name)
    if entry is None:
        return None
    if isinstance(entry, tuple):
        return [entry[1]]
    return [value for _, value in entry]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _io_error(exc: OSError, method: str, url: str, timeout: float | None) -> Exception:
    if isinstance(exc, TimeoutError):
        return ReadTimeout(f"{method} {url}: no answer within {timeout} s (timeout)")
    return ConnectionError(f"{method} {url}: connection broken: {_reason(exc)}")


_SSL_CONTEXTS: dict[tuple[bool | str, str | None], gevent.ssl.SSLContext] = {}


def _shared_ssl_context(verify: bool | str, cafile: str | None = None) -> gevent.ssl.SSLContext:
    """One SSL context per ``verify`` setting for the whole process.

    A context holds the parsed CA bundle (hundreds of KiB); one per client, as
    geventhttpclient would make, costs that much per canon.
    """
    key = (verify, cafile)
    context = _SSL_CONTEXTS.get(key)
    if context is None:
        context = gevent.ssl.create_default_context(
            cafile=verify if isinstance(verify, str) else cafile
        )
        if verify is False:
            context.check_hostname = False
            context.verify_mode = gevent.ssl.CERT_NONE
        context = _SSL_CONTEXTS[key] = cast(gevent.ssl.SSLContext, context)
    return context
