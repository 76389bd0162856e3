"""What a request gives back (``Response``) and a client's default headers.

Why its own module: these are plain data with requests' names (``status_code``,
``ok``, ``text``, ``json()``, ``raise_for_status()`` …), kept apart from the
transport so they can be read and tested without sockets. A ``Response`` is built
once per request on the hot path, so it holds only what the transport already has
(``__slots__``, no copies); ``url``, ``text`` and ``elapsed`` are computed on access.
This module must never do I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, MutableMapping
from datetime import timedelta
from typing import Any

import ujson
from geventhttpclient.header import Headers

from gturret.http._errors import HTTPError

_NO_HISTORY: tuple[Response, ...] = ()


class Response:
    """One HTTP response, its body read in full.

    ``headers`` is case-insensitive (``headers["content-type"]``); see
    ``ResponseHeaders`` for fields the server sent more than once. ``history`` holds the
    redirect responses that led here, oldest first. ``duration`` is the seconds from
    sending the request to the last byte of this response; ``elapsed`` is the same as
    a ``timedelta``, as in requests.
    """

    __slots__ = (
        "_origin",
        "_target",
        "content",
        "duration",
        "headers",
        "history",
        "method",
        "reason",
        "status_code",
    )

    def __init__(
        self,
        status_code: int,
        reason: str,
        headers: ResponseHeaders,
        content: bytes,
        method: str,
        origin: str,
        target: str,
        duration: float,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.content = content
        self.method = method
        self._origin = origin
        self._target = target
        self.duration = duration
        self.history = _NO_HISTORY

    @property
    def url(self) -> str:
        """The absolute URL this response came from (after redirects, the last one)."""
        return self._origin + self._target

    @property
    def ok(self) -> bool:
        """True unless the status is 400 or above, as in requests."""
        return self.status_code < 400

    def __bool__(self) -> bool:
        return self.status_code < 400

    @property
    def elapsed(self) -> timedelta:
        """``duration`` as a ``timedelta``, for code written against requests."""
        return timedelta(seconds=self.duration)

    @property
    def encoding(self) -> str:
        """The charset the Content-Type names, else utf-8 (never guessed from the body)."""
        content_type = self.headers.get("content-type")
        if isinstance(content_type, str):
            for param in content_type.split(";")[1:]:
                key, _, value = param.partition("=")
                if key.strip().lower() == "charset" and value:
                    return value.strip().strip('"')
        return "utf-8"

    @property
    def text(self) -> str:
        """The body decoded with ``encoding``; bytes that do not decode become U+FFFD."""
        try:
            return self.content.decode(self.encoding, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; a ValueError naming the URL if it is not JSON."""
        try:
            return ujson.loads(self.content)
        except ValueError as exc:
            raise ValueError(
                f"{self.method} {self.url}: the body is not JSON ({exc}): {self.content[:80]!r}"
            ) from None

    def raise_for_status(self) -> None:
        """Raise ``HTTPError`` for a 4xx or 5xx status; do nothing otherwise."""
        if self.status_code >= 400:
            kind = "client error" if self.status_code < 500 else "server error"
            raise HTTPError(
                f"{self.status_code} {kind}: {self.reason} for {self.method} {self.url}", self
            )

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}] {self.method} {self.url}>"


class ResponseHeaders(Headers):
    """A response's header fields, case-insensitive, each value a ``str`` as in requests.

    A field sent more than once reads as its values joined with ", ";
    ``get_all("set-cookie")`` gives them apart (None when absent).
    """

    def __getitem__(self, field: str) -> str:  # type: ignore[override]  # dict of tuples below
        value = super().__getitem__(field)
        return value if isinstance(value, str) else ", ".join(value)

    def get(self, field: str, default: Any = None) -> Any:
        """The field's value, or ``default`` when the response has no such field."""
        try:
            return self[field]
        except KeyError:
            return default


def decode_content(content: bytes, coding: str) -> bytes:
    """Undo a gzip or deflate Content-Encoding; other codings are left as they came.

    Only reached when the server compressed the body, which it does only when a
    script asked for it with an Accept-Encoding header: gturret sends none itself.
    """
    coding = coding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(content, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return zlib.decompress(content)
        except zlib.error:
            return zlib.decompress(content, -zlib.MAX_WBITS)
    return content


class DefaultHeaders(MutableMapping[str, str]):
    """A client's default headers: case-insensitive, and cheap to send.

    Scripts change them mid-test (``client.headers["Authorization"] = token`` after a
    login), so they stay a mutable mapping; every request needs them as one block of
    header lines, so that block is built on the first request after a change, not on
    every request.
    """

    __slots__ = ("_compiled", "_fields")

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._fields: dict[str, tuple[str, str]] = {}
        self._compiled: tuple[str, frozenset[str]] | None = None
        if headers:
            self.update(headers)

    def __setitem__(self, name: str, value: str) -> None:
        self._fields[name.lower()] = (name, check_header(name, value))
        self._compiled = None

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __delitem__(self, name: str) -> None:
        del self._fields[name.lower()]
        self._compiled = None

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __repr__(self) -> str:
        return f"DefaultHeaders({dict(self.items())!r})"

    @property
    def compiled(self) -> tuple[str, frozenset[str]]:
        """All fields as ``Name: value\\r\\n`` lines, and their lower-cased names."""
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = _compile(self._fields)
        return compiled

    def merged(self, extra: Mapping[str, str | None]) -> tuple[str, frozenset[str]]:
        """``compiled`` with a request's own headers laid over.

        A request's value replaces the default of the same name; ``None`` drops it.
        """
        fields = dict(self._fields)
        for name, value in extra.items():
            key = name.lower()
            if value is None:
                fields.pop(key, None)
            else:
                fields[key] = (name, check_header(name, value))
        return _compile(fields)


def _compile(fields: dict[str, tuple[str, str]]) -> tuple[str, frozenset[str]]:
    return "".join(f"{n}: {v}\r\n" for n, v in fields.values()), frozenset(fields)


def check_header(name: str, value: Any) -> str:
    """The value as text, refusing what would break the request head (header injection)."""
    text = value if isinstance(value, str) else str(value)
    if "\r" in text or "\n" in text or "\r" in name or "\n" in name or ":" in name:
        raise ValueError(f"invalid header {name!r}: {text!r} (CR, LF or ':' in it)")
    return text
