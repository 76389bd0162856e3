"""gturret.http against nginx: a real server's framing, keep-alive and closes.

``tests/support/nginx_target.py`` starts nginx on 127.0.0.1 with a temporary
config; each response names nginx's connection (``X-Connection``), so reuse is
seen. Waits are on conditions, never fixed sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import pytest

from gturret import Transaction
from gturret.http import Client, Response
from tests.support.nginx_target import BIG, PAGE, nginx_target
from tests.support.waiting import wait_until

# Every test reads its responses both ways: compiled and in Python (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("read_path")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with nginx_target() as url:
        yield url


def connection(response: Response) -> str:
    """nginx's serial number of the connection ``response`` came on."""
    return response.headers["x-connection"]


def test_keep_alive_carries_every_request_on_one_connection(client: Client) -> None:
    responses = [client.get("/") for _ in range(200)]
    assert {(r.status_code, r.content) for r in responses} == {(200, b"ok")}
    assert len({connection(r) for r in responses}) == 1


def test_large_file_then_more_requests_on_the_same_connection(client: Client) -> None:
    big = client.get("/files/big.bin")
    assert big.headers["content-length"] == str(len(BIG))
    assert big.content == BIG
    assert connection(client.get("/")) == connection(big)


def test_gzip_comes_chunked_and_is_decoded_on_access(client: Client) -> None:
    r = client.get("/files/page.html", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["transfer-encoding"] == "chunked"
    assert len(r.raw_content) < len(PAGE) // 10
    assert r.content == PAGE
    assert connection(client.get("/")) == connection(r)


def test_head_has_the_length_and_no_body(client: Client) -> None:
    head = client.head("/files/big.bin")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(BIG))
    after = client.get("/")
    assert (after.content, connection(after)) == (b"ok", connection(head))


def test_204_and_304_on_one_connection(client: Client) -> None:
    empty = client.get("/empty")
    assert (empty.status_code, empty.content) == (204, b"")
    etag = client.get("/files/page.html").headers["etag"]
    unchanged = client.get("/files/page.html", headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    after = client.get("/")
    assert len({connection(r) for r in (empty, unchanged, after)}) == 1


def test_connection_close_is_followed_by_a_new_connection(client: Client) -> None:
    closing = client.get("/close")
    assert (closing.content, closing.headers["connection"]) == (b"closing", "close")
    assert connection(client.get("/")) != connection(closing)


def test_connection_closed_while_idle_is_replaced(client: Client, base_url: str) -> None:
    brief = client.get("/brief")
    (idle,) = client._pools["http", "127.0.0.1", int(base_url.rsplit(":", 1)[1])]._idle
    wait_until(lambda: not idle.is_idle(), "nginx to close the idle connection", timeout=10)
    after = client.get("/")
    assert after.content == b"ok"
    assert connection(after) != connection(brief)


def test_post_bodies_small_and_large(client: Client) -> None:
    small = client.post("/echo", data=b"x" * 10)
    large = client.post("/echo", data=b"y" * (1024 * 1024))
    assert small.text == "POST /echo 10 "
    assert large.text == f"POST /echo {1024 * 1024} "
    assert connection(small) == connection(large)


def test_redirect_with_a_cookie_set_on_the_way(client: Client) -> None:
    r = client.post("/login", data={"user": "u1"})
    assert [h.status_code for h in r.history] == [302]
    assert r.text == "GET /echo  session=n1"
    assert client.cookies.get("session") == "n1"


def test_name_times_a_request(base_url: str) -> None:
    transaction = Transaction()
    with Client(base_url, transaction=transaction) as c:
        c.get("/", name="home")
    assert 0 < transaction.custom_timers["home"] < 10


def test_many_greenlets_many_requests(base_url: str) -> None:
    def user() -> list[Response]:
        with Client(base_url) as c:
            return [c.get("/") for _ in range(40)]

    greenlets = [gevent.spawn(user) for _ in range(100)]
    gevent.joinall(greenlets, timeout=60, raise_error=True)
    assert all(g.successful() for g in greenlets)
    responses = [r for g in greenlets for r in g.value]
    assert {(r.status_code, r.content) for r in responses} == {(200, b"ok")}
    assert all(len({connection(r) for r in g.value}) == 1 for g in greenlets)
    assert len({connection(r) for r in responses}) == 100
