"""Telling statuses from results by parsing, never by substring."""

from __future__ import annotations

import pytest
import ujson
from hdrh.histogram import HdrHistogram

from gturret.hq.ledger import SenderCounts
from gturret.hq.messages import (
    Delivery,
    FeederReport,
    Interval,
    Result,
    Status,
    Unknown,
    classify,
)
from gturret.wire import (
    HIGHEST_US,
    LOWEST_US,
    SIGNIFICANT_DIGITS,
    encode_result,
    encode_status,
    journal_tail,
    numbered,
)


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
    ):
        assert isinstance(classify(raw), Unknown), raw


def test_bad_timer_values_are_left_out_and_counted_never_the_whole_result() -> None:
    raw = (
        b'{"turret_name": "t", "elapsed": 1, "epoch": 2, "scriptrun_time": 1, "error": "",'
        b' "custom_timers": {"a": "b", "b": NaN, "c": -1, "d": 0.5}}'
    )
    assert classify(raw) == Result("t", 1.0, "", {"d": 0.5}, bad_timers=3)


def test_counters_of_a_turret_that_was_asked_for_them() -> None:
    raw = encode_status(
        turret="nav",
        status="ready",
        uuid="u-1",
        rampup=0,
        script="s.py",
        cannons=5,
        extra={
            "results_produced": 10,
            "results_sent": 9,
            "results_dropped": 1,
            "results_queued": 0,
        },
    )
    message = classify(raw)
    assert isinstance(message, Status)
    assert message.delivery == Delivery(produced=10, sent=9, dropped=1, queued=0)
    partial = classify(b'{"status": "ready", "uuid": "u", "results_produced": 3}')
    assert isinstance(partial, Status) and partial.delivery is None


def _interval_frame(histogram: str) -> bytes:
    series = {"count": 1, "errors": 0, "min_us": 5, "max_us": 5, "sum_us": 5}
    message = {
        "gturret_interval": 1,
        "turret_name": "t",
        "began_s": 1.0,
        "ended_s": 2.0,
        "epoch": 1_795_853_821.5,
        "count": 1,
        "errors": 0,
        "error_texts": {},
        "series": {"transaction": {**series, "histogram": histogram}},
    }
    return ujson.dumps(message).encode()


def test_an_interval_is_decoded_once_and_a_bad_histogram_makes_it_unknown():
    ours = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    ours.record_value(5)
    good = classify(_interval_frame(ours.encode().decode()))
    assert isinstance(good, Interval)
    decoded = good.series["transaction"].histogram
    assert decoded is not None and decoded.get_total_count() == 1
    other_layout = HdrHistogram(1, 1000, 2)
    other_layout.record_value(5)
    for histogram in ("HISTFAAAAnot base64!", "", other_layout.encode().decode()):
        message = classify(_interval_frame(histogram))
        assert isinstance(message, Unknown), histogram
        assert message.reason == "an interval whose series are malformed or do not add up"


def test_a_numbered_result_carries_its_sender_and_seq() -> None:
    raw = numbered(encode_result("t", 1.0, 2.0, 0.25, "", {}), journal_tail("u-1/0"), 7)
    assert classify(raw) == Result("t", 0.25, "", {}, sender="u-1/0", seq=7)


def test_a_malformed_sender_or_seq_makes_a_data_message_unknown() -> None:
    result = encode_result("t", 1.0, 2.0, 0.25, "", {})
    for tail in (b',"sender":"u","seq":0}', b',"sender":"u","seq":true}', b',"sender":5,"seq":1}'):
        assert isinstance(classify(result[:-1] + tail), Unknown)


def test_a_status_carries_each_senders_journal_counters() -> None:
    counters = {"seq_sent": 9, "replay_dropped": 1, "replay_kept": 3}
    raw = encode_status(
        turret="t",
        status="running",
        uuid="u",
        rampup=0,
        script="s.py",
        cannons=1,
        extra={"senders": {"u": counters}},
    )
    message = classify(raw)
    assert isinstance(message, Status)
    assert message.senders == {"u": SenderCounts(9, 1, 3)}
    bad = raw.replace(b'"seq_sent":9', b'"seq_sent":-1')
    assert bad != raw
    bad_status = classify(bad)
    assert isinstance(bad_status, Status) and bad_status.senders is None


FEEDER = {"served": 10, "left": 5, "exhausted": 1, "exhausted_at": [1.5], "stop_test": False}


def _status_with_feeders(feeders: object) -> bytes:
    return ujson.dumps(
        {
            "status": "running",
            "uuid": "u-3",
            "gturret": 1,
            "canons_exhausted": 2,
            "feeders": feeders,
        }
    ).encode()


def test_a_status_carries_its_feeders() -> None:
    message = classify(_status_with_feeders({"users": FEEDER, "terms": {**FEEDER, "left": None}}))
    assert isinstance(message, Status)
    assert message.feeders == {
        "users": FeederReport(10, 5, 1, (1.5,), False),
        "terms": FeederReport(10, None, 1, (1.5,), False),
    }
    assert message.canons_exhausted == 2


@pytest.mark.parametrize(
    "feeders",
    [
        [],
        {"users": []},
        {"users": {**FEEDER, "served": -1}},
        {"users": {**FEEDER, "left": "5"}},
        {"users": {**FEEDER, "exhausted_at": [True]}},
        {"users": {**FEEDER, "exhausted_at": list(range(101))}},
        {"users": {**FEEDER, "stop_test": 1}},
        {"users": {key: value for key, value in FEEDER.items() if key != "served"}},
        {"x" * 101: FEEDER},
    ],
)
def test_a_status_with_malformed_feeders_is_not_counted(feeders: object) -> None:
    assert classify(_status_with_feeders(feeders)) == Unknown(
        "a status whose feeders are malformed"
    )
