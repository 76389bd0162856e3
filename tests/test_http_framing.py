"""gturret.http's HTTP/1.1 core against a server that writes exact bytes.

Every way a response can end (Content-Length, chunked, the close, no body at all),
every interim and no-body status, kept-alive connections the server closes under
the client, and malformed responses, each written byte for byte by
``tests/support/raw_http_server.py`` in a subprocess. Connections are counted by
the server (``/count``), so reuse is seen, not guessed. No test waits a fixed
time: those that need the server's close to arrive wait for it as a condition.
"""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Callable, Iterator

import pytest

import gturret.http
from gturret.http import Client, Response
from tests.support.raw_http_server import answer, pattern, raw_http_server
from tests.support.waiting import wait_until

# Every test reads its responses both ways: compiled and in Python (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("read_path")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with raw_http_server() as url:
        yield url


def raw(
    client: Client,
    data: bytes,
    method: str = "GET",
    timeout: float | None = None,
    **query: object,
) -> Response:
    """Have the server answer exactly ``data``; ``query`` says what it does after."""
    options = "&".join(f"{key}={value}" for key, value in query.items())
    return client.request(method, f"/raw/{data.hex()}?{options}", timeout=timeout)


def counts(base_url: str) -> tuple[int, int]:
    """(connections that carried a request, requests) the server has seen so far."""
    connections, requests = gturret.http.get(base_url + "/count").text.split()
    return int(connections), int(requests)


def connections_used(base_url: str, run: Callable[[], None]) -> int:
    """How many connections ``run`` made the server see."""
    before = counts(base_url)[0]
    run()
    return counts(base_url)[0] - before


OK = answer("200 OK", b"ok")


# -- how a body ends ------------------------------------------------------------------


def test_content_length_body_on_one_kept_alive_connection(client: Client, base_url: str) -> None:
    def run() -> None:
        for i in range(5):
            r = raw(client, answer("200 OK", b"body %d" % i, "X-N: n"))
            assert (r.status_code, r.reason, r.content) == (200, "OK", b"body %d" % i)
            assert r.headers["x-n"] == "n"

    assert connections_used(base_url, run) == 1


def test_chunked_body_with_extensions_and_trailers(client: Client, base_url: str) -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )

    def run() -> None:
        assert raw(client, data).content == b"hello world"
        assert raw(client, data, split=3).content == b"hello world"

    assert connections_used(base_url, run) == 1


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_body_that_ends_at_the_close(client: Client, base_url: str, version: str) -> None:
    data = f"HTTP/{version} 200 OK\r\nX-Framing: none\r\n\r\n".encode() + b"until the close"

    def run() -> None:
        assert raw(client, data, after="close").content == b"until the close"
        assert raw(client, data, after="close", split=4).content == b"until the close"
        assert raw(client, OK).content == b"ok"

    assert connections_used(base_url, run) == 3


def test_response_read_in_one_byte_pieces(client: Client) -> None:
    data = answer("201 Created", b"piecemeal", "Set-Cookie: a=1", "X-Long: " + "v" * 50)
    r = raw(client, data, split=1)
    assert (r.status_code, r.reason, r.content, client.cookies.get("a")) == (
        201,
        "Created",
        b"piecemeal",
        "1",
    )


@pytest.mark.parametrize("chunk", [0, 1024])
def test_large_body_in_many_reads(client: Client, chunk: int) -> None:
    """16 MiB, chunked in 16,384 chunks too: collected in a list and joined once."""
    n = 16 * 1024 * 1024 + 7
    r = client.get(f"/big?n={n}&chunk={chunk}")
    assert len(r.content) == n
    assert r.content == pattern(n)


# -- responses without a body ---------------------------------------------------------


def test_head_response_has_no_body_whatever_its_content_length(
    client: Client, base_url: str
) -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"

    def run() -> None:
        r = raw(client, data, method="HEAD")
        assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "1000")
        assert raw(client, OK).content == b"ok"
        assert raw(client, data, method="HEAD").content == b""
        assert raw(client, OK).content == b"ok"

    assert connections_used(base_url, run) == 1


def test_head_response_followed_by_stray_body_bytes_is_not_reused(
    client: Client, base_url: str
) -> None:
    def run() -> None:
        r = raw(client, answer("200 OK", b"stray"), method="HEAD")
        assert (r.status_code, r.content) == (200, b"")
        assert raw(client, OK).content == b"ok"

    assert connections_used(base_url, run) == 2


