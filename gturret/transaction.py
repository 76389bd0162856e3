"""The scripting API a test script sees: ``Transaction`` and ``CustomTimer``.

Kept free of gevent, sockets and the rest of gturret, so that importing it is cheap
and safe before or after monkey-patching; OCT scripts reach the same classes through
``oct_turrets.base.BaseTransaction`` and ``oct_turrets.tools.CustomTimer``
(see :mod:`gturret.script`).
"""

from __future__ import annotations

from time import perf_counter
from types import TracebackType
from typing import Any


class Transaction:
    """Base class of a script's ``Transaction``: one instance per canon, reused each run.

    The canon calls ``setup()``, then times ``run()``, then calls ``tear_down()``, in a
    loop until the test stops. ``custom_timers`` is a fresh dict before each run.
    """

    def __init__(self, config: dict[str, Any] | None = None, context: Any = None) -> None:
        self.config: dict[str, Any] = config if config is not None else {}
        self.context: Any = context if context is not None else {}
        self.custom_timers: dict[str, float] = {}

    def setup(self) -> None:
        """Prepare one run; not timed."""

    def run(self) -> None:
        """The timed work of one transaction; an exception becomes the result's error."""

    def tear_down(self) -> None:
        """Clean up after one run; not timed."""

    def feed(self, name: str) -> dict[str, Any]:
        """The next row of the config's feeder ``name`` for this canon (docs/feeders.md).

        A CSV row is a dict of the header's names to strings; a JSON Lines row is the
        line's object. The canon gives each Transaction its feeders when it builds it
        (``_feeds``), so a script's own ``__init__`` need not call ours.
        """
        feeds = getattr(self, "_feeds", None)
        if feeds is None:
            raise LookupError(
                f"feed({name!r}): no feeders here (only canons of a turret have them)"
            )
        row: dict[str, Any] = feeds.take(name)
        return row


class CustomTimer:
    """Time a block into ``transaction.custom_timers[name]``, in seconds.

    A monotonic clock, so a wall-clock jump during a test never yields a negative or
    huge timing. The block's exception, if any, still propagates (the time is kept).
    """

    __slots__ = ("_started", "name", "transaction")

    def __init__(self, transaction: Any, name: str) -> None:
        if getattr(transaction, "custom_timers", None) is None:
            transaction.custom_timers = {}
        self.transaction = transaction
        self.name = name
        self._started = 0.0

    def __enter__(self) -> CustomTimer:
        self._started = perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.transaction.custom_timers[self.name] = perf_counter() - self._started
