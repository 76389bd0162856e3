"""gturret.requests_tuning: urllib3's pool queue under gevent, and the canon Session.

Monkey-patching cannot be undone, so every check that needs it runs in a fresh
interpreter; the test process itself stays unpatched.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import urllib3.connectionpool

from gturret.requests_tuning import new_session, patch_urllib3_pool_queue
from tests.support.listening import in_thread


def _in_patched_interpreter(patch_call: str) -> str:
    code = textwrap.dedent(
        f"""
        from gevent import monkey
        {patch_call}
        import gevent, requests
        from gturret.requests_tuning import patch_urllib3_pool_queue
        applied = patch_urllib3_pool_queue()
        session = requests.Session()
        pool = session.get_adapter("http://127.0.0.1/").poolmanager.connection_from_url(
            "http://127.0.0.1:1/"
        )
        print(applied, type(pool.pool).__module__.split(".")[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip()


def test_nothing_to_do_when_gevent_already_patches_the_queue() -> None:
    assert _in_patched_interpreter("monkey.patch_all()") == "False gevent"


def test_pools_get_a_gevent_queue_when_gevent_left_the_queue_alone() -> None:
    assert _in_patched_interpreter("monkey.patch_all(queue=False)") == "True gevent"


def test_nothing_is_patched_without_gevent() -> None:
    before = urllib3.connectionpool.ConnectionPool.QueueCls
    assert patch_urllib3_pool_queue() is False
    assert urllib3.connectionpool.ConnectionPool.QueueCls is before


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    with in_thread(server):
        yield f"http://127.0.0.1:{server.server_address[1]}/"


def test_new_session_keeps_connections_and_skips_the_environment(target: str) -> None:
    session = new_session(pool_maxsize=3)
    assert isinstance(session, requests.Session)
    assert session.trust_env is False
    assert new_session(trust_env=True).trust_env is True
    adapter = session.get_adapter(target)
    assert adapter._pool_maxsize == 3  # type: ignore[attr-defined]
    assert [session.get(target).text for _ in range(3)] == ["ok"] * 3
    pools = adapter.poolmanager.pools  # type: ignore[attr-defined]
    # RecentlyUsedContainer refuses plain iteration; keys() is its way.
    assert [pools[key].num_connections for key in pools.keys()] == [1]  # noqa: SIM118
