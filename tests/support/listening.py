"""Wait for a server we started to accept connections: for the tests and the bench.

Kept free of pytest, so the bench (its own venv) imports it too.
"""

from __future__ import annotations

import socket
import subprocess
import time


def wait_listening(
    port: int, process: subprocess.Popen[bytes], timeout: float, name: str = "nginx"
) -> None:
    """Return once 127.0.0.1:``port`` accepts a connection; RuntimeError if ``process``
    exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {timeout} s")
