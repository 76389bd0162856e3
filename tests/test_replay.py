"""The journal on the turret's side: numbered data messages, acknowledgements, replay.

The buffer alone first (its seqs, its bound), then real ``gturret`` processes and a
fake HQ on real sockets: numbering, acks, a resend after the HQ died and came back
on the same ports, the bound, a fleet, bad ``journal`` commands, and a turret never
asked for ``journal`` sending exactly what it sent before.
"""

from __future__ import annotations

import json
import time

import pytest

from gturret import wire
from gturret.config import load_config
from gturret.link import Link
from gturret.outbox import Outbox
from gturret.replay import FRAME_OVERHEAD, MB, ReplayBuffer
from tests.support.fake_hq import FakeHQ
from tests.support.turret_process import write_turret
from tests.support.waiting import wait_until

AGGREGATED = (wire.WANT_COUNTERS, wire.WANT_AGGREGATE, wire.WANT_JOURNAL)
PER_RESULT = (wire.WANT_COUNTERS, wire.WANT_JOURNAL)

NAP = """
    import time
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            time.sleep(0.01)
"""


def _kept(buffer: ReplayBuffer, *frames: bytes) -> list[bytes]:
    """Number ``frames`` as the link does and hand them over in one batch."""
    first = buffer.seq_sent + 1
    numbered = [wire.numbered(frame, buffer.tail, first + n) for n, frame in enumerate(frames)]
    buffer.keep(numbered)
    return numbered


def test_a_buffer_numbers_from_one_and_splices_sender_and_seq_onto_the_message():
    buffer = ReplayBuffer("t-1", 64)
    first, second = _kept(buffer, b'{"a":1}', b'{"a":2}')
    assert json.loads(first) == {"a": 1, "sender": "t-1", "seq": 1}
    assert json.loads(second) == {"a": 2, "sender": "t-1", "seq": 2}
    assert buffer.counters() == {"seq_sent": 2, "replay_dropped": 0, "replay_kept": 2}


def test_an_ack_lets_go_of_every_seq_up_to_it_and_a_resend_gives_the_rest_oldest_first():
    buffer = ReplayBuffer("t", 64)
    frames = _kept(buffer, *(b'{"n":%d}' % n for n in range(1, 6)))
    assert buffer.after(0) == frames
    buffer.ack(3)
    assert buffer.kept == 2 and buffer.after(0) == frames[3:] and buffer.after(4) == frames[4:]
    buffer.ack(2)
    buffer.ack(99)
    assert buffer.kept == 0 and buffer.size == 0 and buffer.after(0) == []
    assert _kept(buffer, b'{"n":6}') == [b'{"n":6,"sender":"t","seq":6}']


def test_past_its_bound_the_oldest_go_and_are_counted(caplog):
    frame = b'{"x":"' + b"y" * 200 + b'"}'
    size = len(frame) + len(b',"sender":"t","seq":10}') - 1 + FRAME_OVERHEAD
    buffer = ReplayBuffer("t", 3 * size / MB)
    frames = [_kept(buffer, frame)[0] for _ in range(10)]
    assert buffer.counters() == {"seq_sent": 10, "replay_dropped": 7, "replay_kept": 3}
    assert buffer.after(0) == frames[7:] and buffer.first == 8
    assert sum("replay buffer full" in r.message for r in caplog.records) == 1


def test_a_message_zeromq_refuses_keeps_its_seq_for_the_next_drain(tmp_path):
    """With no HQ connected ZeroMQ takes nothing (IMMEDIATE): nothing is numbered for
    good, so the HQ that comes gets seq 1, 2, 3, with no gap for the refusals."""
    gone = FakeHQ()
    ports = (gone.pub_port, gone.rc_port)
    gone.close()
    config = load_config(str(write_turret(tmp_path, NAP, ports)))
    outbox = Outbox(100)
    link = Link(config, "t-1", outbox)
    try:
        link.journal(True)
        for n in range(3):
            outbox.put_result((n, 0.0, 0.001, "", {}))
        assert not link.drain() and not link.drain()
        assert link.replay.seq_sent == 0 and outbox.queued == 3
        with FakeHQ(*ports, wants=PER_RESULT) as hq:
            wait_until(link.drain, "the outbox drained into the new HQ")
            hq.collect_until(lambda hq: len(hq.results) == 3, "three results")
    finally:
        link.close(0)
    assert hq.seqs("t-1") == [1, 2, 3] and [m["elapsed"] for m in hq.results] == [0, 1, 2]
    assert link.replay.counters() == {"seq_sent": 3, "replay_dropped": 0, "replay_kept": 3}


def _journaled(hq: FakeHQ) -> list[dict]:
    return [message for message in hq.results if wire.SEQ in message]


def _fire(hq: FakeHQ, seconds: float) -> dict:
    """A test of ``seconds``: its ``ready``; everything sent before it is filed."""
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect(seconds)
    hq.send("stop", "premature stop")
    return hq.wait_status("ready")


