"""The bounded queue between the canons and the HQ link.

Why it exists: a canon must never wait on the network. Canons append finished
results here in O(1); one pusher drains it into the PUSH socket. When the HQ cannot
take results (gone, or slower than the canons), the queue fills to ``limit`` and
then new results are dropped — counted, never silently. Status messages bypass the
limit and go to the front: they are few, the HQ must see every change of state,
and an answer to ``status_request`` must not wait behind a backlog of results. This module must
never touch a socket or encode JSON (that is the link's job, off the canons' path).
"""

from __future__ import annotations

from collections import deque

from gturret.wire import ResultRecord


class IntervalFrame:
    """An encoded interval message and the transactions it accounts for."""

    __slots__ = ("count", "frame")

    def __init__(self, frame: bytes, count: int) -> None:
        self.frame = frame
        self.count = count


class Outbox:
    """Results (as records, or intervals of them) and statuses (encoded bytes), in order."""

    __slots__ = ("dropped", "items", "limit", "produced", "sent")

    def __init__(self, limit: int) -> None:
        self.items: deque[ResultRecord | bytes | IntervalFrame] = deque()
        self.limit = limit
        self.produced = 0
        self.sent = 0
        self.dropped = 0

    def put_result(self, record: ResultRecord) -> None:
        """Queue one finished transaction, or count it dropped if the outbox is full."""
        self.produced += 1
        if len(self.items) >= self.limit:
            self.dropped += 1
            return
        self.items.append(record)

    def put_interval(self, frame: bytes, count: int) -> None:
        """Queue one interval's message (``count`` transactions), or count them dropped."""
        self.produced += count
        if len(self.items) >= self.limit:
            self.dropped += count
            return
        self.items.append(IntervalFrame(frame, count))

    def put_status(self, frame: bytes) -> None:
        """Queue an encoded status message ahead of any results; never dropped."""
        self.items.appendleft(frame)

    @property
    def queued(self) -> int:
        return len(self.items)
