"""The wire codec alone: exact frames and messages of docs/protocol.md, no sockets."""

from __future__ import annotations

import json
import random
import re
import string
import sys

import pytest

from gturret import wire
from gturret.errors import WireError


def test_broadcast_frame_starts_with_a_space():
    frame = wire.encode_command("start", "open fire")
    assert frame.startswith(b' {"')
    command = wire.decode_command(frame)
    assert (command.channel, command.name, command.msg) == ("", "start", "open fire")


def test_direct_frame_carries_the_uuid():
    frame = b'd7b8a1cc-639a {"command": "stop", "msg": "premature stop"}'
    command = wire.decode_command(frame)
    assert command == wire.Command("d7b8a1cc-639a", "stop", "premature stop")


def test_msg_is_optional():
    assert wire.decode_command(b' {"command": "status_request"}').msg is None


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"nospace", "no space"),
        (b" {not json", "not JSON"),
        (b" [1]", "JSON list, not an object"),
        (b' "text"', "JSON str, not an object"),
        (b' {"msg": 1}', "no string 'command'"),
        (b' {"command": null}', "no string 'command'"),
        (b"\xff {}", "not UTF-8"),
    ],
)
def test_bad_frames_raise_wire_error(frame, why):
    with pytest.raises(WireError, match=why):
        wire.decode_command(frame)


def test_status_has_the_reference_keys_and_extras():
    raw = wire.encode_status(
        turret="nav",
        status="ready",
        uuid="u",
        rampup=30,
        script="v.py",
        cannons=250,
        extra={"canons_active": 0},
    )
    message = json.loads(raw)
    assert message == {
        "turret": "nav",
        "status": "ready",
        "uuid": "u",
        "rampup": 30,
        "script": "v.py",
        "cannons": 250,
        "canons_active": 0,
    }
    assert wire.is_status(message) and not wire.is_result(message)


def test_result_has_exactly_six_keys():
    raw = wire.encode_result("nav", 12.48, 1453731738.2, 0.231, "", {"login": 0.118})
    message = json.loads(raw)
    assert list(message) == list(wire.RESULT_KEYS)
    assert message["custom_timers"] == {"login": 0.118}
    assert wire.is_result(message) and not wire.is_status(message)


@pytest.mark.parametrize(
    "text",
    ["HTTP status 503", "status", "\\status", 'x"status', "statusstatus", "ünïcode status ✓"],
)
def test_results_never_hold_status_raw_yet_decode_the_same(text):
    raw = wire.encode_result(text, 1.0, 2.0, 0.5, text, {text: 0.1})
    assert b"status" not in raw
    assert json.loads(raw) == {
        "turret_name": text,
        "elapsed": 1.0,
        "epoch": 2.0,
        "scriptrun_time": 0.5,
        "error": text,
        "custom_timers": {text: 0.1},
    }


def test_random_texts_round_trip_without_status():
    rng = random.Random(7)
    alphabet = string.printable + '\\"ü✓'
    for _ in range(2000):
        pieces = [rng.choice(["status", "st", "atus", "\\"]) for _ in range(3)]
        text = "".join(pieces) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        raw = wire.encode_result("t", 0.0, 0.0, 0.0, text, {})
        assert b"status" not in raw
        assert json.loads(raw)["error"] == text


def test_decode_message_refuses_non_objects():
    with pytest.raises(WireError):
        wire.decode_message(b"[1]")
    with pytest.raises(WireError):
        wire.decode_message(b"{")


def test_result_times_keep_microseconds_and_any_turret_name():
    encode = wire.result_encoder("100% % %s turret")
    message = json.loads(encode((12.3456789, 1795807520.0347621, 1.23456789e-7, "", {})))
    assert message["turret_name"] == "100% % %s turret"
    assert message["elapsed"] == pytest.approx(12.345679, abs=1e-6)
    assert message["epoch"] == pytest.approx(1795807520.034762, abs=1e-6)
    assert message["scriptrun_time"] == pytest.approx(1.23e-7, abs=1e-9)


