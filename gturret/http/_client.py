"""``Client``: requests' API on gturret's own HTTP/1.1 core.

A call goes through three steps, as in httpx: ``build_request`` checks and encodes
everything the call says into one ``Request``; ``send`` takes it through the
connection pool of its origin, stores the cookies its response sets, follows
redirects (each hop a new ``Request`` made from the last) and times the whole
call into ``custom_timers`` when given a ``name``. Requests, pools, connections
and responses live in their own modules; this one holds the policy: which pool,
which cookies, when to follow, when to send again.

The common call, ``get(url)`` with nothing else, skips the first two steps: its
``Request`` was built by the first such call, and it goes straight to
``_exchange``, the one method through which every request, followed redirect and
resend reaches a connection (the place to choose another protocol's connection).

Timeouts follow requests: ``timeout`` bounds each wait on the socket (connecting
excepted, which ``connect_timeout`` bounds), not the whole response. Bodies are
always read in full; there is no streaming.

This module must never log, sleep or spawn on the request path, never share a
client's cookies or connections with another client, and never send a request
twice unless it is idempotent and its kept-alive connection was found closed as
it went out (then once more, on a new connection).
"""

from __future__ import annotations

from collections.abc import Mapping
from time import perf_counter
from types import TracebackType
from typing import Any, NotRequired, TypedDict, Unpack
from urllib.parse import urljoin

from gturret import __version__
from gturret.http._connection import StaleConnection
from gturret.http._cookies import Cookies
from gturret.http._errors import ConnectionError, InvalidURL, TooManyRedirects
from gturret.http._h2pool import H2Pool, check_http2
from gturret.http._models import DefaultHeaders, Response
from gturret.http._pool import ConnectionPool
from gturret.http._request import (
    Data,
    Params,
    Request,
    check_method,
    encode_body,
    finish_target,
    is_absolute,
    split_url,
)
from gturret.http._tls import shared_context

USER_AGENT = f"gturret/{__version__}"

