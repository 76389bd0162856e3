"""The cookies one ``Client`` keeps between its requests: one virtual user's jar.

Why not ``http.cookiejar``: it builds a urllib request object for every request to
ask which cookies apply, which costs more than the request itself on the hot path of
a load generator. A virtual user mostly needs one thing: the session cookie a login
sets, sent back on every later request to that host. So cookies are kept per host
name (ports and paths are not told apart), removed when the server expires them
(``Max-Age=0`` or an ``Expires`` in the past), and the ``Cookie`` line for a host is
built once per change, not once per request. The ``Domain``, ``Path`` and ``Secure``
attributes are not honoured; a script that needs them sets headers itself.

This module must never do I/O, and a jar is never shared between clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from time import time


class Cookies:
    """Cookies by host name, then by cookie name; the ``Cookie`` line of each host cached."""

    __slots__ = ("_jar", "_lines")

    def __init__(self) -> None:
        self._jar: dict[str, dict[str, str]] = {}
        self._lines: dict[str, bytes] = {}

    def get(self, name: str, default: str | None = None, host: str | None = None) -> str | None:
        """The value of cookie ``name`` for ``host`` (any host when None)."""
        hosts = [self._jar.get(host.lower(), {})] if host is not None else self._jar.values()
        for values in hosts:
            if name in values:
                return values[name]
        return default

    def set(self, name: str, value: str, host: str) -> None:
        """Set a cookie for ``host`` by hand, as if the server had set it."""
        self._jar.setdefault(host.lower(), {})[name] = value
        self._rebuild(host.lower())

    def clear(self, host: str | None = None) -> None:
        """Forget every cookie, or those of one host."""
        if host is None:
            self._jar.clear()
            self._lines.clear()
        else:
            self._jar.pop(host.lower(), None)
            self._lines.pop(host.lower(), None)

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        """Each cookie as ``(host, name, value)``."""
        for host, values in self._jar.items():
            for name, value in values.items():
                yield host, name, value

    def __len__(self) -> int:
        return sum(len(values) for values in self._jar.values())

    def __repr__(self) -> str:
        return f"<Cookies {list(self)!r}>"

    def line(self, host: str) -> bytes:
        """The ``Cookie:`` header line for ``host``, or b"" when it has none (hot path)."""
        return self._lines.get(host, b"")

    def store(self, host: str, set_cookie: list[str]) -> None:
        """Take in the ``Set-Cookie`` values of a response from ``host``."""
        values = self._jar.setdefault(host, {})
        for header in set_cookie:
            pair, *attributes = header.split(";")
            name, sep, value = pair.partition("=")
            name = name.strip()
            if not sep or not name:
                continue
            if _expired(attributes):
                values.pop(name, None)
            else:
                values[name] = value.strip()
        self._rebuild(host)

    def _rebuild(self, host: str) -> None:
        values = self._jar.get(host)
        if values:
            pairs = "; ".join(f"{n}={v}" for n, v in values.items())
            self._lines[host] = f"Cookie: {pairs}\r\n".encode("latin-1")
        else:
            self._jar.pop(host, None)
            self._lines.pop(host, None)


def _expired(attributes: list[str]) -> bool:
    """Whether a cookie's attributes say it is already gone (``Max-Age`` wins over ``Expires``)."""
    expires = None
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        key = key.strip().lower()
        if key == "max-age":
            try:
                return int(value.strip()) <= 0
            except ValueError:
                continue
        if key == "expires":
            expires = value.strip()
    if expires is None:
        return False
    try:
        return parsedate_to_datetime(expires).timestamp() <= time()
    except (TypeError, ValueError, IndexError):
        return False
