"""Response bytes for the fuzz tests of gturret.http: Hypothesis strategies, and the
settings every such test runs with (``GTURRET_FUZZ_RESPONSES`` sets the examples
per test; ``make test-slow`` runs more).

Shared by the fuzz of one way of reading (``tests/test_http_fuzz.py``) and the
comparison of the two (``tests/test_http_fastpath.py``).
"""

from __future__ import annotations

import os
import string

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("GTURRET_FUZZ_RESPONSES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
VERSIONS = st.sampled_from(["HTTP/1.1", "HTTP/1.0"])
ODD_VERSIONS = VERSIONS | st.sampled_from(["HTTP/2", "HTTP/1.1 ", "http/1.1", "HTTP/9.9", ""])
FRAMING_NAMES = ["Content-Length", "Transfer-Encoding", "Connection", "Content-Encoding"]
FRAMING_VALUES = ["chunked", "close", "keep-alive", "gzip", "deflate", "0", "3", "-1", "abc"]
NAMES = st.sampled_from(FRAMING_NAMES) | st.text(TOKEN, min_size=1, max_size=12)
VALUES = st.sampled_from(FRAMING_VALUES) | st.text(
    st.characters(min_codepoint=32, max_codepoint=255), max_size=30
)
PLAIN_NAMES = st.text(TOKEN, min_size=1, max_size=12).map(lambda name: "X-" + name)
PLAIN_VALUES = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30)


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out, start = [], 0
    for size in sizes:
        piece = body[start : start + size]
        if not piece:
            break
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        start += len(piece)
    if start < len(body):
        out.append(b"%x\r\n%s\r\n" % (len(body) - start, body[start:]))
    return b"".join(out) + b"0\r\n\r\n"


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[bytes, int, list[tuple[str, str]], bytes]:
    """A valid response, its status, fields and body, framed by length, chunks or the close."""
    version = draw(VERSIONS)
    status = draw(st.integers(200, 599).filter(lambda code: code not in (204, 304)))
    body = draw(st.binary(max_size=300))
    fields = draw(st.lists(st.tuples(PLAIN_NAMES, PLAIN_VALUES), max_size=6))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    if framing == "chunked" and version == "HTTP/1.0":
        framing = "length"
    if framing == "length":
        fields.append(("Content-Length", str(len(body))))
        payload = body
    elif framing == "chunked":
        fields.append(("Transfer-Encoding", "chunked"))
        payload = _chunked(body, draw(st.lists(st.integers(1, 64), max_size=8)))
    else:
        payload = body
    interim = draw(st.sampled_from([b"", b"HTTP/1.1 100 Continue\r\n\r\n"]))
    lines = [f"{version} {status} Reason"] + [f"{name}: {value}" for name, value in fields]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return interim + head + payload, status, fields, body


@st.composite
def plausible(draw: st.DrawFn) -> bytes:
    """A response built from parts that may or may not fit together."""
    version = draw(ODD_VERSIONS)
    status = draw(st.integers(100, 599) | st.integers(0, 1200))
    reason = draw(st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=12))
    fields = draw(st.lists(st.tuples(NAMES, VALUES), max_size=6))
    lines = [f"{version} {status} {reason}"] + [f"{name}: {value}" for name, value in fields]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    body = draw(st.binary(max_size=200))
    if draw(st.booleans()):
        body = _chunked(body, draw(st.lists(st.integers(0, 300), max_size=5)))
    return head + body


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A response cut short, with a byte changed or with bytes put in."""
    return damage(draw, draw(st.one_of(well_formed().map(lambda made: made[0]), plausible())))


def damage(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` cut short, with a byte changed or with bytes put in (HTTP/1.1 or h2)."""
    if not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    how = draw(st.sampled_from(["cut", "flip", "insert"]))
    if how == "cut":
        return data[:at]
    if how == "flip":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


RESPONSES = st.one_of(st.binary(max_size=300), plausible(), damaged())
PIECES = st.sampled_from([0, 0, 5, 64])