@pytest.mark.parametrize(
    "status", ["204 No Content", "304 Not Modified", "304 Not Modified\r\nContent-Length: 99"]
)
def test_no_body_statuses(client: Client, base_url: str, status: str) -> None:
    def run() -> None:
        r = raw(client, f"HTTP/1.1 {status}\r\nX-A: b\r\n\r\n".encode())
        assert (r.status_code, r.content, r.headers["x-a"]) == (int(status[:3]), b"", "b")
        assert raw(client, OK).content == b"ok"

    assert connections_used(base_url, run) == 1


def test_interim_responses_are_skipped(client: Client, base_url: str) -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        + answer("200 OK", b"final", "X-Final: yes")
    )

    def run() -> None:
        r = raw(client, data, method="POST", split=7)
        assert (r.status_code, r.content, r.headers["x-final"]) == (200, b"final", "yes")
        assert "link" not in r.headers
        assert raw(client, OK).content == b"ok"

    assert connections_used(base_url, run) == 1


# -- connection: close, and connections closed under the client -----------------------


@pytest.mark.parametrize(
    "data",
    [
        answer("200 OK", b"bye", "Connection: close"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbye",
    ],
    ids=["connection-close", "http-1.0"],
)
def test_a_response_that_closes_is_never_reused(client: Client, base_url: str, data: bytes) -> None:
    """The server keeps its end open: the client closes on its own and does not wait."""

    def run() -> None:
        assert raw(client, data, after="hold").content == b"bye"
        assert raw(client, OK).content == b"ok"

    assert connections_used(base_url, run) == 2


def test_http_1_0_keep_alive_is_honoured(client: Client, base_url: str) -> None:
    data = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"

    def run() -> None:
        assert raw(client, data).content == b"ok"
        assert raw(client, data).content == b"ok"

    assert connections_used(base_url, run) == 1


def test_idle_connection_closed_by_the_server_is_replaced_before_use(
    client: Client, base_url: str
) -> None:
    before = counts(base_url)
    assert raw(client, OK, after="close").content == b"ok"
    (idle,) = client._pools["http", "127.0.0.1", int(base_url.rsplit(":", 1)[1])]._idle
    wait_until(lambda: not idle.is_idle(), "the idle connection to see the close")
    assert raw(client, OK).content == b"ok"
    after = counts(base_url)
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)


def test_idempotent_request_is_sent_again_once_when_its_connection_drops(
    client: Client, base_url: str
) -> None:
    before = counts(base_url)
    assert raw(client, OK, after="drop-next").content == b"ok"
    assert raw(client, answer("200 OK", b"second")).content == b"second"
    after = counts(base_url)
    assert (after[0] - before[0], after[1] - before[1]) == (2, 3)


def test_post_is_not_sent_again(client: Client, base_url: str) -> None:
    assert raw(client, OK, after="drop-next").content == b"ok"
    with pytest.raises(gturret.http.ConnectionError, match="POST is not idempotent"):
        raw(client, OK, method="POST")


def test_a_request_is_sent_again_at_most_once(client: Client, base_url: str) -> None:
    assert raw(client, OK, after="drop-next").content == b"ok"
    with pytest.raises(gturret.http.ConnectionError, match="closed the connection without"):
        raw(client, b"", after="close")


def test_bytes_after_a_complete_response_end_the_connection(client: Client, base_url: str) -> None:
    def run() -> None:
        assert raw(client, OK + b"HTTP/1.1 200 OK\r\n\r\nsurplus").content == b"ok"
        assert raw(client, OK + b"garbage").content == b"ok"
        assert raw(client, OK).content == b"ok"

    assert connections_used(base_url, run) == 3


# -- content encodings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),
        ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw", "two-codings"],
)
def test_compressed_body_is_decoded_on_first_access(
    client: Client, coding: str, encode: Callable[[bytes], bytes]
) -> None:
    plain = b'{"squeezed": true}' * 50
    squeezed = encode(plain)
    r = raw(client, answer("200 OK", squeezed, f"Content-Encoding: {coding}"))
    assert r.raw_content == squeezed
    assert r.content == plain
    assert r.text == plain.decode()