@pytest.mark.parametrize("wants", [AGGREGATED, PER_RESULT], ids=["aggregated", "per-result"])
def test_data_messages_are_numbered_from_one_without_a_gap_across_tests(
    spawn_turret, tmp_path, wants
):
    with FakeHQ(wants=wants) as hq:
        spawn_turret(str(write_turret(tmp_path, NAP, hq, canons=5)))
        uuid = hq.register()["uuid"]
        first = _fire(hq, 1.2)
        second = _fire(hq, 1.2)
    data = _journaled(hq)
    assert data and len(data) == len(hq.results)
    assert hq.senders() == {uuid}
    assert hq.seqs(uuid) == list(range(1, len(data) + 1))
    assert second["seq_sent"] == len(data)
    assert second["senders"] == {uuid: {key: second[key] for key in first["senders"][uuid]}}
    assert second["replay_kept"] == len(data) and second["replay_dropped"] == 0


def test_an_ack_empties_the_buffer_as_far_as_it_goes(spawn_turret, tmp_path):
    with FakeHQ(wants=AGGREGATED) as hq:
        spawn_turret(str(write_turret(tmp_path, NAP, hq, canons=5)))
        uuid = hq.register()["uuid"]
        ready = _fire(hq, 2.2)
        sent = ready["seq_sent"]
        assert ready["replay_kept"] == sent >= 3
        hq.send_journal({uuid: sent - 1, "someone-else": 5})
        hq.send("status_request")
        assert hq.wait_status("ready")["replay_kept"] == 1
        hq.send_journal({uuid: sent})
        hq.send("status_request")
        status = hq.wait_status("ready")
    assert status["replay_kept"] == 0 and status["seq_sent"] == sent


def test_a_resend_after_the_hq_died_brings_every_seq_back(spawn_turret, tmp_path):
    """The HQ dies mid-test having read, not read, or never been sent some messages;
    a new HQ on the same ports asks for everything above what it holds (nothing):
    every seq from 1 to the last arrives, none missing."""
    first = FakeHQ(wants=AGGREGATED)
    ports = (first.pub_port, first.rc_port)
    spawn_turret(str(write_turret(tmp_path, NAP, first, canons=5)))
    uuid = first.register()["uuid"]
    first.send("start", "open fire")
    first.wait_status("running")
    first.collect_until(lambda hq: len(hq.seqs()) >= 2, "two intervals")
    first.close()  # everything it read, and what ZeroMQ held for it, is gone
    time.sleep(1.5)  # the turret fires on, HQ-less, for an interval or two
    with FakeHQ(*ports, wants=AGGREGATED) as second:
        second.register()
        second.send("stop", "premature stop")
        ready = second.wait_status("ready")
        sent = ready["seq_sent"]
        second.send_journal({}, resend=True)
        second.collect_until(
            lambda hq: set(hq.seqs(uuid)) >= set(range(1, sent + 1)), "every seq again"
        )
    assert sent >= 3 and ready["replay_dropped"] == 0
    assert set(second.seqs(uuid)) == set(range(1, sent + 1))


def test_past_replay_buffer_mb_the_oldest_are_dropped_counted_and_not_resent(
    spawn_turret, tmp_path
):
    """A buffer of 2 KB holds a few intervals (about 600 bytes each): the rest go,
    counted, logged once; a resend gives back only what is kept, the newest."""
    with FakeHQ(wants=AGGREGATED) as hq:
        turret = spawn_turret(
            str(write_turret(tmp_path, NAP, hq, canons=5, replay_buffer_mb=0.002))
        )
        uuid = hq.register()["uuid"]
        hq.send("start", "open fire")
        hq.wait_status("running")
        hq.collect_until(lambda hq: len(hq.seqs()) >= 8, "eight intervals")
        hq.send("stop", "premature stop")
        ready = hq.wait_status("ready")
        sent, kept = ready["seq_sent"], ready["replay_kept"]
        before = len(hq.results)
        hq.send_journal({uuid: 0}, resend=True)
        hq.collect_until(lambda hq: len(hq.results) >= before + kept, "the kept intervals again")
    assert ready["replay_dropped"] == sent - kept and 1 <= kept <= sent - 3
    assert sum(len(raw) for raw in hq.raw[-kept:]) <= 2000
    assert hq.seqs(uuid)[before:] == list(range(sent - kept + 1, sent + 1))
    assert turret.log.count("replay buffer full") == 1


