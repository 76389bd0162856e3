"""gturret.http over HTTP/2 against nginx: TLS with ALPN, h2c, and a reload's GOAWAY.

``nginx_h2_target`` runs the nginx of ``test_http_nginx`` on an HTTP/2-over-TLS port
(a certificate made for the run), an h2c port, a TLS port without HTTP/2 and the
plain HTTP/1.1 one. Each response names nginx's connection (``X-Connection``), so
one connection per canon and origin is seen. Waits are on conditions.
"""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import pytest
from gevent.pool import Group

from gturret import Transaction
from gturret.http import Client, Response
from gturret.http._h2pool import H2Pool
from tests.support.nginx_target import BIG, PAGE, H2Target, nginx_h2_target
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def target() -> Iterator[H2Target]:
    with nginx_h2_target() as started:
        yield started


@pytest.fixture(params=["h2", "h2c"])
def client(request: pytest.FixtureRequest, target: H2Target) -> Iterator[Client]:
    """A client speaking HTTP/2 to nginx over TLS (ALPN) or h2c (prior knowledge)."""
    if request.param == "h2":
        made = Client(target.https, http2=True, verify=target.ca, timeout=10.0)
    else:
        made = Client(target.h2c, http2="prior-knowledge", timeout=10.0)
    with made:
        yield made


def connection(response: Response) -> str:
    return response.headers["x-connection"]


def test_keep_alive_carries_every_request_on_one_http2_connection(client: Client) -> None:
    responses = [client.get("/") for _ in range(50)]
    assert {(r.status_code, r.content, r.http_version) for r in responses} == {
        (200, b"ok", "HTTP/2")
    }
    assert len({connection(r) for r in responses}) == 1


def test_large_bodies_both_ways(client: Client) -> None:
    big = client.get("/files/big.bin")
    assert (big.headers["content-length"], big.content) == (str(len(BIG)), BIG)
    up = client.post("/echo", data=b"y" * (4 * 1024 * 1024))
    assert up.text == f"POST /echo {4 * 1024 * 1024} "
    assert connection(up) == connection(big)


def test_gzip_is_decoded_on_access(client: Client) -> None:
    r = client.get("/files/page.html", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert len(r.raw_content) < len(PAGE) // 10
    assert r.content == PAGE


def test_head_204_and_304_have_no_body(client: Client) -> None:
    head = client.head("/files/big.bin")
    assert (head.status_code, head.content, head.headers["content-length"]) == (
        200,
        b"",
        str(len(BIG)),
    )
    assert (client.get("/empty").status_code, client.get("/empty").content) == (204, b"")
    etag = client.get("/files/page.html").headers["etag"]
    unchanged = client.get("/files/page.html", headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert connection(client.get("/")) == connection(head)


def test_redirect_with_a_cookie_set_on_the_way(client: Client) -> None:
    r = client.post("/login", data={"user": "u1"})
    assert [h.status_code for h in r.history] == [302]
    assert r.text == "GET /echo  session=n1"
    assert (r.http_version, client.cookies.get("session")) == ("HTTP/2", "n1")


def test_name_times_a_request_into_the_transaction(target: H2Target) -> None:
    transaction = Transaction()
    with Client(target.h2c, transaction=transaction, http2="prior-knowledge") as c:
        c.get("/", name="home")
    assert 0 < transaction.custom_timers["home"] < 10


def test_a_hundred_concurrent_requests_of_one_canon_share_one_connection(
    client: Client,
) -> None:
    """A gevent group inside a transaction: 100 streams at once on one connection."""
    group = Group()
    greenlets = [group.spawn(client.get, f"/echo?i={i}") for i in range(100)]
    group.join(timeout=60, raise_error=True)
    assert [g.value.text for g in greenlets] == [f"GET /echo?i={i}  " for i in range(100)]
    assert len({connection(g.value) for g in greenlets}) == 1


def test_canons_each_have_their_own_connection(target: H2Target) -> None:
    def canon() -> set[str]:
        with Client(target.h2c, http2="prior-knowledge") as c:
            return {connection(c.get("/")) for _ in range(10)}

    greenlets = [gevent.spawn(canon) for _ in range(20)]
    gevent.joinall(greenlets, timeout=60, raise_error=True)
    assert all(len(g.value) == 1 for g in greenlets)
    assert len(set.union(*(g.value for g in greenlets))) == 20


def test_alpn_without_h2_falls_back_to_http1(target: H2Target) -> None:
    with Client(target.tls_http1, http2=True, verify=target.ca) as c:
        responses = [c.get("/") for _ in range(5)]
    assert {r.http_version for r in responses} == {"HTTP/1.1"}
    assert len({connection(r) for r in responses}) == 1


def test_without_http2_tls_stays_http1_even_where_h2_is_offered(target: H2Target) -> None:
    with Client(target.https, verify=target.ca) as c:
        assert c.get("/").http_version == "HTTP/1.1"


def test_http2_true_on_plain_http_speaks_http1(target: H2Target) -> None:
    with Client(target.http, http2=True) as c:
        assert c.get("/").http_version == "HTTP/1.1"


def test_a_tls_read_lets_other_greenlets_run(target: H2Target) -> None:
    """A slow TLS download (2 MB/s) must yield to the loop: another greenlet ticks
    meanwhile (the standard library's TLS sockets would block the whole turret)."""
    ticks = []

    def tick() -> None:
        while True:
            ticks.append(1)
            gevent.sleep(0.01)

    ticker = gevent.spawn(tick)
    try:
        with Client(target.https, verify=target.ca) as c:
            assert c.get("/slow/big.bin").content == BIG
    finally:
        ticker.kill()
    assert len(ticks) > 10


def test_goaway_on_reload_lets_the_download_finish_then_a_new_connection(
    target: H2Target,
) -> None:
    """nginx's reload: the old worker sends GOAWAY on every connection and finishes
    the streams it took; the next request goes on a new connection."""
    with Client(target.h2c, http2="prior-knowledge", timeout=30.0) as c:
        first = c.get("/")
        download = gevent.spawn(c.get, "/slow/big.bin")
        pool = next(iter(c._pools.values()))
        assert isinstance(pool, H2Pool)
        wait_until(lambda: pool._connection is not None and pool._connection._streams,
                   "the download to start", pause=gevent.sleep)  # fmt: skip
        target.reload()
        wait_until(lambda: pool._connection is not None and pool._connection.going_away,
                   "nginx's GOAWAY", pause=gevent.sleep)  # fmt: skip
        download.join(timeout=60)
        assert download.successful(), download.exception
        assert download.value.content == BIG
        assert connection(download.value) == connection(first)
        after = c.get("/")
        assert (after.content, after.http_version) == (b"ok", "HTTP/2")
        assert connection(after) != connection(first)
