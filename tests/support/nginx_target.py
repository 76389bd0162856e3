"""nginx on 127.0.0.1 for the HTTP client's tests: a real server's framing, not ours.

Debian's ``nginx`` package (``make nginx`` installs it; ``make test`` does so
first). Its config and files live in a temporary folder, never in /etc; it listens
on an ephemeral 127.0.0.1 port, and only the process started here is stopped.
Every response names its connection (``X-Connection``, nginx's serial number for
it), so keep-alive reuse is seen. The locations:

- ``/`` answers "ok"; ``/echo`` the method, URI, Content-Length and Cookie it got;
- ``/files/`` serves ``big.bin`` (``BIG`` bytes) and ``page.html`` (``PAGE``), gzipped
  (so chunked) when asked, with ETags for 304s;
- ``/empty`` answers 204; ``/close`` closes after answering (``keepalive_timeout 0``);
  ``/brief`` closes its connection after ``BRIEF`` of idleness;
- ``/redirect`` sends a 302 to ``/echo``; ``/login`` sets a cookie and redirects;
- ``/slow/`` serves ``/files/`` at 2 MB/s (a response still underway when nginx reloads).

``nginx_h2_target`` runs the same server on four ports: HTTP/1.1, HTTP/2 over TLS
(ALPN offers h2 and http/1.1), h2c (HTTP/2 with prior knowledge) and TLS without
HTTP/2, with a certificate for 127.0.0.1 made by ``openssl`` for the run.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.listening import serving
from tests.support.peers import free_ports, system_program

BIG = bytes(range(256)) * (8 * 1024 * 4) + b"tail"
PAGE = b"<html><body>" + b"<p>gturret squeezes well</p>" * 2000 + b"</body></html>"
BRIEF = "200ms"

_CONFIG = """\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_timeout 65;
    keepalive_requests 100000;
    client_body_temp_path {root}/body;
    client_max_body_size 16m;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    gzip on;
    gzip_types *;
    gzip_min_length 0;
    types {{ text/html html; application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port};{listens}
        add_header X-Connection $connection always;
        location = / {{ return 200 "ok"; }}
        location = /echo {{
            return 200 "$request_method $request_uri $content_length $http_cookie";
        }}
        location /files/ {{ alias {root}/files/; etag on; }}
        location /slow/ {{ alias {root}/files/; limit_rate 2m; }}
        location = /empty {{ return 204; }}
        location = /close {{ keepalive_timeout 0; return 200 "closing"; }}
        location = /brief {{ keepalive_timeout {brief}; return 200 "brief"; }}
        location = /redirect {{ return 302 /echo; }}
        location = /login {{
            add_header X-Connection $connection always;
            add_header Set-Cookie "session=n1; Path=/; HttpOnly" always;
            return 302 /echo;
        }}
    }}
}}
"""


_HTTP2_LISTENS = """
        listen 127.0.0.1:{https} ssl http2;
        listen 127.0.0.1:{h2c} http2;
        listen 127.0.0.1:{tls_http1} ssl;
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        http2_max_concurrent_streams 128;"""


@dataclass(frozen=True)
class H2Target:
    """The base URLs of nginx's ports, the certificate to verify TLS with, and its process."""

    http: str
    https: str
    h2c: str
    tls_http1: str
    ca: str
    process: subprocess.Popen[bytes]

    def reload(self) -> None:
        """Make nginx reload (SIGHUP): its old worker says GOAWAY on every HTTP/2 connection."""
        self.process.send_signal(signal.SIGHUP)


@contextmanager
def nginx_target() -> Iterator[str]:
    """Run nginx for the block; yield its base URL (no trailing slash)."""
    with _nginx(http2=False) as target:
        yield target.http


@contextmanager
def nginx_h2_target() -> Iterator[H2Target]:
    """Run nginx for the block on an HTTP/1.1, an HTTP/2 over TLS, an h2c and a TLS
    HTTP/1.1 port."""
    with _nginx(http2=True) as target:
        yield target


@contextmanager
def _nginx(http2: bool) -> Iterator[H2Target]:
    nginx = system_program("nginx", "make nginx")
    with tempfile.TemporaryDirectory(prefix="gturret-test-nginx-") as root:
        Path(root).chmod(0o755)  # nginx's workers may run as another user (nobody)
        files = Path(root) / "files"
        files.mkdir()
        (files / "big.bin").write_bytes(BIG)
        (files / "page.html").write_bytes(PAGE)
        port, https, h2c, tls_http1 = free_ports(4)
        listens = ""
        if http2:
            _make_certificate(Path(root))
            listens = _HTTP2_LISTENS.format(root=root, https=https, h2c=h2c, tls_http1=tls_http1)
        conf = Path(root) / "nginx.conf"
        conf.write_text(_CONFIG.format(root=root, port=port, brief=BRIEF, listens=listens))
        with serving([str(nginx), "-p", root, "-c", str(conf)], port, timeout=15) as process:
            yield H2Target(
                f"http://127.0.0.1:{port}",
                f"https://127.0.0.1:{https}",
                f"http://127.0.0.1:{h2c}",
                f"https://127.0.0.1:{tls_http1}",
                f"{root}/cert.pem",
                process,
            )


def _make_certificate(root: Path) -> None:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    openssl = system_program("openssl", "apt-get install openssl")
    subprocess.run(
        [str(openssl), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