def test_a_fleet_numbers_each_workers_data_and_reports_every_sender(spawn_turret, tmp_path):
    """Two workers push their own intervals, each numbered from 1 under its own uuid;
    the parent's status carries both in ``senders``; one broadcast ack reaches both."""
    with FakeHQ(wants=AGGREGATED) as hq:
        spawn_turret(str(write_turret(tmp_path, NAP, hq, canons=4)), "--processes", "2")
        uuid = hq.register(timeout=30)["uuid"]
        ready = _fire(hq, 2.2)
        workers = {f"{uuid}/0", f"{uuid}/1"}
        assert hq.senders() == workers == set(ready["senders"])
        for worker in workers:
            seqs = hq.seqs(worker)
            assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 2
            assert ready["senders"][worker] == {
                "seq_sent": len(seqs),
                "replay_dropped": 0,
                "replay_kept": len(seqs),
            }
        assert ready["seq_sent"] == ready["replay_kept"] == len(hq.seqs())
        hq.send_journal({worker: len(hq.seqs(worker)) for worker in workers})
        hq.send("status_request")
        after = hq.wait_status("ready")
    assert after["replay_kept"] == 0
    assert {entry["replay_kept"] for entry in after["senders"].values()} == {0}


@pytest.mark.parametrize("processes", [1, 2], ids=["turret", "fleet"])
def test_bad_journal_commands_are_counted_and_ignored(spawn_turret, tmp_path, processes):
    bad = [
        None,
        "ack everything",
        [],
        {"resend": True},
        {"acked": [], "resend": False},
        {"acked": {"x": -1}, "resend": False},
        {"acked": {"x": 1.5}, "resend": False},
        {"acked": {"x": True}, "resend": False},
        {"acked": {"x": "3"}, "resend": False},
        {"acked": {}},
        {"acked": {}, "resend": "yes"},
        {"acked": {}, "resend": 1},
    ]
    with FakeHQ(wants=AGGREGATED) as hq:
        turret = spawn_turret(
            str(write_turret(tmp_path, NAP, hq, canons=4)), "--processes", str(processes)
        )
        uuid = hq.register(timeout=30)["uuid"]
        hq.send("start", "open fire")
        hq.wait_status("running")
        hq.collect_until(lambda hq: hq.seqs(), "a first interval")
        for msg in bad:
            hq.send("journal", msg)
        # Nothing above was an ack: a bad one taken in part would have dropped data.
        hq.send("status_request")
        status = hq.wait_status("running")
        hq.send("stop", "premature stop")
        ready = hq.wait_status("ready")
    assert status["frames_ignored"] == len(bad)
    assert ready["replay_kept"] == ready["seq_sent"] == len(hq.seqs()) >= 2
    assert turret.proc.poll() is None and "bad journal command ignored" in turret.log
    assert uuid


def test_a_status_request_without_journal_stops_the_numbers_and_one_with_it_goes_on(
    spawn_turret, tmp_path
):
    """Each status_request re-states what the HQ wants: an HQ that does not journal
    gets plain messages; the next that does gets the seqs on from where they were."""
    with FakeHQ(wants=AGGREGATED) as hq:
        spawn_turret(str(write_turret(tmp_path, NAP, hq, canons=5)))
        uuid = hq.register()["uuid"]
        first = _fire(hq, 1.2)["seq_sent"]
        hq.wants = (wire.WANT_COUNTERS, wire.WANT_AGGREGATE)
        hq.send("status_request")
        hq.wait_status("ready")
        numbered = len(hq.results)
        _fire(hq, 1.2)
        plain = hq.results[numbered:]
        hq.wants = AGGREGATED
        hq.send("status_request")
        hq.wait_status("ready")
        last = _fire(hq, 1.2)
    assert plain and not any(wire.SEQ in message for message in plain)
    assert hq.seqs(uuid) == list(range(1, last["seq_sent"] + 1))
    assert last["seq_sent"] > first >= 1


@pytest.mark.parametrize(
    "wants",
    [(wire.WANT_COUNTERS, wire.WANT_AGGREGATE), (wire.WANT_COUNTERS,), ()],
    ids=["aggregated", "per-result", "reference"],
)
def test_without_journal_in_want_the_messages_are_as_before(spawn_turret, tmp_path, wants):
    """No sender, no seq, no journal counters: a result is byte for byte what the
    codec makes of its six keys, and an interval has exactly its keys."""
    with FakeHQ(wants=wants, asks_counters=bool(wants)) as hq:
        spawn_turret(str(write_turret(tmp_path, NAP, hq, canons=5)))
        hq.register()
        ready = _fire(hq, 1.2)
    assert hq.results and not hq.seqs()
    assert not {"seq_sent", "replay_kept", "replay_dropped", "senders"} & set(ready)
    data = [raw for raw in hq.raw if not wire.is_status(wire.decode_message(raw))]
    assert not any(b'"sender"' in raw or b'"seq"' in raw for raw in data)
    for raw in data:
        message = json.loads(raw)
        if wire.INTERVAL_KIND in message:
            assert set(message) == INTERVAL_KEYS
        else:
            assert raw == wire.encode_result(*(message[key] for key in wire.RESULT_KEYS))


INTERVAL_KEYS = {
    wire.INTERVAL_KIND,
    "turret_name",
    "began_s",
    "ended_s",
    "epoch",
    "count",
    "errors",
    "error_texts",
    "timers_dropped",
    "series",
}
