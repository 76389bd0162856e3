"""gturret.http against a real HTTP/1.1 server on 127.0.0.1.

The server runs in a subprocess (this file, run as a script): the test process is
not monkey-patched, and a server in its own process can neither be starved by the
greenlets under test nor hide a blocking call in the client. Every response
carries ``X-Connection-Id``, the server's number for the TCP connection it came
on, so keep-alive reuse is seen, not guessed.
"""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import gevent
import pytest

import gturret.http
from gturret import Transaction
from gturret.http import Client

# Every test reads its responses both ways: compiled and in Python (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("read_path")

_PATTERN = bytes(range(256))


class _Handler(BaseHTTPRequestHandler):
    """The routes the tests need; see each ``_route_*``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    _ids = itertools.count(1)
    _ids_lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with self._ids_lock:
            self.conn_id = next(self._ids)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read responses, not logs."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        segments = parts.path.strip("/").split("/")
        route = getattr(self, "_route_" + segments[0].replace("-", "_"), None)
        if route is None:
            self._send(404, b"no such route")
        else:
            route(*segments[1:])

    def _send(
        self,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Connection-Id", str(self.conn_id))
        for name, value in headers or []:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route_echo(self) -> None:
        echo = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": self.body.decode("latin-1"),
        }
        self._send(200, json.dumps(echo).encode(), content_type="application/json")

    def _route_(self) -> None:
        """The root, as the example scripts call it."""
        self._route_echo()

    def _route_status(self, code: str) -> None:
        self._send(int(code), f"status {code}".encode())

    def _route_redirect(self, code: str) -> None:
        self._send(int(code), b"", [("Location", self.query.get("to", "/echo"))])

    def _route_chain(self, left: str) -> None:
        n = int(left)
        self._send(302, b"", [("Location", f"/chain/{n - 1}" if n else "/echo")])

    def _route_loop(self) -> None:
        self._send(302, b"", [("Location", "/loop")])

    def _route_cookies(self, action: str) -> None:
        if action == "set":
            cookies = [(k, v) for k, v in self.query.items() if k != "next"]
            headers = [("Set-Cookie", f"{k}={v}; Path=/; HttpOnly") for k, v in cookies]
        else:
            headers = [("Set-Cookie", f"{k}=; Max-Age=0") for k in self.query]
        if "next" in self.query:
            self._send(302, b"", [*headers, ("Location", self.query["next"])])
        else:
            self._send(200, b"ok", headers)

    def _route_sleep(self) -> None:
        time.sleep(float(self.query.get("s", "1")))
        self._send(200, b"slept")

    def _route_chunked(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Connection-Id", str(self.conn_id))
        self.end_headers()
        for i in range(int(self.query.get("n", "5"))):
            chunk = f"chunk-{i}\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def _route_bytes(self) -> None:
        n = int(self.query["n"])
        body = (_PATTERN * (n // len(_PATTERN) + 1))[:n]
        self._send(200, body, content_type="application/octet-stream")

    def _route_gzip(self) -> None:
        self._send(200, gzip.compress(b"squeezed " * 100), [("Content-Encoding", "gzip")])

    def _route_close(self) -> None:
        self._send(200, b"bye", [("Connection", "close")])
        self.close_connection = True

    def _route_drop(self) -> None:
        """Answer, then drop the kept-alive connection without saying so."""
        self._send(200, b"dropped")
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that timed out and left is expected here, not an error."""


def _serve() -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve())],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- status codes ---------------------------------------------------------------------


def test_ok_response(client: Client, base_url: str) -> None:
    r = client.get("/status/200")
    assert (r.status_code, r.ok, bool(r), r.reason) == (200, True, True, "OK")
    assert r.text == "status 200"
    assert r.content == b"status 200"
    assert r.url == base_url + "/status/200"
    assert r.elapsed.total_seconds() == pytest.approx(r.duration, abs=1e-6)
    assert r.duration > 0
    r.raise_for_status()


@pytest.mark.parametrize(("code", "kind"), [(404, "client error"), (500, "server error")])
def test_error_status_raises_only_on_request(client: Client, code: int, kind: str) -> None:
    r = client.get(f"/status/{code}")
    assert r.status_code == code
    assert not r.ok
    with pytest.raises(gturret.http.HTTPError) as caught:
        r.raise_for_status()
    assert caught.value.response is r
    assert str(caught.value).startswith(f"{code} {kind}: ")
    assert f"GET {r.url}" in str(caught.value)


# -- request bodies, params, headers --------------------------------------------------


