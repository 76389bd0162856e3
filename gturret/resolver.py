"""Name resolution that thousands of canons can share: in front of gevent's resolver.

Why it exists: urllib3, geventhttpclient and ``socket.create_connection`` call
``getaddrinfo`` for every new connection, even for ``"127.0.0.1"``. gevent's default
resolver sends each call through the hub's thread pool, whose answers come back as
loop callbacks; with a thousand busy canons on the core a loop turn takes long, and
new connections got through at about 11 a second (measured: at 3,000 canons, 2,268
were waiting in ``getaddrinfo`` nine seconds into the test).

So :class:`SharedResolver` answers what needs no lookup at once, in the calling
greenlet: IP literals (and ``None``), asked of the C library with
``AI_NUMERICHOST``, which never touches the network. A name is looked up once per
set of arguments: concurrent askers wait on the one lookup under way and share its
answer or its error, and the answer is kept for ``ttl`` seconds (the system
resolver does not say how long an answer is good for, so the time is bounded by
us: ``GTURRET_DNS_TTL``, 10 s by default). Errors are never kept. The cache holds at
most ``MAX_ENTRIES`` answers. Everything else (reverse lookups, ``getnameinfo``) goes
to the resolver gevent chose, which is also the one that does the lookups:
``GEVENT_RESOLVER`` still picks it.

``GTURRET_RESOLVER=off`` leaves gevent's resolver alone. This module must never
change an answer: what the lookup returned is what every asker gets.
"""

from __future__ import annotations

import _socket
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from time import monotonic
from typing import Any

from gevent import get_hub
from gevent.event import AsyncResult

log = logging.getLogger(__name__)

#: Environment variables: "off" disables it; seconds an answer is kept.
ENV_SWITCH = "GTURRET_RESOLVER"
ENV_TTL = "GTURRET_DNS_TTL"
DEFAULT_TTL = 10.0
MAX_ENTRIES = 4096

_Key = tuple[Any, Any, int, int, int, int]


class SharedResolver:
    """A gevent resolver: literals inline, each name looked up once, answers kept briefly."""

    def __init__(
        self, inner: Any, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = monotonic
    ) -> None:
        self.inner = inner
        self.ttl = ttl
        self.lookups = 0
        self._clock = clock
        self._answers: OrderedDict[_Key, tuple[float, Any]] = OrderedDict()
        self._pending: dict[_Key, AsyncResult] = {}

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        """``socket.getaddrinfo``, shared and kept as the module docstring says."""
        try:
            return _socket.getaddrinfo(
                host, port, family, type, proto, flags | _socket.AI_NUMERICHOST
            )
        except _socket.gaierror:
            if host is None:
                raise
        key = (host, port, family, type, proto, flags)
        return self._shared(key, lambda: self.inner.getaddrinfo(*key))

    def gethostbyname(self, hostname: Any) -> str:
        """``socket.gethostbyname``: a literal IPv4 address at once, else shared."""
        try:
            _socket.inet_aton(hostname)
        except (OSError, TypeError):
            key = (hostname, None, _socket.AF_INET, 0, 0, -1)
            answer: str = self._shared(key, lambda: self.inner.gethostbyname(hostname))
            return answer
        return str(hostname)

    def _shared(self, key: _Key, lookup: Callable[[], Any]) -> Any:
        now = self._clock()
        kept = self._answers.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        under_way = self._pending.get(key)
        if under_way is not None:
            return under_way.get()
        under_way = self._pending[key] = AsyncResult()
        try:
            self.lookups += 1
            answer = lookup()
        except BaseException as exc:
            under_way.set_exception(exc)
            raise
        else:
            self._keep(key, answer)
            under_way.set(answer)
            return answer
        finally:
            del self._pending[key]

    def _keep(self, key: _Key, answer: Any) -> None:
        self._answers[key] = (self._clock() + self.ttl, answer)
        self._answers.move_to_end(key)
        while len(self._answers) > MAX_ENTRIES:
            self._answers.popitem(last=False)

    def __getattr__(self, name: str) -> Any:
        """Everything else is the inner resolver's (reverse lookups, ``close``)."""
        return getattr(self.inner, name)


def install_shared_resolver(environ: dict[str, str] | None = None) -> SharedResolver | None:
    """Put a SharedResolver in front of the hub's resolver, unless turned off.

    Call once at start-up, after ``gevent.monkey.patch_all()``. Returns it, or None
    when ``GTURRET_RESOLVER=off``.
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_SWITCH, "").lower() in ("off", "0", "no", "false"):
        log.info("%s=off: names are resolved by gevent's resolver on every connection", ENV_SWITCH)
        return None
    ttl = _ttl(env.get(ENV_TTL))
    hub = get_hub()
    if isinstance(hub.resolver, SharedResolver):
        return hub.resolver
    shared = SharedResolver(hub.resolver, ttl)
    hub.resolver = shared
    return shared


def _ttl(text: str | None) -> float:
    if not text:
        return DEFAULT_TTL
    try:
        ttl = float(text)
    except ValueError:
        ttl = -1.0
    if not 0 <= ttl <= 3600:
        log.warning("%s=%r is not seconds from 0 to 3600; using %g", ENV_TTL, text, DEFAULT_TTL)
        return DEFAULT_TTL
    return ttl