def test_a_body_that_does_not_decode_fails_when_read(client: Client) -> None:
    r = raw(client, answer("200 OK", b"not gzip at all", "Content-Encoding: gzip"))
    assert r.status_code == 200
    assert r.raw_content == b"not gzip at all"
    with pytest.raises(gturret.http.ContentDecodingError, match="Content-Encoding 'gzip'"):
        _ = r.content


def test_unknown_coding_is_left_as_it_came(client: Client) -> None:
    r = raw(client, answer("200 OK", b"brotli?", "Content-Encoding: br"))
    assert r.content == b"brotli?"


# -- malformed responses: a ConnectionError naming the problem, never a hang ----------


MALFORMED = [
    (b"HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "invalid HTTP response"),
    (b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", "invalid HTTP response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "invalid HTTP response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "invalid HTTP"),
    (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "invalid HTTP response"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid HTTP response"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", "switched"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "invalid HTTP response"),
]


@pytest.mark.parametrize(("data", "problem"), MALFORMED)
@pytest.mark.parametrize("after", ["close", "hold"])
def test_malformed_response_is_a_connection_error(
    base_url: str, data: bytes, problem: str, after: str
) -> None:
    """Refused as soon as it is read: even a server that keeps the connection open
    gets an answer well before the client's read timeout."""
    with Client(base_url, timeout=30.0) as c:
        started = time.monotonic()
        with pytest.raises(gturret.http.ConnectionError, match=problem) as caught:
            raw(c, data, after=after)
        assert time.monotonic() - started < 10
        assert not isinstance(caught.value, gturret.http.Timeout)
        assert "/raw/" in str(caught.value)


CUT_SHORT = [
    (b"", "closed the connection without a response"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", r"in the middle of the response head \(after 27 bytes\)"),
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789",
        r"in the middle of the body \(after 10 body bytes; Content-Length 20\)",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        r"in the middle of the body \(after 5 body bytes; chunked\)",
    ),
    (b"HTTP/1.1 100 Continue\r\n\r\n", "in the middle of the response head"),
]


@pytest.mark.parametrize(("data", "problem"), CUT_SHORT)
def test_response_cut_short_by_the_close(client: Client, data: bytes, problem: str) -> None:
    with pytest.raises(gturret.http.ConnectionError, match=problem):
        raw(client, data, after="close")
    assert raw(client, OK).content == b"ok"


def test_response_cut_short_on_an_open_connection_times_out(client: Client) -> None:
    """Only the cut request has a short timeout: a loaded machine may be slow to answer."""
    with pytest.raises(gturret.http.ReadTimeout, match=r"no answer within 0\.3 s"):
        cut = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789"
        raw(client, cut, timeout=0.3, after="hold")
    assert raw(client, OK).content == b"ok"


def test_endless_head_is_refused_without_waiting_for_the_timeout(base_url: str) -> None:
    with Client(base_url, timeout=60.0) as c:
        started = time.monotonic()
        with pytest.raises(gturret.http.ConnectionError, match="no end of the head within"):
            c.get(f"/long-head?n={1024 * 1024}")
        assert time.monotonic() - started < 10


# -- a request built once ---------------------------------------------------------------


def test_build_request_then_send(client: Client, base_url: str) -> None:
    request = client.build_request("post", f"/raw/{OK.hex()}", data=b"x", headers={"X-A": "1"})
    assert (request.method, request.url) == ("POST", f"{base_url}/raw/{OK.hex()}")
    assert request.head.startswith(f"POST /raw/{OK.hex()} HTTP/1.1\r\n".encode())
    assert b"\r\nX-A: 1\r\n" in request.head
    assert b"\r\nContent-Length: 1\r\n" in request.head
    assert request.body == b"x"
    response = client.send(request)
    assert (response.content, response.request) == (b"ok", request)
    again = client.send(request)
    assert again.content == b"ok"


def test_a_plain_request_is_built_once_until_the_defaults_change(client: Client) -> None:
    first = client.build_request("GET", "/count")
    assert client.build_request("GET", "/count") is first
    client.timeout = 3.0
    assert client.build_request("GET", "/count").timeout == 3.0
    client.headers["X-Team"] = "red"
    changed = client.build_request("GET", "/count")
    assert b"\r\nX-Team: red\r\n" in changed.head
    assert b"X-Team" not in first.head
