"""Fuzzing gturret.http's HTTP/2 side with server frames, through a real socket.

After its SETTINGS, the scripted server (``tests/support/h2_server.py``) answers the
first request with frames Hypothesis makes: well-formed responses (HEADERS with
HPACK-encoded fields, CONTINUATION, DATA), frames of every type with any flags,
stream and payload (RST_STREAM, GOAWAY, SETTINGS, WINDOW_UPDATE, PING, PUSH_PROMISE,
unknown types…), and all of these cut short or with bytes changed; then it closes.
Whatever comes, a request must end in a ``Response`` or a ``ConnectionError`` that
is not a timeout: never a hang, never another exception. Well-formed responses
must come back exactly. ``GTURRET_FUZZ_H2_FRAMES`` sets the examples per test.
"""

from __future__ import annotations

import contextlib
import os
import string
import struct
from collections.abc import Callable, Iterator

import pytest
from hpack import Encoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gturret.http
from gturret.http import Client
from tests.support.h2_server import Exchange, h2_server
from tests.support.http_responses import damage

EXAMPLES = int(os.environ.get("GTURRET_FUZZ_H2_FRAMES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
# Frame types: DATA HEADERS PRIORITY RST_STREAM SETTINGS PUSH_PROMISE PING GOAWAY
# WINDOW_UPDATE CONTINUATION, and one HTTP/2 does not define.
TYPES = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x42])
NAMES = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)
# HTTP/2 field values neither start nor end with whitespace (RFC 9113 8.2.1).
VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(str.strip)
STREAM = 1  # the first request's stream
Fetch = Callable[[bytes], gturret.http.Response]


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(
        ">I", stream & 0x7FFFFFFF
    ) + payload  # fmt: skip


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[bytes, int, list[tuple[str, str]], bytes]:
    """A valid response on the request's stream: HEADERS (maybe split by CONTINUATION),
    then the body in DATA frames; its status, fields and body."""
    status = draw(st.integers(200, 599).filter(lambda code: code not in (204, 304)))
    fields = draw(st.lists(st.tuples(NAMES.map(lambda n: "x-" + n), VALUES), max_size=6))
    body = draw(st.binary(max_size=300))
    block = Encoder().encode(
        [(":status", str(status)), *fields], huffman=draw(st.booleans())
    )  # fmt: skip
    cut = draw(st.integers(0, len(block)))
    data = [frame(1, 0x4 if cut == len(block) else 0, STREAM, block[:cut])]
    if cut < len(block):
        data.append(frame(9, 0x4, STREAM, block[cut:]))
    sizes = draw(st.lists(st.integers(1, 100), max_size=4))
    start = 0
    for size in sizes:
        if start < len(body):
            data.append(frame(0, 0, STREAM, body[start : start + size]))
            start += size
    data.append(frame(0, 0x1, STREAM, body[start:]))
    return b"".join(data), status, fields, body


@st.composite
def any_frame(draw: st.DrawFn) -> bytes:
    """A frame of any type, flags, stream and payload."""
    stream = draw(st.sampled_from([0, STREAM, 2, 3]) | st.integers(0, 2**31 - 1))
    return frame(draw(TYPES), draw(st.integers(0, 255)), stream, draw(st.binary(max_size=40)))


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """Frames cut short, with a byte changed or with bytes put in."""
    return damage(draw, draw(st.one_of(well_formed().map(lambda made: made[0]), frames())))


def frames() -> st.SearchStrategy[bytes]:
    """Well-formed responses and arbitrary frames, mixed."""
    part = st.one_of(well_formed().map(lambda made: made[0]), any_frame())
    return st.lists(part, min_size=1, max_size=5).map(b"".join)


ANSWERS = st.one_of(st.binary(max_size=200), frames(), damaged())


@pytest.fixture(scope="module")
def fetch() -> Iterator[Fetch]:
    """Get ``/fuzz`` on a new connection, the server answering with the given bytes."""
    answer = [b""]

    def handler(exchange: Exchange) -> None:
        exchange.raw(answer[0])
        exchange.close()

    def get(data: bytes) -> gturret.http.Response:
        answer[0] = data
        with Client(url, http2="prior-knowledge", timeout=20.0) as client:
            return client.get("/fuzz")

    with h2_server(handler) as (url, _server):
        yield get


@pytest.mark.fuzz
def test_any_frames_end_in_a_response_or_a_connection_error(fetch: Fetch) -> None:
    outcomes = {"response": 0, "error": 0}

    @FUZZ
    @given(data=ANSWERS)
    def exchange(data: bytes) -> None:
        try:
            response = fetch(data)
        except gturret.http.ConnectionError as exc:
            assert not isinstance(exc, gturret.http.Timeout), exc
            assert "/fuzz: " in str(exc)
            outcomes["error"] += 1
            return
        assert response.http_version == "HTTP/2"
        assert 100 <= response.status_code <= 999
        assert isinstance(dict(response.headers), dict)
        with contextlib.suppress(gturret.http.ContentDecodingError):
            assert isinstance(response.content, bytes)
        outcomes["response"] += 1

    exchange()
    print(f"\nfuzzed frames: {outcomes}")
    assert outcomes["response"] > 0 and outcomes["error"] > 0


@pytest.mark.fuzz
def test_well_formed_responses_come_back_exactly(fetch: Fetch) -> None:
    @FUZZ
    @given(made=well_formed())
    def exchange(made: tuple[bytes, int, list[tuple[str, str]], bytes]) -> None:
        data, status, fields, body = made
        response = fetch(data)
        assert (response.status_code, response.raw_content) == (status, body)
        assert response.fields == [(n.encode(), v.encode()) for n, v in fields]

    exchange()
