"""Telling statuses from results by parsing, never by substring."""

from __future__ import annotations

import ujson

from gturret.hq.messages import Result, Status, Unknown, classify
from gturret.wire import encode_result, encode_status


def test_status() -> None:
    raw = encode_status(
        turret="nav",
        status="Running",
        uuid="u-1",
        rampup=2,
        script="s.py",
        cannons=5,
        extra={"canons_active": 3},
    )
    message = classify(raw)
    assert message == Status("u-1", "nav", "Running", 5, 3, "s.py", 2.0)
    assert isinstance(message, Status) and message.state == "running"


def test_status_without_canons_active_or_name() -> None:
    message = classify(b'{"status": "ready", "uuid": "u-2", "cannons": 4}')
    assert message == Status("u-2", "u-2", "ready", 4, None, None, None)


def test_result_whose_error_says_status_is_a_result() -> None:
    raw = ujson.dumps(
        {
            "turret_name": "t",
            "elapsed": 1.0,
            "epoch": 2.0,
            "scriptrun_time": 0.5,
            "error": "HTTP status 503",
            "custom_timers": {"status page": 0.1},
        }
    ).encode()
    assert b"status" in raw
    assert classify(raw) == Result("t", 0.5, "HTTP status 503", {"status page": 0.1})


def test_escaped_result_from_the_wire_codec() -> None:
    raw = encode_result("t", 1.0, 2.0, 0.25, "status 500", {})
    assert classify(raw) == Result("t", 0.25, "status 500", {})


def test_result_without_turret_name_as_oct_turrets_sends_it() -> None:
    raw = b'{"elapsed": 1, "epoch": 2, "scriptrun_time": 0.1, "error": "", "custom_timers": {}}'
    assert classify(raw) == Result(None, 0.1, "", {})


def test_neither() -> None:
    for raw in (
        b"not json",
        b"\xff",
        b"[1, 2]",
        b'{"hello": 1}',
        b'{"status": "ready"}',
        b'{"status": 1, "uuid": "u"}',
        b'{"turret_name": "t", "elapsed": 1, "epoch": 2, "scriptrun_time": 0.1, "error": "",'
        b' "custom_timers": {}, "extra": 1}',
        b'{"turret_name": "t", "elapsed": 1, "epoch": 2, "scriptrun_time": "fast", "error": "",'
        b' "custom_timers": {}}',
        b'{"turret_name": "t", "elapsed": 1, "epoch": 2, "scriptrun_time": -1, "error": "",'
        b' "custom_timers": {}}',
        b'{"turret_name": "t", "elapsed": 1, "epoch": 2, "scriptrun_time": 1, "error": "",'
        b' "custom_timers": {"a": "b"}}',
    ):
        assert isinstance(classify(raw), Unknown), raw
