"""Wait on a condition with a deadline, never a fixed sleep.

The machine the suite runs on is shared and loaded: a fixed sleep is either too short
there (a flaky test) or too long everywhere else (a slow one). Polling until the
condition holds is as fast as the system under test and only fails at a deadline
that is generous, naming what it waited for so the failure reads as a sentence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT_S = 30.0
POLL_S = 0.02


def wait_until(
    condition: Callable[[], T],
    what: str,
    timeout: float = TIMEOUT_S,
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """Poll ``condition()`` until its value is true; that value. At the deadline an
    AssertionError names ``what`` and the last value seen. ``pause`` is how to wait
    between polls: ``gevent.sleep`` where greenlets of the test must run meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        pause(POLL_S)
