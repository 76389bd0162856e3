"""The demo HTTP target (``example_scripts/target.py``) in its own process, for the tests.

gevent's WSGI server on 127.0.0.1, an ephemeral port, thousands of keep-alive
connections at once; killed when the block ends.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "example_scripts"


@contextmanager
def demo_target(*args: str) -> Iterator[int]:
    """Start the target (``args``: its options, e.g. a stall); yield its port."""
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "target.py"), "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline())
    finally:
        server.kill()
        server.wait()
