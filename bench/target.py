"""The HTTP target every HTTP row fires at: one nginx worker on 127.0.0.1.

nginx answers a tiny fixed body with no access log and long keep-alive, so the
target costs as little as possible and every load generator meets the same server.
It must hold the "many" scenario's 10,000 concurrent keep-alive connections: its
worker takes as many connections and open files as the hard open-files limit allows
(held to 4,096 it closes idle keep-alive connections to make room for new ones, so
clients would keep reconnecting), and its listen backlog asks for as much (the kernel
caps it at ``net.core.somaxconn``).

A second location answers after a fixed delay (``DELAYED_PATH``, ``DELAY`` seconds) for
rows that measure the latency a client adds on top of a server's own: nginx's echo
module (Debian ``libnginx-mod-http-echo``) waits on a timer of nginx's event loop,
so the worker stays free while a thousand requests wait at once. The module is
looked for where this nginx loads modules from; without it that location is left out.

``nginx_h2`` runs a second nginx of the same config for the http2 rows, listening
three ways: HTTP/1.1, h2c (HTTP/2 with prior knowledge) and HTTP/2 over TLS (ALPN),
with a certificate ``openssl`` makes for the run; so the rows of both protocols meet
the same server in the same run.

Its config lives in a temporary folder, never in /etc, and only the process started
here is ever stopped.
"""

from __future__ import annotations

import re
import resource
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.listening import serving

_CONFIG = """\
{load_module}worker_processes 1;
worker_rlimit_nofile {connections};
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_timeout 65;
    keepalive_requests 100000000;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog={connections};
        location / {{ return 200 "ok"; }}
{delayed_location}    }}
}}
"""

#: The location that answers after DELAY seconds, and that delay.
DELAYED_PATH = "/delayed"
DELAY = 0.02
_DELAYED_LOCATION = """\
        location = {path} {{ echo_sleep {delay:g}; echo ok; }}
"""
_ECHO_MODULE = "ngx_http_echo_module.so"
_MODULES_PATH = re.compile(r"--modules-path=(\S+)")
# Where Debian's nginx looks when `nginx -V` names no modules path.
_DEFAULT_MODULES = Path("/usr/lib/nginx/modules")

# Enough for the largest row (10,000 connections) with room to spare; more would only
# cost nginx memory for connection slots no row uses.
_MOST_CONNECTIONS = 32_768


def connections() -> int:
    """Connections (and open files) the nginx worker may hold: the hard limit, capped.

    nginx inherits this process's limits; ``worker_rlimit_nofile`` raises its soft
    limit, which only root could take above the hard one.
    """
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return _MOST_CONNECTIONS if hard == resource.RLIM_INFINITY else min(hard, _MOST_CONNECTIONS)


def echo_module() -> Path | None:
    """The echo module's .so in the modules folder ``nginx -V`` names, if installed there."""
    built = subprocess.run(["nginx", "-V"], capture_output=True, text=True, timeout=30)
    named = _MODULES_PATH.search(built.stderr + built.stdout)
    module = (Path(named.group(1)) if named else _DEFAULT_MODULES) / _ECHO_MODULE
    return module if module.is_file() else None


def _config(root: str, port: int) -> str:
    """nginx.conf, with the delayed location when the echo module is there to load."""
    module = echo_module()
    return _CONFIG.format(
        root=root,
        port=port,
        connections=connections(),
        load_module=f"load_module {module};\n" if module else "",
        delayed_location=_DELAYED_LOCATION.format(path=DELAYED_PATH, delay=DELAY) if module else "",
    )


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class H2Target:
    """The http2 rows' nginx: its HTTP/1.1, h2c and HTTP/2-over-TLS base URLs, and the
    certificate to verify TLS with."""

    http: str
    h2c: str
    https: str
    ca: str


@contextmanager
def nginx_h2(cpu: str) -> Iterator[H2Target]:
    """Run the http2 rows' nginx pinned to ``cpu`` for the duration of the block."""
    with tempfile.TemporaryDirectory(prefix="gturret-bench-nginx-h2-") as root:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", f"{root}/key.pem", "-out", f"{root}/cert.pem"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        port, h2c, https = free_port(), free_port(), free_port()
        backlog = f"backlog={connections()}"
        listen = f"listen 127.0.0.1:{port} {backlog};"
        more = (  # every port's backlog takes all the canons' connects at once
            f"{listen}\n        listen 127.0.0.1:{h2c} http2 {backlog};\n"
            f"        listen 127.0.0.1:{https} ssl http2 {backlog};\n"
            f"        ssl_certificate {root}/cert.pem;\n"
            f"        ssl_certificate_key {root}/key.pem;"
        )
        conf = Path(root) / "nginx.conf"
        conf.write_text(_config(root, port).replace(listen, more))
        command = ["taskset", "-c", cpu, "nginx", "-p", root, "-c", str(conf)]
        with serving(command, port, timeout=10):
            yield H2Target(
                f"http://127.0.0.1:{port}/",
                f"http://127.0.0.1:{h2c}/",
                f"https://127.0.0.1:{https}/",
                f"{root}/cert.pem",
            )


@contextmanager
def nginx(cpu: str) -> Iterator[str]:
    """Run nginx pinned to ``cpu`` for the duration of the block; yield its URL."""
    with tempfile.TemporaryDirectory(prefix="gturret-bench-nginx-") as root:
        port = free_port()
        conf = Path(root) / "nginx.conf"
        conf.write_text(_config(root, port))
        command = ["taskset", "-c", cpu, "nginx", "-p", root, "-c", str(conf)]
        with serving(command, port, timeout=10):
            yield f"http://127.0.0.1:{port}/"
