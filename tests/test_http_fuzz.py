"""Fuzzing gturret.http's response parsing through a real socket.

Hypothesis generates response bytes: random bytes, responses built from plausible
and implausible parts (versions, statuses, framing headers, chunk sizes, codings),
and those cut short, with bytes flipped or inserted. The raw server
(``tests/support/raw_http_server.py``) writes them exactly, in pieces or whole,
and closes. Whatever comes, a request must end in a ``Response`` or a
``ConnectionError`` that is not a timeout: never a hang, never another exception.
Well-formed responses must come back exactly. ``GTURRET_FUZZ_RESPONSES`` sets the
examples per test (``make test-slow`` runs more).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from hypothesis import given

import gturret.http
from gturret.http import Client
from tests.support.http_responses import FUZZ, PIECES, RESPONSES, well_formed
from tests.support.raw_http_server import raw_http_server

# Every test reads its responses both ways: compiled and in Python (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("read_path")


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with raw_http_server() as url, Client(url, timeout=20.0) as c:
        yield c


def fetch(client: Client, data: bytes, split: int) -> gturret.http.Response:
    return client.get(f"/raw/{data.hex()}?after=close&split={split}")


@pytest.mark.fuzz
def test_any_response_bytes_end_in_a_response_or_a_connection_error(client: Client) -> None:
    outcomes = {"response": 0, "error": 0}

    @FUZZ
    @given(data=RESPONSES, split=PIECES)
    def exchange(data: bytes, split: int) -> None:
        try:
            response = fetch(client, data, split)
        except gturret.http.ConnectionError as exc:
            assert not isinstance(exc, gturret.http.Timeout), exc
            assert "/raw/" in str(exc)
            outcomes["error"] += 1
            return
        assert 100 <= response.status_code <= 999
        assert isinstance(dict(response.headers), dict)
        with contextlib.suppress(gturret.http.ContentDecodingError):
            assert isinstance(response.content, bytes)
        outcomes["response"] += 1

    exchange()
    print(f"\nfuzzed responses: {outcomes}")
    assert outcomes["response"] > 0 and outcomes["error"] > 0


@pytest.mark.fuzz
def test_well_formed_responses_come_back_exactly(client: Client) -> None:
    @FUZZ
    @given(made=well_formed(), split=PIECES)
    def exchange(made: tuple[bytes, int, list[tuple[str, str]], bytes], split: int) -> None:
        data, status, fields, body = made
        response = fetch(client, data, split)
        assert (response.status_code, response.raw_content) == (status, body)
        assert response.fields == [(n.encode(), v.encode("latin-1")) for n, v in fields]
        assert response.reason == "Reason"

    exchange()
