"""The replay buffer: every data message pushed to a journaling HQ, kept until acknowledged.

Why it exists: ZeroMQ loses what it holds for an HQ that dies (its send queue, the
kernel's buffers, the HQ's own receive queue), and an HQ that dies loses what it had
read but not committed. So while the HQ journals (the handshake's ``"journal"``),
each data message (an interval, or a result in per-result mode) goes out numbered
(its ``sender`` and ``seq``: docs/protocol.md, "Journal") and its exact bytes stay
here until a ``journal`` command acknowledges them; a resumed HQ asks for the rest
and gets the same bytes again, oldest first.

Keeping must cost the hot path one append: the link numbers each message as ZeroMQ
takes it and hands over the batch of one drain at once; the seqs of the kept
messages are always consecutive (kept in order, dropped from the oldest end), so
only the frames are stored and the seq of each is known from its place. Bounded by
``replay_buffer_mb``: past it the oldest go, counted (``replay_dropped``) and logged
once, lost for good.
It must never touch a socket: the link sends what it numbers and what it replays.
"""

from __future__ import annotations

import logging
from collections import deque
from itertools import islice

from gturret import wire

log = logging.getLogger(__name__)

#: Bytes a kept frame costs beyond its own length (a bytes object's header, its slot
#: in the deque), so that ``replay_buffer_mb`` bounds the memory held, not just the
#: JSON: it matters for results of ~150 bytes, not for intervals of kilobytes.
FRAME_OVERHEAD = 41
MB = 1_000_000


class ReplayBuffer:
    """One sender's numbered data messages, from the oldest not yet acknowledged."""

    __slots__ = ("dropped", "frames", "limit", "sender", "seq_sent", "size", "tail")

    def __init__(self, sender: str, limit_mb: float) -> None:
        self.sender = sender
        self.tail = wire.journal_tail(sender)
        self.frames: deque[bytes] = deque()
        #: The highest seq pushed (0 before the first); never reused by this process.
        self.seq_sent = 0
        self.size = 0
        self.limit = int(limit_mb * MB)
        self.dropped = 0

    def keep(self, frames: list[bytes]) -> None:
        """Keep frames ZeroMQ took, numbered ``seq_sent + 1`` on (``wire.numbered`` with
        ``tail``): one call per drain of the outbox, not per message."""
        self.seq_sent += len(frames)
        self.frames.extend(frames)
        self.size += sum(map(len, frames)) + FRAME_OVERHEAD * len(frames)
        if self.size > self.limit:
            self._drop_oldest()

    @property
    def kept(self) -> int:
        return len(self.frames)

    @property
    def first(self) -> int:
        """The seq of the oldest kept frame (``seq_sent + 1`` when none is kept)."""
        return self.seq_sent - len(self.frames) + 1

    def ack(self, seq: int) -> None:
        """The HQ holds every seq <= ``seq``: let them go."""
        frames = self.frames
        for _ in range(min(len(frames), seq - self.first + 1)):
            self.size -= len(frames.popleft()) + FRAME_OVERHEAD

    def after(self, seq: int) -> list[bytes]:
        """Every kept frame above ``seq``, oldest first: what a resend pushes again."""
        return list(islice(self.frames, max(0, seq - self.first + 1), None))

    def counters(self) -> dict[str, int]:
        """This sender's entry of the status's ``senders`` map."""
        return {"seq_sent": self.seq_sent, "replay_dropped": self.dropped, "replay_kept": self.kept}

    def _drop_oldest(self) -> None:
        frames = self.frames
        if not self.dropped:
            log.warning(
                "replay buffer full (replay_buffer_mb %g): dropping the oldest data messages"
                " the HQ has not acknowledged, from seq %d; they are lost for good if the HQ"
                " asks for them (counted in replay_dropped; further drops are not logged)",
                self.limit / MB,
                self.first,
            )
        while self.size > self.limit and frames:
            self.size -= len(frames.popleft()) + FRAME_OVERHEAD
            self.dropped += 1
