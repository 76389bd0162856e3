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
- ``/redirect`` sends a 302 to ``/echo``; ``/login`` sets a cookie and redirects.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    gzip on;
    gzip_types *;
    gzip_min_length 0;
    types {{ text/html html; application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port};
        add_header X-Connection $connection always;
        location = / {{ return 200 "ok"; }}
        location = /echo {{
            return 200 "$request_method $request_uri $content_length $http_cookie";
        }}
        location /files/ {{ alias {root}/files/; etag on; }}
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


@contextmanager
def nginx_target() -> Iterator[str]:
    """Run nginx for the block; yield its base URL (no trailing slash)."""
    nginx = system_program("nginx", "make nginx")
    with tempfile.TemporaryDirectory(prefix="gturret-test-nginx-") as root:
        Path(root).chmod(0o755)  # nginx's workers may run as another user (nobody)
        files = Path(root) / "files"
        files.mkdir()
        (files / "big.bin").write_bytes(BIG)
        (files / "page.html").write_bytes(PAGE)
        (port,) = free_ports(1)
        conf = Path(root) / "nginx.conf"
        conf.write_text(_CONFIG.format(root=root, port=port, brief=BRIEF))
        with serving([str(nginx), "-p", root, "-c", str(conf)], port, timeout=15):
            yield f"http://127.0.0.1:{port}"