def test_json_request_and_response(client: Client) -> None:
    r = client.post("/echo", json={"user": "ü", "n": [1, 2]})
    echo = r.json()
    assert echo["method"] == "POST"
    assert echo["headers"]["content-type"] == "application/json"
    assert json.loads(echo["body"].encode("latin-1")) == {"user": "ü", "n": [1, 2]}


def test_form_data_bytes_and_str(client: Client) -> None:
    echo = client.post("/echo", data={"a": "1", "b": ["x", "y z"]}).json()
    assert echo["body"] == "a=1&b=x&b=y+z"
    assert echo["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert client.put("/echo", data=b"\x00raw").json()["body"] == "\x00raw"
    echo = client.patch("/echo", data="text").json()
    assert (echo["method"], echo["body"]) == ("PATCH", "text")
    assert "content-type" not in echo["headers"]


def test_empty_post_sends_content_length_zero(client: Client) -> None:
    assert client.post("/echo").json()["headers"]["content-length"] == "0"


def test_query_params(client: Client) -> None:
    assert client.get("/echo", params={"q": "a b", "n": 1}).json()["path"] == "/echo?q=a+b&n=1"
    assert client.get("/echo?x=1", params=[("y", "2")]).json()["path"] == "/echo?x=1&y=2"
    assert client.get("/echo", params={"skip": None}).json()["path"] == "/echo"
    assert client.get("/echo?p=ä ö").json()["path"] == "/echo?p=%C3%A4%20%C3%B6"


def test_default_and_request_headers(base_url: str) -> None:
    with Client(base_url, headers={"X-Team": "red"}) as c:
        c.headers["Authorization"] = "Bearer t"
        sent = c.get("/echo", headers={"x-team": "blue", "User-Agent": None}).json()["headers"]
        assert sent["x-team"] == "blue"
        assert sent["authorization"] == "Bearer t"
        assert "user-agent" not in sent
        sent = c.get("/echo").json()["headers"]
        assert sent["x-team"] == "red"
        assert sent["user-agent"] == gturret.http.USER_AGENT


def test_response_headers_are_case_insensitive(client: Client) -> None:
    r = client.get("/echo")
    assert r.headers["CONTENT-TYPE"] == r.headers["content-type"] == "application/json"
    assert r.headers.get("x-absent", "none") == "none"


def test_repeated_response_fields(client: Client) -> None:
    r = client.get("/cookies/set?a=1&b=2")
    assert r.headers["set-cookie"] == "a=1; Path=/; HttpOnly, b=2; Path=/; HttpOnly"
    assert r.headers.get_all("Set-Cookie") == ["a=1; Path=/; HttpOnly", "b=2; Path=/; HttpOnly"]
    assert r.headers.get_all("x-absent") is None


def test_header_injection_is_refused(client: Client) -> None:
    with pytest.raises(ValueError, match="invalid header"):
        client.get("/echo", headers={"X-Evil": "a\r\nX-Smuggled: 1"})


# -- redirects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "method", "body"),
    [
        (301, "GET", ""),
        (302, "GET", ""),
        (303, "GET", ""),
        (307, "POST", "x=1"),
        (308, "POST", "x=1"),
    ],
)
def test_redirect_after_post(client: Client, code: int, method: str, body: str) -> None:
    r = client.post(f"/redirect/{code}", data={"x": "1"})
    assert r.status_code == 200
    assert r.url.endswith("/echo")
    assert [h.status_code for h in r.history] == [code]
    echo = r.json()
    assert (echo["method"], echo["body"]) == (method, body)


