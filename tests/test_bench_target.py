"""The bench's nginx targets: what they must hold so that a row measures the client.

They run the real nginx (pinned to CPU 1, as in the bench) and read the kernel's own
view of its listening sockets with ``ss``.
"""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit

from bench.target import connections, nginx_h2


def _backlog(port: int) -> int:
    """The accept backlog the kernel gives the socket listening on ``port`` (``ss``
    shows it as the Send-Q of a listening socket)."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    return int(out[2])


def test_every_port_of_the_http2_target_takes_all_canons_connecting_at_once():
    """1,000 canons started at once connect at once: a port whose backlog is nginx's
    default (511) drops the rest of the SYNs, and those canons wait on SYN retries
    (1 s, 3 s...) through the bench's window, as its h2c and TLS rows did."""
    with open("/proc/sys/net/core/somaxconn") as capped:
        expected = min(connections(), int(capped.read()))
    with nginx_h2("1") as target:
        for url in (target.http, target.h2c, target.https):
            assert _backlog(urlsplit(url).port or 0) == expected, url
