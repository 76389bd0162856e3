"""The ledger of numbered data messages: duplicates, acks, gaps and losses, per sender."""

from __future__ import annotations

from gturret.hq.ledger import GAP_S, Ledger, SenderCounts, SenderLoss


def test_a_pair_held_already_is_a_duplicate_counted_once():
    ledger = Ledger()
    assert ledger.take("a", 1) and ledger.take("a", 2)
    assert not ledger.take("a", 1)
    assert not ledger.take("a", 2)
    assert ledger.take("b", 1)
    assert ledger.duplicates == 2


def test_acked_is_the_highest_seq_with_every_one_below_held():
    ledger = Ledger()
    for seq in (1, 2, 4, 5):
        ledger.take("a", seq)
    assert ledger.acked() == {"a": 2}
    ledger.take("a", 3)
    assert ledger.acked() == {"a": 5}
    assert not ledger.take("a", 4)


def test_a_sender_ahead_for_the_gap_time_is_behind():
    ledger = Ledger()
    ledger.take("a", 1)
    ledger.report({"a": SenderCounts(seq_sent=3, replay_dropped=0, replay_kept=2)}, now=10.0)
    assert not ledger.behind(10.0 + GAP_S / 2)
    assert ledger.behind(10.0 + GAP_S)
    ledger.take("a", 2), ledger.take("a", 3)
    ledger.report({"a": SenderCounts(seq_sent=3, replay_dropped=0, replay_kept=0)}, now=13.0)
    assert not ledger.behind(20.0)


def test_losses_name_each_sender_with_what_never_arrived():
    ledger = Ledger()
    for seq in (1, 2, 5):
        ledger.take("a", seq)
    ledger.take("b", 1)
    ledger.report(
        {
            "a": SenderCounts(seq_sent=6, replay_dropped=2, replay_kept=0),
            "b": SenderCounts(seq_sent=1, replay_dropped=0, replay_kept=0),
            "c": SenderCounts(seq_sent=2, replay_dropped=0, replay_kept=2),
        },
        now=0.0,
    )
    assert ledger.losses() == [SenderLoss("a", 6, 3, 2), SenderLoss("c", 2, 2, 0)]
    assert ledger.missing() == 5


def test_a_status_older_than_the_data_counts_nothing_missing():
    ledger = Ledger()
    for seq in (1, 2, 3):
        ledger.take("a", seq)
    ledger.report({"a": SenderCounts(seq_sent=2, replay_dropped=0, replay_kept=0)}, now=0.0)
    assert ledger.losses() == []
