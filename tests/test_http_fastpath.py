"""gturret.http's compiled fast path (``gturret/http/_fastpath.c``) against llhttp.

The compiled path reads only plainly framed responses that come whole in one read,
and hands anything else back to llhttp in Python; nothing it reads may come out
otherwise than llhttp reads it. Each response here is fetched from the raw server
(``tests/support/raw_http_server.py``) once each way and the outcomes compared:
status, head, body and the cookies the client stored, or the error's type and text;
for complete responses on a kept-alive connection, also whether the connection was
used again. Responses are generated near the edges of what the compiled path takes
(framing headers, their spelling and values, Set-Cookie, versions, statuses, HEAD,
bytes past the end) and as the fuzz tests make them. The counters of the compiled
module show it did read some of them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

import gevent
import gevent.socket
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gturret.http
from gturret.http import Client, _connection
from tests.support.http_responses import EXAMPLES, FUZZ, PIECES, PLAIN_NAMES, RESPONSES
from tests.support.raw_http_server import raw_http_server

fastpath: Any
try:
    from gturret.http import _fastpath as fastpath
except ImportError:  # compiled_path_built says what to install
    fastpath = None

_WAYS = ("compiled", "python")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with raw_http_server() as base:
        yield base


@pytest.fixture(autouse=True)
def compiled_path_built() -> None:
    if fastpath is None:
        pytest.fail(
            "gturret.http's compiled fast path (gturret/http/_fastpath.c) was not built: "
            "install gcc and the Python headers, then `make install`"
        )


@contextmanager
def reading(way: str) -> Iterator[None]:
    """Responses read the compiled way or by llhttp in Python, as chosen at import."""
    chosen = _connection.roundtrip
    _connection.roundtrip = fastpath.roundtrip if way == "compiled" else None
    try:
        yield
    finally:
        _connection.roundtrip = chosen


def outcome(client: Client, method: str, target: str) -> tuple[Any, ...]:
    try:
        response = client.request(method, target, allow_redirects=False)
    except gturret.http.ConnectionError as exc:
        return ("error", type(exc).__name__, str(exc))
    stored = sorted(client.cookies)
    return ("response", response.status_code, response.raw_head, response.raw_content, stored)


_ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=8)


@st.composite
def near_plain(draw: st.DrawFn) -> bytes:
    """A plain response, as the compiled path takes it, then changed at its edges or not."""
    status = draw(st.sampled_from([200, 201, 404, 599]))
    body = draw(st.binary(max_size=40))
    n = len(body)
    version, reason, colon, end, past = "HTTP/1.1", "OK", ": ", "\r\n", b""
    plain = st.lists(st.tuples(PLAIN_NAMES, st.text("abc =;,/", max_size=8)), max_size=3)
    fields = [("Content-Length", str(n)), *draw(plain)]
    change_or_none = st.sampled_from([None] * 6 + list(range(10)))
    changes = [draw(change_or_none), draw(change_or_none)]
    for change in changes:
        if change == 0:
            version = draw(st.sampled_from(["HTTP/1.0", "http/1.1", "HTTP/1.12", "HTTP/2"]))
        elif change == 1:
            status = draw(st.sampled_from([204, 304, 100, 199, 600, 999]) | st.integers(0, 999))
        elif change == 2:
            reason = draw(st.sampled_from(["", "Not\tFound", " x "]) | _ANY_TEXT)
        elif change == 3:
            lengths = [f" {n} ", f"0{n}", str(n + 1), str(max(n - 1, 0)), "", "+1", f"{n}, {n}"]
            fields[0] = (
                draw(st.sampled_from(["content-length", "CONTENT-LENGTH", "Content-Length"])),
                draw(st.sampled_from(lengths)),
            )
        elif change == 4:
            fields.insert(
                draw(st.integers(0, len(fields))),
                draw(
                    st.tuples(
                        st.sampled_from(
                            ["Connection", "connection", "Proxy-Connection", "Content-Length"]
                        ),
                        st.sampled_from(
                            [
                                "close",
                                "keep-alive",
                                "Close",
                                " close ",
                                "upgrade",
                                "close, x",
                                "",
                                str(n),
                            ]
                        ),
                    )
                ),
            )
        elif change == 5:
            fields.append(
                draw(
                    st.tuples(
                        st.sampled_from(["Transfer-Encoding", "Upgrade", "Content-Lengths"]),
                        st.sampled_from(["chunked", "h2c", "v"]),
                    )
                )
            )
        elif change == 6:
            fields.append((draw(PLAIN_NAMES), draw(_ANY_TEXT)))
            cookie = st.sampled_from(["Set-Cookie", "set-cookie", "SET-COOKIE", "Set-Cookie2"])
            fields.insert(draw(st.integers(0, len(fields))), (draw(cookie), "a=1"))
        elif change == 7:
            colon = draw(st.sampled_from([":", ":\t", " : ", ":  "]))
        elif change == 8:
            end = "\n"
        elif change == 9:
            past = draw(st.sampled_from([b"X", b"HTTP/1.1 200 OK\r\n\r\n"]))
    lines = [f"{version} {status} {reason}"] + [f"{name}{colon}{value}" for name, value in fields]
    return (end.join(lines) + end + end).encode("latin-1") + body + past


@st.composite
def kept_alive(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A complete response, and whether its Connection header says to close."""
    status = draw(st.sampled_from([200, 201, 204, 304, 404, 500]))
    body = b"" if status in (204, 304) else draw(st.binary(max_size=40))
    fields = [f"Content-Length: {len(body)}"] if status not in (204, 304) else []
    connection = draw(st.sampled_from(["", "close", "keep-alive", "Keep-Alive", "CLOSE"]))
    if connection:
        fields.insert(draw(st.integers(0, len(fields))), f"Connection: {connection}")
    head = "\r\n".join([f"HTTP/1.1 {status} R", *fields]) + "\r\n\r\n"
    return head.encode() + body, connection.lower() == "close"


