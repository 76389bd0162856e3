"""Fuzzing the command channel: generated frames must never break a turret.

Hypothesis generates random bytes, truncated JSON, wrong types for ``command`` and
``msg``, unknown commands, valid commands in whatever state the turret is in, and
orders for other turrets; they go to a real turret process, ready or running, over
a real PUB socket. Every few hundred frames a ``status_request`` round trip proves
the turret is alive and its state machine whole; at the end it must still obey
``kill``. ``GTURRET_FUZZ_FRAMES`` sets the count per state (``make test-slow`` runs
more).
"""

from __future__ import annotations

import json
import os
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gturret import wire
from gturret.errors import WireError
from tests.support.fake_hq import FakeHQ
from tests.support.turret_process import write_turret

FRAMES_PER_STATE = int(os.environ.get("GTURRET_FUZZ_FRAMES", "3000"))
SYNC_EVERY = 250
#: A deadline for a status that comes behind the results queued before it: a running
#: turret queues tens of thousands, which FakeHQ decodes one by one, and on a loaded
#: machine reading 46,000 of them before the killed status took more than 5 s.
BACKLOG_DEADLINE_S = 60

SCRIPT = """
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            pass
"""

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
KNOWN = ["status_request", "set_transaction_context", "start", "stop"]


def frames(uuid: str) -> st.SearchStrategy[bytes]:
    channels = st.sampled_from(["", uuid, "0f8fad5b-d9cb-469f-a165-70867728950e"]) | st.text(
        alphabet=string.printable, max_size=12
    )
    commands = st.sampled_from(KNOWN) | st.text(max_size=30)

    def encode(channel: str, command: object, msg: object) -> bytes:
        return f"{channel} ".encode() + json.dumps({"command": command, "msg": msg}).encode()

    well_formed = st.builds(encode, channels, commands, JSON_VALUES)
    wrong_types = st.builds(encode, channels, JSON_VALUES, JSON_VALUES)
    truncated = st.builds(lambda frame, cut: frame[:cut], well_formed, st.integers(0, 80))
    other_kills = st.builds(lambda u: f"{u} ".encode() + b'{"command": "kill"}', st.uuids())
    return st.one_of(
        st.binary(max_size=300), well_formed, wrong_types, truncated, other_kills
    ).filter(lambda frame: not _kills_us(frame, uuid))


def _kills_us(frame: bytes, uuid: str) -> bool:
    try:
        command = wire.decode_command(frame)
    except WireError:
        return False
    return command.name == "kill" and command.channel in ("", uuid)


def sync(hq: FakeHQ) -> dict:
    """A status_request round trip: the turret read everything sent before it.

    Fuzzed status_requests are answered too, with the six keys only (their ``msg``
    is not our handshake): the answer to ours is the one that carries counters.
    """
    hq.send("status_request")
    deadline = time.monotonic() + BACKLOG_DEADLINE_S
    while "frames_ignored" not in (status := hq.wait_status(None, timeout=BACKLOG_DEADLINE_S)):
        assert time.monotonic() < deadline, "no answer to the sync status_request"
    assert status["status"] in ("ready", "running")
    return status


@pytest.mark.fuzz
@pytest.mark.parametrize("state", ["ready", "running"])
def test_fuzzed_frames_never_break_the_turret(hq, spawn_turret, tmp_path, state):
    turret = spawn_turret(str(write_turret(tmp_path, SCRIPT, hq, canons=20)))
    uuid = hq.register()["uuid"]
    if state == "running":
        hq.send("start", "open fire")
        hq.wait_status("running")
    for size in (100_000, 1_000_000, 4_000_000):
        hq.send_raw(b' {"command": "status_request", "msg": "' + b"x" * size + b'"}')
        hq.send_raw(b" " + b"[" * size)
    sync(hq)
    sent = 0

    @settings(
        max_examples=FRAMES_PER_STATE,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(frame=frames(uuid))
    def send(frame: bytes) -> None:
        nonlocal sent
        hq.send_raw(frame)
        sent += 1
        if sent % SYNC_EVERY == 0:
            sync(hq)

    send()
    final = sync(hq)
    assert sent >= FRAMES_PER_STATE * 0.9
    assert final["uuid"] == uuid
    assert final["frames_ignored"] > 0
    assert turret.proc.poll() is None
    print(f"\nfuzz ({state}): {sent} frames sent, {final['frames_ignored']} ignored, turret alive")
    hq.send("kill")
    hq.wait_status("killed", timeout=BACKLOG_DEADLINE_S)
    assert turret.wait(timeout=5) == 0
