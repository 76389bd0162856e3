"""Start a server, wait until it accepts connections, stop it: for the tests and the bench.

Kept free of pytest, so the bench (its own venv) imports it too.
"""

from __future__ import annotations

import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def serving(
    command: list[str], port: int, timeout: float, name: str = "nginx"
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` for the block, once it listens on 127.0.0.1:``port``; then
    terminate it (killed if it has not exited 10 s later)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, process, timeout, name)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


@contextmanager
def in_thread(server: socketserver.BaseServer) -> Iterator[None]:
    """Serve ``server`` (already listening) from a thread for the block; then stop it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