@pytest.mark.fuzz
def test_both_ways_read_any_response_alike(url: str) -> None:
    before = fastpath.counts()

    @FUZZ
    @given(
        sent=st.tuples(near_plain(), st.sampled_from([0, 0, 0, 5])) | st.tuples(RESPONSES, PIECES),
        head=st.booleans(),
    )
    def compare(sent: tuple[bytes, int], head: bool) -> None:
        data, split = sent
        target = f"/raw/{data.hex()}?after=close&split={split}"
        method = "HEAD" if head else "GET"
        seen = []
        for way in _WAYS:
            with reading(way), Client(url, timeout=20.0) as client:
                seen.append(outcome(client, method, target))
        assert seen[0] == seen[1], data

    compare()
    taken, declined, _ = (now - then for now, then in zip(fastpath.counts(), before, strict=True))
    # How many of each depends on the examples drawn (about 20 % and 80 % of them).
    print(f"\nread compiled: {taken}, handed to llhttp: {declined}")
    assert taken > EXAMPLES // 20 and declined > EXAMPLES // 20, (taken, declined)


@pytest.mark.fuzz
def test_both_ways_keep_the_same_connections(url: str) -> None:
    @FUZZ
    @given(made=kept_alive(), head=st.booleans())
    def compare(made: tuple[bytes, bool], head: bool) -> None:
        data, closes = made
        target = f"/raw/{data.hex()}"
        method = "HEAD" if head else "GET"
        seen = []
        for way in _WAYS:
            with reading(way), Client(url, timeout=20.0) as client:
                first = client.get("/count").text.split()
                got = [outcome(client, method, target) for _ in range(2)]
                last = client.get("/count").text.split()
                seen.append((*got, int(last[0]) - int(first[0])))
        assert seen[0] == seen[1], data
        if not head:  # (the body a HEAD response brings ends its connection)
            assert seen[0][-1] == (2 if closes else 1), seen

    compare()


def test_plain_responses_are_read_compiled_and_the_rest_by_llhttp(url: str) -> None:
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    with reading("compiled"), Client(url, timeout=10.0) as client:
        before = fastpath.counts()
        assert client.get(f"/raw/{plain.hex()}").content == b"ok"
        middle = fastpath.counts()
        assert client.get(f"/raw/{chunked.hex()}").content == b"ok"
        after = fastpath.counts()
    assert middle[0] == before[0] + 1 and middle[1] == before[1]
    assert after[0] == middle[0] and after[1] == middle[1] + 1


def test_the_compiled_path_is_what_a_plain_client_uses() -> None:
    """Chosen at import: compiled unless ``GTURRET_HTTP_PURE_PYTHON`` says otherwise."""
    assert _connection._compiled_roundtrip is fastpath.roundtrip
    if not os.environ.get("GTURRET_HTTP_PURE_PYTHON"):
        assert _connection.roundtrip is fastpath.roundtrip


@pytest.mark.parametrize("way", _WAYS)
def test_a_request_the_kernel_takes_in_part_goes_out_whole(way: str) -> None:
    """A send buffer smaller than the request: the rest follows as the server reads."""
    body = bytes(range(256)) * 200  # 51,200 bytes: one write either way
    listener = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < len(body):
                piece = conn.recv(4096)
                if not piece:
                    return
                data += piece
            got.append(data.partition(b"\r\n\r\n")[2])
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    sock = gevent.socket.create_connection(listener.getsockname())
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    try:
        with reading(way), Client("http://127.0.0.1:1", timeout=10.0) as client:
            request = client.build_request("POST", "/", data=body)
            before = fastpath.counts()
            response = _connection.Connection(sock, tls=False).exchange(
                request, b"", perf_counter()
            )
            sent_in_part = fastpath.counts()[2] - before[2]
    finally:
        sock.close()
        listener.close()
    server.join(10)
    assert (response.status_code, response.content) == (200, b"ok")
    assert got == [body]
    assert sent_in_part == (1 if way == "compiled" else 0)


def test_without_a_c_compiler_gturret_installs_and_reads_in_python(
    tmp_path: Path, url: str
) -> None:
    """``pip`` builds the wheel without the compiled path (``optional``); it still works."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(tmp_path), str(REPO)],
        env={**os.environ, "CC": "false"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "_fastpath" in built.stdout + built.stderr  # it was tried
    (wheel,) = tmp_path.glob("gturret-*.whl")
    with zipfile.ZipFile(wheel) as unpacked:
        assert not [name for name in unpacked.namelist() if name.endswith(".so")]
        unpacked.extractall(tmp_path / "site")
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    script = (
        "import gturret.http, gturret.http._connection as c\n"
        "assert c.roundtrip is None, c.roundtrip\n"
        f"response = gturret.http.get({url!r} + '/raw/{plain.hex()}')\n"
        "print(gturret.http.__file__, response.status_code, response.content)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    where, status, content = ran.stdout.split()
    assert where.startswith(str(tmp_path / "site"))
    assert (status, content) == ("200", "b'ok'")
