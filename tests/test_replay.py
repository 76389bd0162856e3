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
from gturret.replay import FRAME_OVERHEAD, MB, ReplayBuffer
from tests.support.fake_hq import FakeHQ
from tests.support.turret_process import write_turret

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
    numbered = []
    for frame in frames:
        numbered.append(buffer.number(frame))
        buffer.keep(numbered[-1])
    return numbered


def test_a_buffer_numbers_from_one_and_splices_sender_and_seq_onto_the_message():
    buffer = ReplayBuffer("t-1", 64)
    first, second = _kept(buffer, b'{"a":1}', b'{"a":2}')
    assert json.loads(first) == {"a": 1, "sender": "t-1", "seq": 1}
    assert json.loads(second) == {"a": 2, "sender": "t-1", "seq": 2}
    assert buffer.counters() == {"seq_sent": 2, "replay_dropped": 0, "replay_kept": 2}


def test_a_frame_numbered_but_not_kept_keeps_its_seq_for_the_next_try():
    """ZeroMQ refused it: the same message goes again later, with the same number."""
    buffer = ReplayBuffer("t", 64)
    numbered = buffer.number(b'{"a":1}')
    assert numbered == buffer.number(b'{"a":1}') == b'{"a":1,"sender":"t","seq":1}'
    assert buffer.seq_sent == 0 and buffer.kept == 0


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
    frames = _kept(buffer, *[frame] * 10)
    assert buffer.counters() == {"seq_sent": 10, "replay_dropped": 7, "replay_kept": 3}
    assert buffer.after(0) == frames[7:] and buffer.first == 8
    assert sum("replay buffer full" in r.message for r in caplog.records) == 1


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
