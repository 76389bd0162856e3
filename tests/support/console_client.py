"""A client of the live console (``gturret-hq --web``) over real HTTP: its address
from the HQ's log, its JSON API, its event stream."""

from __future__ import annotations

import http.client
import json
import re
import time
from typing import Any

from tests.support.hq_process import HQProcess

CONSOLE = re.compile(r"console on http://([\d.]+):(\d+)/(?:#token=(\S+))?")
TIMEOUT_S = 30


def console_address(hq: HQProcess) -> tuple[str, int, str | None]:
    """Where the HQ serves its console, and the token it printed (None if none)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        match = CONSOLE.search(b"".join(hq.stderr).decode())
        if match:
            return match[1], int(match[2]), match[3]
        if hq.process.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"no console line: {b''.join(hq.stderr).decode()}")


class Console:
    """Requests to one console at ``host``:``port``, with ``token`` if given."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host, self.port, self.token = host, port, token

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request; its status and its JSON answer."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
        sent = {"Content-Type": "application/json"} if body is not None else {}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        sent.update(headers or {})
        try:
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw

    def post(self, action: str, body: Any, **headers: str) -> tuple[int, Any]:
        return self.request("POST", f"/api/{action}", body, headers)

    def state(self) -> dict[str, Any]:
        status, frame = self.request("GET", "/api/state")
        assert status == 200, frame
        state: dict[str, Any] = frame
        return state

    def wait(self, check: Any, what: str, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        """Poll the state until ``check(state)``; that state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if check(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout}s: {state['phase']}")
            time.sleep(0.1)

    def stream(self) -> http.client.HTTPResponse:
        """An open event stream (read its frames with ``next_frame``)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
        query = f"?token={self.token}" if self.token else ""
        connection.request("GET", f"/events{query}")
        response = connection.getresponse()
        assert response.status == 200, response.read()
        return response


def next_frame(stream: http.client.HTTPResponse) -> dict[str, Any]:
    """The next frame of an event stream (comments skipped)."""
    while True:
        line = stream.readline()
        assert line, "the event stream ended"
        if line.startswith(b"data: "):
            frame: dict[str, Any] = json.loads(line[6:])
            return frame