def test_a_start_order_round_trips_and_a_plain_one_adds_nothing():
    order = wire.StartOrder(
        start_at=1_800_000_000.25,
        rampup=3.0,
        ramp_phase=0.5,
        arrival_rate=12.5,
        canons_at=(100, 1000),
    )
    assert wire.decode_start(wire.start_order_msg(order)) == order
    assert wire.start_order_msg(wire.StartOrder()) == {"gturret": wire.PROTOCOL_VERSION}
    assert wire.decode_start("open fire") == wire.StartOrder()
    assert wire.decode_start(None) == wire.StartOrder()


@pytest.mark.parametrize(
    "msg",
    [
        {"start_at": 5.0},
        {"gturret": "1", "start_at": 5.0},
        {"gturret": 1, "start_at": "soon", "rampup": -1, "ramp_phase": 1.0, "arrival_rate": True},
        {"gturret": 1, "start_at": float("nan"), "rampup": float("inf"), "ramp_phase": -0.1},
        {"gturret": 1, "start_at": [1], "rampup": {"s": 2}, "arrival_rate": None},
        {"gturret": 1, "canons_at": [5, 4]},
        {"gturret": 1, "canons_at": [0, 0]},
        {"gturret": 1, "canons_at": [-1, 4]},
        {"gturret": 1, "canons_at": [1, 4, 5]},
        {"gturret": 1, "canons_at": [1.0, 4]},
        {"gturret": 1, "canons_at": [True, 4]},
        {"gturret": 1, "canons_at": "0/4"},
    ],
)
def test_a_malformed_start_order_counts_as_a_plain_start(msg):
    assert wire.decode_start(msg) == wire.StartOrder()


def test_a_start_order_with_huge_integers_reads_them_as_the_largest_float():
    """Never an OverflowError: the turret caps what is too large (and says so)."""
    huge = 10**400
    order = wire.decode_start(
        {"gturret": 1, "rampup": huge, "arrival_rate": huge, "start_at": -huge}
    )
    assert order.rampup == order.arrival_rate == sys.float_info.max
    assert order.start_at is None


def test_a_journal_command_reads_back_as_sent():
    order = wire.JournalOrder({"t-1": 7, "t-2/0": 0}, resend=True)
    command = wire.decode_command(wire.encode_command("journal", wire.journal_msg(order)))
    assert wire.decode_journal(command.msg) == order
    assert order.acked_of("t-1") == 7 and order.acked_of("never heard of") == 0


@pytest.mark.parametrize(
    ("msg", "why"),
    [
        (None, "NoneType msg, not an object"),
        ({"resend": True}, "'acked' is a NoneType, not an object"),
        ({"acked": [1], "resend": True}, "'acked' is a list"),
        ({"acked": {"t": -1}, "resend": True}, "gives 't' -1, not a whole number >= 0"),
        ({"acked": {"t": 1.0}, "resend": True}, "gives 't' 1.0"),
        ({"acked": {"t": False}, "resend": True}, "gives 't' False"),
        ({"acked": {"t": None}, "resend": True}, "gives 't' None"),
        ({"acked": {}}, "'resend' is a NoneType, not true or false"),
        ({"acked": {}, "resend": 0}, "'resend' is a int"),
    ],
)
def test_a_journal_command_that_is_not_the_documented_object_raises(msg, why):
    with pytest.raises(WireError, match=re.escape(why)):
        wire.decode_journal(msg)


@pytest.mark.parametrize("uncorrected", [False, True])
def test_a_numbered_result_is_the_plain_one_with_sender_and_seq_last(uncorrected):
    """The same bytes as ``numbered`` splices onto the plain result: one rule."""
    sender = '100% "odd" st' + "atus/1"
    encode = wire.result_encoder("nav", uncorrected=uncorrected, sender=sender)
    record = (1.5, 1453731738.2, 0.25, "HTTP status 503", {"login": 0.1}, 0.125)
    raw = encode(record, 42)
    assert raw == wire.numbered(encode(record), wire.journal_tail(sender), 42)
    assert b"status" not in raw
    message = json.loads(raw)
    assert list(message)[-2:] == ["sender", "seq"]
    assert (message["sender"], message["seq"]) == (sender, 42)
    assert ("uncorrected_time" in message) is uncorrected
