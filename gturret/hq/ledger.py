"""Which numbered data messages the HQ holds, sender by sender: dedup, acks, gaps, losses.

Why it exists: a journaling turret numbers each data message it pushes (``sender``,
``seq``: docs/protocol.md, "Journal") and pushes again, on request, what the HQ has
not acknowledged; so the same message may arrive twice, and one may never arrive.
The ledger is the HQ's one account of that: a pair already held is a duplicate
(dropped, counted once); ``acked`` is, for each sender, the highest N with every
seq <= N held (what the ``journal`` command acknowledges); the turrets' own counters
(``seq_sent``, ``replay_dropped``, from their statuses' ``senders``) say what was sent,
so what is missing, and for how long, is known. It must never touch a socket, the
journal file or the statistics: the session asks it and acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Seconds a sender's ``seq_sent`` may stay ahead of what the HQ holds before the HQ
#: asks for a resend (a gap: lost with a dead HQ, or still in a kernel buffer).
GAP_S = 2.0


@dataclass(frozen=True, slots=True)
class SenderCounts:
    """What one sender says of itself in a status (docs/protocol.md, "Status counters")."""

    seq_sent: int
    replay_dropped: int
    replay_kept: int


@dataclass(slots=True)
class _Held:
    """One sender's seqs held: every one up to ``through``, and those in ``above``."""

    through: int = 0
    above: set[int] = field(default_factory=set)
    count: int = 0

    def add(self, seq: int) -> bool:
        """Hold ``seq``; False if it was held already."""
        if seq <= self.through or seq in self.above:
            return False
        self.count += 1
        if seq != self.through + 1:
            self.above.add(seq)
            return True
        self.through = seq
        while self.through + 1 in self.above:
            self.through += 1
            self.above.discard(self.through)
        return True


@dataclass(frozen=True, slots=True)
class SenderLoss:
    """A sender's messages the HQ never got: ``missing`` of ``sent``, ``dropped`` of
    them from its replay buffer (gone for good)."""

    sender: str
    sent: int
    missing: int
    dropped: int


class Ledger:
    """The seqs held and the counters reported, per sender."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}
        self._reported: dict[str, SenderCounts] = {}
        self._behind_since: dict[str, float] = {}
        self.duplicates = 0

    def take(self, sender: str, seq: int) -> bool:
        """True for a message not held yet (now held); False for a duplicate (counted)."""
        held = self._held.get(sender)
        if held is None:
            held = self._held[sender] = _Held()
        if held.add(seq):
            return True
        self.duplicates += 1
        return False

    def acked(self) -> dict[str, int]:
        """For each sender, the highest N with every seq <= N held."""
        return {sender: held.through for sender, held in self._held.items()}

    def report(self, senders: dict[str, SenderCounts], now: float) -> None:
        """Note what senders say they sent (a status's ``senders``), at ``now``."""
        for sender, counts in senders.items():
            self._reported[sender] = counts
            held = self._held.get(sender)
            if held is not None and held.through >= counts.seq_sent:
                self._behind_since.pop(sender, None)
            else:
                self._behind_since.setdefault(sender, now)

    def behind(self, now: float) -> bool:
        """True when a sender has been ahead of what the HQ holds for ``GAP_S`` or more."""
        return any(now - since >= GAP_S for since in self._behind_since.values())

    def missing(self) -> int:
        """Messages the senders say they sent that the HQ does not hold (now)."""
        return sum(loss.missing for loss in self.losses())

    def losses(self) -> list[SenderLoss]:
        """Each sender with messages it sent that the HQ never got, by sender."""
        losses = []
        for sender, counts in sorted(self._reported.items()):
            held = self._held.get(sender)
            got = 0
            if held is not None:
                got = min(held.through, counts.seq_sent)
                got += sum(1 for seq in held.above if seq <= counts.seq_sent)
            missing = max(0, counts.seq_sent - got)
            if missing:
                losses.append(SenderLoss(sender, counts.seq_sent, missing, counts.replay_dropped))
        return losses
