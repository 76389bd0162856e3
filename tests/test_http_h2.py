"""gturret.http over HTTP/2 against a server scripted frame by frame (``h2_server``).

The edge cases nginx will not make on demand: resets, refused streams, GOAWAY
before and after a stream was taken, a server that stops reading a body, malformed
frames, HPACK errors, header lists too large, pushes, a stream limit. Each request
ends in a ``Response`` or the error the HTTP/1.1 path would raise, and a failure
of one stream leaves the canon's other requests (and, unless the connection broke,
the connection) as they were.
"""

from __future__ import annotations

import gevent
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hpack import Encoder
from hyperframe.frame import ContinuationFrame, HeadersFrame, PushPromiseFrame

from gturret.http import Client, ConnectionError, ReadTimeout
from tests.support.h2_server import Exchange, h2_server


def ok(exchange: Exchange) -> None:
    exchange.respond(200, exchange.path.encode())


def h2c(url: str, timeout: float = 5.0) -> Client:
    return Client(url, http2="prior-knowledge", timeout=timeout)


def test_a_response_comes_as_http2_with_its_headers_and_body() -> None:
    with h2_server(ok) as (url, server), h2c(url) as client:
        r = client.get("/a?b=1", headers={"X-Test": "yes"})
        assert (r.status_code, r.content, r.http_version) == (200, b"/a?b=1", "HTTP/2")
        assert r.headers["x-connection"] == "1"
        assert r.reason == ""
        assert server.seen.requests == ["/a?b=1"]


def test_the_client_refuses_pushes_in_its_settings() -> None:
    with h2_server(ok) as (url, server), h2c(url) as client:
        client.get("/")
        assert server.seen.client_settings[SettingCodes.ENABLE_PUSH] == 0


def test_concurrent_requests_share_one_connection_answered_out_of_order() -> None:
    """The server holds the first request until the second is in, answers the second
    first: both streams were in flight together on one connection."""
    with h2_server(ok, defer=True) as (url, server), h2c(url) as client:
        first = gevent.spawn(client.get, "/first")
        second = gevent.spawn(client.get, "/second")
        gevent.joinall([first, second], timeout=10, raise_error=True)
        assert first.value.content == b"/first" and second.value.content == b"/second"
        assert server.seen.connections == 1
        assert server.seen.requests == ["/first", "/second"]


def test_a_stream_limit_queues_requests_without_breaking_any() -> None:
    settings = {SettingCodes.MAX_CONCURRENT_STREAMS: 2}
    with h2_server(ok, settings=settings) as (url, server), h2c(url) as client:
        client.get("/")  # the server's SETTINGS are in
        greenlets = [gevent.spawn(client.get, f"/{i}") for i in range(20)]
        gevent.joinall(greenlets, timeout=20, raise_error=True)
        assert [g.value.content for g in greenlets] == [f"/{i}".encode() for i in range(20)]
        assert server.seen.most_open <= 2
        assert server.seen.connections == 1


def test_a_reset_stream_fails_its_request_only() -> None:
    def handler(exchange: Exchange) -> None:
        if exchange.path == "/reset":
            exchange.reset(ErrorCodes.INTERNAL_ERROR)
        else:
            ok(exchange)

    with h2_server(handler) as (url, server), h2c(url) as client:
        with pytest.raises(
            ConnectionError, match=r"GET http://.*/reset: .*reset the stream.*INTERNAL_ERROR"
        ):
            client.get("/reset")
        assert client.get("/after").content == b"/after"
        assert server.seen.connections == 1


def test_a_refused_stream_is_sent_again_once_when_idempotent() -> None:
    refused: list[str] = []

    def handler(exchange: Exchange) -> None:
        if exchange.path not in refused:
            refused.append(exchange.path)
            exchange.reset(ErrorCodes.REFUSED_STREAM)
        else:
            ok(exchange)

    with h2_server(handler) as (url, server), h2c(url) as client:
        client.get("/warm")
        assert client.get("/again").content == b"/again"
        assert server.seen.requests.count("/again") == 2
        with pytest.raises(ConnectionError, match="not idempotent"):
            client.post("/post", data=b"x")
        assert server.seen.requests.count("/post") == 1


def test_goaway_below_a_stream_resends_it_on_a_new_connection() -> None:
    def handler(exchange: Exchange) -> None:
        if exchange.connection == 1 and exchange.path == "/second":
            exchange.goaway(last_stream_id=exchange.stream_id - 2)
        else:
            ok(exchange)

    with h2_server(handler) as (url, _server), h2c(url) as client:
        first = client.get("/first")
        second = client.get("/second")
        assert second.content == b"/second"
        assert (first.headers["x-connection"], second.headers["x-connection"]) == ("1", "2")
        assert client.get("/third").headers["x-connection"] == "2"