_REDIRECTS = frozenset((301, 302, 303, 307, 308))
# URLs already located (split, joined, quoted), and requests without params, headers
# or body already built, per client: a script names the same few again and again.
_KNOWN_URLS = 256


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
    connections. ``timeout`` (seconds, more than 0; None: no limit) bounds each
    wait for the server and ``connect_timeout`` each connection attempt; a request
    may pass its own ``timeout``. ``verify`` is True (check certificates against the system's
    CAs), False (do not check) or the path of a CA bundle. ``http2`` is False (HTTP/1.1),
    True (HTTP/2 where a TLS server offers it by ALPN) or "prior-knowledge" (HTTP/2 on
    plain ``http://`` too): then one connection per origin carries every request,
    concurrent ones multiplexed (see ``_h2``); ``Response.http_version`` says which came.

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
        http2: bool | str = False,
    ) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        _check_timeout("timeout", timeout)
        _check_timeout("connect_timeout", connect_timeout)
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
        self.http2 = check_http2(http2)
        self._pools: dict[tuple[str, str, int], ConnectionPool] = {}
        self._urls: dict[str, tuple[ConnectionPool, str]] = {}
        self._plain: dict[tuple[str, str, float | None], Request] = {}
        self._base: ConnectionPool | None = None
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

    def get(self, url: str, params: Params | None = None, **kwargs: Unpack[_WithData]) -> Response:
        """GET ``url``; see ``request`` for the keyword arguments.

        The common call, ``get(url)`` with nothing else, goes straight to the exchange:
        its ``Request`` was built by the first such call (see ``build_request``).
        """
        if params is None and not kwargs:
            known = self._plain.get(("GET", url, self.timeout))
            if known is None or known.fields is not self.headers.compiled:
                known = self._plain_request("GET", url, None)
            response = self._exchange(known)
            if response.status_code in _REDIRECTS:
                return self._follow(response)
            return response
        return self.request("GET", url, params=params, **kwargs)

    def post(self, url: str, data: Data | None = None, **kwargs: Unpack[_WithParams]) -> Response:
        """POST ``data`` (or ``json=``) to ``url``; see ``request`` for the keyword arguments.

        ``post(url, data)`` with nothing else is built and sent without the detour
        through ``request``'s keyword arguments.
        """
        if kwargs:
            return self.request("POST", url, data=data, **kwargs)
        return self._send(self._build("POST", url, None, None, data, None, None), None, None)

    def close(self) -> None:
        """Close every kept-alive connection; later requests raise ConnectionError."""
        for pool in self._pools.values():
            pool.close()

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
        if params is None and headers is None and data is None and json is None:
            request = self._plain_request(method, url, timeout)
        else:
            request = self._build(method, url, params, headers, data, json, timeout)
        return self._send(request, allow_redirects, name)

    def build_request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str | None] | None = None,
        data: Data | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Request:
        """The ``Request`` that ``request`` would send, checked and encoded, not sent.

        A request with no params, headers or body of its own is the same every time
        the client's default headers have not changed: that one is built once and
        given again.
        """
        if params is None and headers is None and data is None and json is None:
            return self._plain_request(method, url, timeout)
        return self._build(method, url, params, headers, data, json, timeout)

    def _plain_request(self, method: str, url: str, timeout: float | None) -> Request:
        """A request with nothing of its own but a timeout: built once, given again."""
        key = (method, url, self.timeout if timeout is None else timeout)
        known = self._plain.get(key)
        if known is not None and known.fields is self.headers.compiled:
            return known
        request = self._build(method, url, None, None, None, None, key[2])
        if len(self._plain) < _KNOWN_URLS:
            self._plain[key] = request
        return request

    def _build(
        self,
        method: str,
        url: str,
        params: Params | None,
        headers: Mapping[str, str | None] | None,
        data: Data | None,
        json: Any,
        timeout: float | None,
    ) -> Request:
        method = check_method(method)
        if timeout is None:
            timeout = self.timeout  # checked here too: a script may set client.timeout
        if timeout is not None and not timeout > 0:
            _check_timeout("timeout", timeout)
        known = self._urls.get(url)
        pool, target = self._locate(url) if known is None else known
        if params:
            target = finish_target(target, params)
        if data is None and json is None:
            body, content_type = b"", None
        else:
            body, content_type = encode_body(data, json)
        fields = self.headers.merged(headers) if headers else self.headers.compiled
        return Request(method, pool, target, fields, headers, body, content_type, timeout)

    def send(
        self, request: Request, *, allow_redirects: bool | None = None, name: str | None = None
    ) -> Response:
        """Send ``request`` (made by ``build_request``) as ``request`` would send it."""
        return self._send(request, allow_redirects, name)

    def _send(self, request: Request, allow_redirects: bool | None, name: str | None) -> Response:
        if name is not None:
            return self._timed(request, allow_redirects, name)
        response = self._exchange(request)
        if response.status_code in _REDIRECTS and (
            allow_redirects or (allow_redirects is None and request.method != "HEAD")
        ):
            return self._follow(response)
        return response

    def _timed(self, request: Request, allow_redirects: bool | None, name: str) -> Response:
        transaction = self.transaction
        if transaction is None:
            raise ValueError(
                f"name={name!r} records into a transaction's custom_timers: "
                "create the client with Client(..., transaction=self)"
            )
        timers: dict[str, float] | None = getattr(transaction, "custom_timers", None)
        if timers is None:
            timers = transaction.custom_timers = {}
        start = perf_counter()
        try:
            return self._send(request, allow_redirects, None)
        finally:
            timers[name] = perf_counter() - start

    def _exchange(self, request: Request) -> Response:
        """One request, one response (the request sent once more on a new connection if
        it is idempotent and its kept-alive connection was closed under it)."""
        pool = request.pool
        cookie_line = self.cookies.line(pool.host) if request.jar_cookies else b""
        start = perf_counter()
        connection = pool.acquire(request)
        try:
            response = connection.exchange(request, cookie_line, start)
        except StaleConnection:
            pool.release(connection)
            response = self._resend(request, cookie_line, start)
        except BaseException:
            pool.release(connection)
            raise
        else:
            pool.release(connection)
        if response._sets_cookie:
            self.cookies.store(pool.host, response.headers.get_all("set-cookie") or [])
        return response

    @staticmethod
    def _resend(request: Request, cookie_line: bytes, start: float) -> Response:
        """Send again, on a new connection, a request whose kept-alive connection the
        server had closed: only if it is idempotent, and only once."""
        if not request.idempotent:
            raise ConnectionError(
                f"{request.method} {request.url}: the server closed the kept-alive "
                f"connection as the request went out; not sent again: {request.method} "
                "is not idempotent"
            )
        pool = request.pool
        connection = pool.acquire(request, fresh=True)
        try:
            return connection.exchange(request, cookie_line, start)
        finally:
            pool.release(connection)

    def _follow(self, response: Response) -> Response:
        """Follow ``response``'s redirects the way browsers and requests do."""
        history = []
        first = response.request
        for _ in range(self.max_redirects):
            location = response.headers.get("location")
            if not isinstance(location, str):
                return response
            history.append(response)
            request = self._redirected(response, location, first.pool)
            response = self._exchange(request)
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

    def _redirected(self, response: Response, location: str, first: ConnectionPool) -> Request:
        """The request a redirect asks for: GET after 303 (and after 301/302 to a POST),
        without ``Authorization`` once it leaves the first origin."""
        previous = response.request
        method, body, content_type = previous.method, previous.body, previous.content_type
        status = response.status_code
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method, body, content_type = "GET", b"", None
        pool, target = self._absolute(urljoin(previous.url, location.strip()))
        headers = previous.headers
        fields = self.headers.merged(headers) if headers else self.headers.compiled
        if pool is not first and "authorization" in fields[1]:
            headers = {**(headers or {}), "Authorization": None}
            fields = self.headers.merged(headers)
        return Request(method, pool, target, fields, headers, body, content_type, previous.timeout)

    def _locate(self, url: str) -> tuple[ConnectionPool, str]:
        """The pool and request target (quoted) of ``url``, relative ones joined onto
        base_url; remembered for the next request to the same URL."""
        if is_absolute(url):
            return self._absolute(url)
        if self._base is None:
            raise InvalidURL(f"relative URL {url!r} needs a client made with base_url=")
        path = self._base_path + (url if url[:1] == "/" else "/" + url)
        return self._remember(url, self._base, finish_target(path, None))

    def _absolute(self, url: str) -> tuple[ConnectionPool, str]:
        scheme, host, port, netloc, target = split_url(url)
        pool = self._pools.get((scheme, host, port))
        if pool is None and self.http2:
            pool = self._pools[scheme, host, port] = H2Pool(
                scheme,
                host,
                port,
                netloc,
                self.pool_size,
                self.connect_timeout,
                self.verify,
                self.http2,
            )
        elif pool is None:
            context = shared_context(self.verify) if scheme == "https" else None
            pool = self._pools[scheme, host, port] = ConnectionPool(
                scheme, host, port, netloc, self.pool_size, self.connect_timeout, context
            )
        return self._remember(url, pool, finish_target(target, None))

    def _remember(self, url: str, pool: ConnectionPool, target: str) -> tuple[ConnectionPool, str]:
        located = (pool, target)
        if len(self._urls) < _KNOWN_URLS:
            self._urls[url] = located
        return located


def _check_timeout(setting: str, seconds: float | None) -> None:
    """Refuse a timeout of 0 or less (or NaN), as urllib3 does: a wait that may not
    last at all is a mistake, not a setting."""
    if seconds is not None and not seconds > 0:
        raise ValueError(f"{setting} must be None or more than 0 seconds, not {seconds}")


class _OneShot(_Verbs):
    """The module-level ``gturret.http.get()`` …: a fresh client per call, as in requests."""

    def request(self, method: str, url: str, **kwargs: Unpack[RequestOptions]) -> Response:
        """Send one request on a client of its own: no kept-alive connection, no cookies."""
        with Client(pool_size=1) as client:
            return client.request(method, url, **kwargs)
