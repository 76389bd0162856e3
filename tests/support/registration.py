"""Registering a turret as an HQ must: ask again until it answers, then let late answers in.

Shared by the fake HQ of the tests and the counting HQ of ``make bench``: a
``status_request`` published before the turret's subscription reaches the HQ is lost
(ZeroMQ's PUB drops it), so the HQ asks again every ``repeat`` seconds; requests
sent after the subscription may all be answered, so once one answer came it keeps
reading until the answers stop, so that no stale answer is later taken for the
answer to a later command (and every process of a ``--processes`` turret gets in).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def register(
    ask: Callable[[], None],
    listen: Callable[[float], bool],
    *,
    timeout: float,
    repeat: float = 0.2,
    quiet: float = 0.3,
    settle: float = 1.0,
    before_asking: Callable[[], None] = lambda: None,
) -> bool:
    """Ask until an answer comes; then listen until ``quiet`` seconds bring nothing
    (``settle`` seconds at most). False if no answer came within ``timeout``.

    ``listen(seconds)`` reads for up to ``seconds`` and returns True as soon as a
    status arrives. ``before_asking`` runs before each request (a check that the
    turret still lives, say).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before_asking()
        ask()
        if listen(repeat):
            settle_by = time.monotonic() + settle
            while time.monotonic() < settle_by and listen(quiet):
                pass
            return True
    return False
