"""What a request gives back (``Response``) and a client's default headers.

Why its own module: these are plain data with requests' names (``status_code``,
``ok``, ``text``, ``json()``, ``raise_for_status()`` …), kept apart from the
transport so they can be read and tested without sockets. A ``Response`` is built
once per request on the hot path, so it holds only what the parser handed over
(``__slots__``, no copies): its status, its head and its body as they came. The
header fields are read from the head, ``headers`` built from them, and a gzip or
deflate body decoded, when first read, as requests does; ``url``, ``text`` and
``elapsed`` are computed on access. This module must never do I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import ujson

from gturret.http._errors import ContentDecodingError, HTTPError

if TYPE_CHECKING:
    from gturret.http._request import Request

# A head's header fields as the parser gives them: (name, value) pairs of bytes.
Fields = list[tuple[bytes, bytes]]
# Header lines ready to send, and their lower-cased names.
HeaderBlock = tuple[bytes, frozenset[str]]

_NO_HISTORY: tuple[Response, ...] = ()
# How a Set-Cookie line starts in a lowered head (llhttp allows no space before ':').
_SET_COOKIE = b"\nset-cookie:"
_CONTENT_ENCODING = b"content-encoding"


class Response:
    """One HTTP response, its body read in full.

    ``headers`` is case-insensitive (``headers["content-type"]``); see
    ``ResponseHeaders`` for fields the server sent more than once. ``content`` is the
    body with its gzip or deflate Content-Encoding undone (on first access);
    ``raw_content`` is the body as it came, ``raw_head`` the head as it came (status
    line, header lines, blank line; over HTTP/2, the fields written as such a head with
    the status line ``HTTP/2 <status>``, ``http_version`` read from it) and ``fields``
    its header fields as ``(name, value)`` pairs of bytes, in order. ``request`` is the
    request this answers, and ``history`` the redirect responses that led here, oldest
    first. ``duration`` is the seconds from taking a connection for the request to the
    last byte of this response; ``elapsed`` is the same as a ``timedelta``, as in
    requests.
    """

    __slots__ = (
        "_content",
        "_fields",
        "_headers",
        "_sets_cookie",
        "duration",
        "history",
        "raw_content",
        "raw_head",
        "request",
        "status_code",
    )

    def __init__(
        self,
        status_code: int,
        raw_head: bytes,
        raw_content: bytes,
        request: Request,
        duration: float,
        sets_cookie: bool | None = None,
    ) -> None:
        self.status_code = status_code
        self.raw_head = raw_head
        self.raw_content = raw_content
        self.request = request
        self.duration = duration
        self.history = _NO_HISTORY
        self._fields: Fields | None = None
        self._headers: ResponseHeaders | None = None
        self._content: bytes | None = None
        #: Whether the head has a Set-Cookie field (the client then stores cookies): told
        #: by the compiled reader, which saw the names go by; else looked for here.
        self._sets_cookie = _SET_COOKIE in raw_head.lower() if sets_cookie is None else sets_cookie

    @property
    def fields(self) -> Fields:
        """The header fields as they came, ``(name, value)`` pairs of bytes, in order."""
        fields = self._fields
        if fields is None:
            fields = self._fields = head_fields(self.raw_head)
        return fields

    @property
    def reason(self) -> str:
        """The reason phrase of the status line ("OK"), or "" when the server sent none."""
        status_line = self.raw_head[: self.raw_head.find(b"\r\n")]
        parts = status_line.split(b" ", 2)
        return parts[2].decode("latin-1") if len(parts) == 3 else ""

    @property
    def http_version(self) -> str:
        """The protocol the response came in: "HTTP/2", or "HTTP/1.1" (or "HTTP/1.0")."""
        return self.raw_head[: self.raw_head.find(b" ")].decode("latin-1")

    @property
    def method(self) -> str:
        """The method of the request this answers."""
        return self.request.method

    @property
    def url(self) -> str:
        """The absolute URL this response came from (after redirects, the last one)."""
        return self.request.url

    @property
    def headers(self) -> ResponseHeaders:
        """The header fields, case-insensitive, built on first access."""
        headers = self._headers
        if headers is None:
            headers = self._headers = ResponseHeaders(self.fields)
        return headers

    @property
    def content(self) -> bytes:
        """The body, its gzip or deflate Content-Encoding undone on first access."""
        content = self._content
        if content is None:
            content = self._content = self._decoded()
        return content

    def _decoded(self) -> bytes:
        raw = self.raw_content
        if not raw:
            return raw
        coding = None
        for name, value in self.fields:
            if len(name) == 16 and name.lower() == _CONTENT_ENCODING:
                coding = value
        if coding is None:
            return raw
        try:
            return decode_content(raw, coding.decode("latin-1"))
        except zlib.error as exc:
            raise ContentDecodingError(
                f"{self.method} {self.url}: the body does not decode as its "
                f"Content-Encoding {coding.decode('latin-1')!r} says: {exc}"
            ) from None

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


class ResponseHeaders(Mapping[str, str]):
    """A response's header fields, case-insensitive, each value a ``str`` as in requests.

    A field sent more than once reads as its values joined with ", ";
    ``get_all("set-cookie")`` gives them apart (None when absent). Iterating gives
    the names as the server spelled them, each once. Bytes are read as Latin-1, as
    http.client does.
    """

    __slots__ = ("_names", "_values")

    def __init__(self, fields: Fields) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, list[str]] = {}
        for raw_name, raw_value in fields:
            name = raw_name.decode("latin-1")
            key = name.lower()
            values = self._values.get(key)
            if values is None:
                self._names[key] = name
                self._values[key] = [raw_value.decode("latin-1")]
            else:
                values.append(raw_value.decode("latin-1"))

    def __getitem__(self, field: str) -> str:
        values = self._values[field.lower()]
        return values[0] if len(values) == 1 else ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, field: object) -> bool:
        return isinstance(field, str) and field.lower() in self._values

    def get_all(self, field: str) -> list[str] | None:
        """Every value of ``field`` in the order sent, or None when it is absent."""
        values = self._values.get(field.lower())
        return None if values is None else list(values)

    def __repr__(self) -> str:
        return f"ResponseHeaders({dict(self.items())!r})"


def head_fields(head: bytes) -> Fields:
    """The header fields of a response head that llhttp has accepted.

    llhttp is strict: every line ends in CRLF, a name is a token right before its
    colon, a value holds no CR or LF and no line is folded; so splitting the lines
    and each at its first colon reads the fields exactly as the parser did.
    """
    fields = []
    for line in head.split(b"\r\n")[1:]:
        if line:
            name, _, value = line.partition(b":")
            fields.append((name, value.strip(b" \t")))
    return fields


def decode_content(content: bytes, coding: str) -> bytes:
    """Undo gzip or deflate Content-Encodings (a list: the last applied first).

    Only reached when the server compressed the body, which it does only when a
    script asked for it with an Accept-Encoding header: gturret sends none itself.
    A coding other than these is left as it came, and so is everything applied
    before it. Raises ``zlib.error`` when the body does not decode.
    """
    for name in reversed(coding.split(",")):
        name = name.strip().lower()
        if name in ("gzip", "x-gzip"):
            content = zlib.decompress(content, 16 + zlib.MAX_WBITS)
        elif name == "deflate":
            try:
                content = zlib.decompress(content)
            except zlib.error:
                content = zlib.decompress(content, -zlib.MAX_WBITS)
        elif name not in ("", "identity"):
            break
    return content


class DefaultHeaders(MutableMapping[str, str]):
    """A client's default headers: case-insensitive, and cheap to send.

    Scripts change them mid-test (``client.headers["Authorization"] = token`` after a
    login), so they stay a mutable mapping; every request needs them as one block of
    header lines, so that block is built at each change, not on every request.
    """

    __slots__ = ("_fields", "compiled")

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._fields: dict[str, tuple[str, str]] = {}
        #: All fields as ``Name: value\r\n`` lines in bytes, and their lower-cased names:
        #: a plain attribute, rebuilt on each change, so a request reads it for free.
        self.compiled: HeaderBlock = _compile(self._fields)
        if headers:
            self.update(headers)

    def __setitem__(self, name: str, value: str) -> None:
        self._fields[name.lower()] = (name, check_header(name, value))
        self.compiled = _compile(self._fields)

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __delitem__(self, name: str) -> None:
        del self._fields[name.lower()]
        self.compiled = _compile(self._fields)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __repr__(self) -> str:
        return f"DefaultHeaders({dict(self.items())!r})"

    def merged(self, extra: Mapping[str, str | None]) -> HeaderBlock:
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


def _compile(fields: dict[str, tuple[str, str]]) -> HeaderBlock:
    block = "".join(f"{n}: {v}\r\n" for n, v in fields.values())
    return block.encode("latin-1"), frozenset(fields)


def check_header(name: str, value: Any) -> str:
    """The value as text, refusing what would break the request head (header injection)
    and what HTTP/1.1 cannot carry (characters beyond Latin-1)."""
    text = value if isinstance(value, str) else str(value)
    if "\r" in text or "\n" in text or "\r" in name or "\n" in name or ":" in name:
        raise ValueError(f"invalid header {name!r}: {text!r} (CR, LF or ':' in it)")
    try:
        name.encode("latin-1")
        text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"invalid header {name!r}: {text!r} (HTTP/1.1 headers carry Latin-1 only; "
            "percent-encode or base64 the value)"
        ) from None
    return text