def test_a_graceful_goaway_lets_the_taken_stream_finish() -> None:
    """The GOAWAY and the response come in one write, so h2 reads them in one batch."""

    def handler(exchange: Exchange) -> None:
        if exchange.connection == 1:
            exchange.goaway(last_stream_id=exchange.stream_id, flush=False)
        ok(exchange)

    with h2_server(handler) as (url, server), h2c(url) as client:
        r = client.get("/taken")
        assert (r.content, r.headers["x-connection"]) == (b"/taken", "1")
        assert client.get("/next").headers["x-connection"] == "2"
        assert server.seen.requests == ["/taken", "/next"]


def test_a_silent_server_times_out_one_request_and_the_connection_goes_on() -> None:
    def handler(exchange: Exchange) -> None:
        if exchange.path != "/silent":
            ok(exchange)

    with h2_server(handler) as (url, server), h2c(url, timeout=0.5) as client:
        with pytest.raises(ReadTimeout, match=r"GET http://.*/silent: no answer within 0.5 s"):
            client.get("/silent")
        assert client.get("/after").content == b"/after"
        assert server.seen.connections == 1


def test_a_server_that_stops_reading_the_body_times_out_that_request_only() -> None:
    settings = {SettingCodes.INITIAL_WINDOW_SIZE: 1024}
    with (
        h2_server(ok, settings=settings, acknowledge=False) as (url, server),
        h2c(url, timeout=0.5) as client,
    ):
        client.get("/")  # the server's SETTINGS are in
        with pytest.raises(ReadTimeout, match=r"flow-control window closed after 1,024 of"):
            client.post("/upload", data=b"x" * 100_000)
        assert client.get("/after").content == b"/after"
        assert server.seen.connections == 1


def test_a_malformed_frame_fails_the_request_and_closes_the_connection() -> None:
    def handler(exchange: Exchange) -> None:
        if exchange.path == "/bad":
            # A HEADERS frame on stream 0: forbidden (RFC 9113 6.2).
            exchange.raw(b"\x00\x00\x01\x01\x04\x00\x00\x00\x00\x88")
        else:
            ok(exchange)

    with h2_server(handler) as (url, _server), h2c(url) as client:
        with pytest.raises(
            ConnectionError, match=r"/bad: invalid HTTP/2 from the server: .*closed"
        ):
            client.get("/bad")
        assert client.get("/after").headers["x-connection"] == "2"


def test_a_hpack_error_fails_the_request_and_closes_the_connection() -> None:
    def handler(exchange: Exchange) -> None:
        if exchange.path == "/hpack":
            # An indexed field past the static and dynamic tables.
            frame = HeadersFrame(exchange.stream_id, data=b"\xff\xff\x7f", flags=["END_HEADERS"])
            exchange.raw(frame.serialize())
        else:
            ok(exchange)

    with h2_server(handler) as (url, _server), h2c(url) as client:
        with pytest.raises(ConnectionError, match=r"/hpack: invalid HTTP/2 from the server"):
            client.get("/hpack")
        assert client.get("/after").headers["x-connection"] == "2"


def test_a_header_list_too_large_fails_the_request_and_closes_the_connection() -> None:
    def handler(exchange: Exchange) -> None:
        if exchange.path == "/huge":
            fields = [(b":status", b"200"), (b"x-huge", b"v" * 300_000)]
            block = Encoder().encode(fields, huffman=False)  # h2's Huffman coding is slow
            pieces = [block[i : i + 16384] for i in range(0, len(block), 16384)]
            frames = [HeadersFrame(exchange.stream_id, data=pieces[0])]
            frames += [ContinuationFrame(exchange.stream_id, data=piece) for piece in pieces[1:]]
            frames[-1].flags.add("END_HEADERS")
            exchange.raw(b"".join(frame.serialize() for frame in frames))
        else:
            ok(exchange)

    with h2_server(handler) as (url, _server), h2c(url) as client:
        with pytest.raises(ConnectionError, match=r"/huge: invalid HTTP/2 from the server"):
            client.get("/huge")
        assert client.get("/after").headers["x-connection"] == "2"


def test_a_push_promise_is_refused_as_the_settings_said() -> None:
    def handler(exchange: Exchange) -> None:
        frame = PushPromiseFrame(exchange.stream_id, promised_stream_id=2, data=b"\x82\x84\x86")
        frame.flags.add("END_HEADERS")
        exchange.raw(frame.serialize())

    with (
        h2_server(handler) as (url, _server),
        h2c(url) as client,
        pytest.raises(ConnectionError, match="invalid HTTP/2 from the server"),
    ):
        client.get("/")


def test_a_closed_client_fails_later_requests() -> None:
    with h2_server(ok) as (url, _server):
        client = h2c(url)
        client.get("/")
        client.close()
        with pytest.raises(ConnectionError, match="the client is closed"):
            client.get("/")


def test_http2_must_be_one_of_three_settings() -> None:
    with pytest.raises(ValueError, match="http2 must be False, True or 'prior-knowledge'"):
        Client("http://127.0.0.1:1", http2="yes")