def test_redirect_not_followed_when_told(client: Client) -> None:
    r = client.get("/redirect/302?to=/status/200", allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["location"] == "/status/200"
    assert r.history == ()


def test_head_does_not_follow_unless_told(client: Client) -> None:
    assert client.head("/redirect/302").status_code == 302
    assert client.head("/redirect/302", allow_redirects=True).status_code == 200


def test_redirect_limit(base_url: str) -> None:
    with Client(base_url, max_redirects=3) as c:
        assert len(c.get("/chain/2").history) == 3
        with pytest.raises(gturret.http.TooManyRedirects, match="more than 3 redirects") as caught:
            c.get("/chain/3")
        assert caught.value.response.status_code == 302
    with Client(base_url) as c, pytest.raises(gturret.http.TooManyRedirects):
        c.get("/loop")


# -- cookies --------------------------------------------------------------------------


def test_cookies_set_by_server_are_sent_back(client: Client, base_url: str) -> None:
    client.get("/cookies/set?session=abc&theme=dark")
    assert client.cookies.get("session") == "abc"
    assert client.get("/echo").json()["headers"]["cookie"] == "session=abc; theme=dark"
    client.get("/cookies/delete?theme")
    assert client.get("/echo").json()["headers"]["cookie"] == "session=abc"
    with Client(base_url) as other:
        assert "cookie" not in other.get("/echo").json()["headers"]


def test_cookie_set_on_a_redirect_is_used_by_the_next_hop(client: Client) -> None:
    r = client.post("/cookies/set?session=s1&next=/echo", data=b"login")
    assert r.json()["headers"]["cookie"] == "session=s1"


# -- timeouts and connection errors ---------------------------------------------------


def test_read_timeout_then_the_client_still_works(base_url: str) -> None:
    with Client(base_url, timeout=0.2) as c:
        with pytest.raises(gturret.http.ReadTimeout, match=r"no answer within 0\.2 s") as caught:
            c.get("/sleep?s=2")
        assert isinstance(caught.value, gturret.http.Timeout)
        assert c.get("/status/200").ok


def test_per_request_timeout(client: Client) -> None:
    with pytest.raises(gturret.http.Timeout):
        client.get("/sleep?s=2", timeout=0.2)


def test_a_plain_get_follows_the_clients_headers_and_timeout_as_they_change(
    base_url: str,
) -> None:
    """``get(url)`` alone reuses the request it built last time (the fast path): a
    default header set or deleted, or a new client timeout, must still reach the wire."""
    with Client(base_url) as c:
        assert "x-team" not in c.get("/echo").json()["headers"]
        c.headers["X-Team"] = "red"
        assert c.get("/echo").json()["headers"]["x-team"] == "red"
        del c.headers["X-Team"]
        assert "x-team" not in c.get("/echo").json()["headers"]
        assert c.get("/sleep?s=0.5").ok
        c.timeout = 0.2
        with pytest.raises(gturret.http.ReadTimeout, match=r"within 0\.2 s"):
            c.get("/sleep?s=0.5")


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
def test_a_timeout_of_zero_or_less_is_refused(base_url: str, seconds: float) -> None:
    """As in urllib3; a timer of 0 s would otherwise never fire and leave no limit."""
    with pytest.raises(ValueError, match="timeout must be None or more than 0 seconds"):
        Client(base_url, timeout=seconds)
    with pytest.raises(ValueError, match="connect_timeout must be None or more than 0"):
        Client(base_url, connect_timeout=seconds)
    with Client(base_url) as c:
        with pytest.raises(ValueError, match="timeout must be"):
            c.get("/status/200", timeout=seconds)
        c.timeout = seconds
        with pytest.raises(ValueError, match="timeout must be"):
            c.get("/status/200")
        assert c.get("/status/200", timeout=1.0).ok


def test_closed_port_is_a_connection_error() -> None:
    port = _closed_port()
    with Client(f"http://127.0.0.1:{port}") as c, pytest.raises(gturret.http.ConnectionError) as e:
        c.get("/")
    assert not isinstance(e.value, gturret.http.Timeout)
    assert f"GET http://127.0.0.1:{port}/: cannot connect" in str(e.value)


def test_invalid_urls() -> None:
    with Client() as c:
        with pytest.raises(gturret.http.InvalidURL, match="needs a client made with base_url"):
            c.get("/x")
        with pytest.raises(gturret.http.InvalidURL, match="only http"):
            c.get("ftp://127.0.0.1/")
        with pytest.raises(gturret.http.InvalidURL, match="credentials"):
            c.get("http://u:p@127.0.0.1/")


# -- bodies ---------------------------------------------------------------------------


def test_chunked_response(client: Client) -> None:
    r = client.get("/chunked?n=50")
    assert r.text == "".join(f"chunk-{i}\n" for i in range(50))
    assert r.headers["transfer-encoding"] == "chunked"


def test_large_body(client: Client) -> None:
    n = 8 * 1024 * 1024 + 3
    r = client.get(f"/bytes?n={n}")
    assert len(r.content) == n
    assert r.content[:512] == _PATTERN * 2
    assert r.content[-3:] == _PATTERN[(n - 3) % 256 : (n - 3) % 256 + 3]


def test_large_request_body(client: Client) -> None:
    payload = b"y" * (3 * 1024 * 1024)
    assert len(client.post("/echo", data=payload).json()["body"]) == len(payload)


def test_gzip_body_is_decoded_when_asked_for(client: Client) -> None:
    r = client.get("/gzip", headers={"Accept-Encoding": "gzip"})
    assert r.content == b"squeezed " * 100


def test_head_has_headers_and_no_body(client: Client) -> None:
    r = client.head("/echo")
    assert r.status_code == 200
    assert int(r.headers["content-length"]) > 0
    assert r.content == b""
    assert client.get("/status/200").text == "status 200"


# -- connections ----------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(client: Client) -> None:
    ids = {client.get("/echo").headers["x-connection-id"] for _ in range(20)}
    assert len(ids) == 1


def test_keep_alive_works_on_file_descriptors_above_1023(base_url: str) -> None:
    """select() refuses fds above 1023; thousands of canons have such sockets."""
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with Client(base_url) as c:
            first = c.get("/echo")
            assert first.status_code == 200
            ids = {c.get("/echo").headers["x-connection-id"] for _ in range(20)}
            ids.add(first.headers["x-connection-id"])
            assert len(ids) == 1, f"{len(ids)} connections for 21 requests"
            assert max(filler) > 1023
    finally:
        for fd in filler:
            os.close(fd)


def test_connection_close_and_dropped_connections_are_replaced(client: Client) -> None:
    first = client.get("/close").headers["x-connection-id"]
    second = client.get("/drop").headers["x-connection-id"]
    third = client.get("/echo").headers["x-connection-id"]
    assert len({first, second, third}) == 3


def test_fifty_greenlets_sharing_nothing(base_url: str) -> None:
    def user(i: int) -> list[int]:
        with Client(base_url) as c:
            return [c.get("/echo", params={"user": i}).status_code for _ in range(5)]

    greenlets = [gevent.spawn(user, i) for i in range(50)]
    gevent.joinall(greenlets, timeout=20, raise_error=True)
    assert [g.value for g in greenlets] == [[200] * 5] * 50


def test_concurrent_greenlets_on_one_client_respect_pool_size(base_url: str) -> None:
    with Client(base_url, pool_size=2) as c:
        greenlets = [gevent.spawn(c.get, "/echo") for _ in range(10)]
        gevent.joinall(greenlets, timeout=10, raise_error=True)
        assert len({g.value.headers["x-connection-id"] for g in greenlets}) <= 2


# -- HTTPS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A TLS server with a self-signed certificate for 127.0.0.1, in a thread."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


def test_https_with_a_ca_bundle_and_keep_alive(tls_url: tuple[str, Path]) -> None:
    url, cert = tls_url
    with Client(url, verify=str(cert)) as c:
        ids = {c.get("/echo").headers["x-connection-id"] for _ in range(3)}
        assert len(ids) == 1
        assert c.post("/echo", json={"a": 1}).json()["body"] == '{"a":1}'


def test_https_verification(tls_url: tuple[str, Path]) -> None:
    url, _ = tls_url
    with Client(url, verify=False) as c:
        assert c.get("/status/200").text == "status 200"
    with Client(url) as c, pytest.raises(gturret.http.ConnectionError, match="CERTIFICATE_VERIFY"):
        c.get("/status/200")


# -- timers and the module-level API --------------------------------------------------


def test_name_records_into_the_transactions_custom_timers(base_url: str) -> None:
    transaction = Transaction()
    with Client(base_url, transaction=transaction) as c:
        c.get("/status/200", name="home")
        assert 0 < transaction.custom_timers["home"] < 5
        transaction.custom_timers = {}
        c.get("/echo", name="echo")
        assert list(transaction.custom_timers) == ["echo"]


def test_name_is_recorded_for_a_failed_request() -> None:
    transaction = Transaction()
    down = Client(f"http://127.0.0.1:{_closed_port()}", transaction=transaction)
    with down, pytest.raises(gturret.http.ConnectionError):
        down.get("/", name="down")
    assert "down" in transaction.custom_timers


def test_name_without_a_transaction_says_what_to_do(client: Client) -> None:
    with pytest.raises(ValueError, match=r"transaction=self"):
        client.get("/echo", name="x")


def test_module_level_functions(base_url: str) -> None:
    assert gturret.http.get(base_url + "/echo", params={"a": 1}).json()["path"] == "/echo?a=1"
    assert gturret.http.post(base_url + "/echo", json=[1]).json()["body"] == "[1]"
    assert gturret.http.request("DELETE", base_url + "/echo").json()["method"] == "DELETE"


@pytest.mark.parametrize("script", ["http_fast.py", "http_requests.py"])
def test_example_scripts_run_against_a_target(base_url: str, script: str) -> None:
    path = Path(__file__).resolve().parent.parent / "example_scripts" / script
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    transaction = module.Transaction({"target": base_url})
    for _ in range(2):
        transaction.custom_timers = {}
        transaction.setup()
        transaction.run()
        transaction.tear_down()
        assert sorted(transaction.custom_timers) == ["home", "order", "search"]


def test_public_surface_is_all() -> None:
    public = {n for n in vars(gturret.http) if not n.startswith("_")} - {"annotations"}
    assert public == set(gturret.http.__all__)


if __name__ == "__main__":
    _serve()
