"""Threshold parsing and evaluation."""

from __future__ import annotations

import pytest

from gturret.errors import ThresholdError, UsageError
from gturret.hq.thresholds import Threshold, evaluate, parse_threshold
from tests.support.summaries import summary_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p95<100ms", Threshold("p95<100ms", "p95", "<", 100.0)),
        ("p99 <= 1.5s", Threshold("p99 <= 1.5s", "p99", "<=", 1500.0)),
        ("  mean>2ms ", Threshold("mean>2ms", "mean", ">", 2.0)),
        ("max>=.5s", Threshold("max>=.5s", "max", ">=", 500.0)),
        ("p99.9<10ms", Threshold("p99.9<10ms", "p99.9", "<", 10.0)),
        ("error_rate<1%", Threshold("error_rate<1%", "error_rate", "<", 1.0)),
        ("error_rate<=0.5", Threshold("error_rate<=0.5", "error_rate", "<=", 0.5)),
        ("tx_per_s>=50", Threshold("tx_per_s>=50", "tx_per_s", ">=", 50.0)),
        ("timer:login:p95<100ms", Threshold("timer:login:p95<100ms", "p95", "<", 100.0, "login")),
        ("timer:a:b:p50<1s", Threshold("timer:a:b:p50<1s", "p50", "<", 1000.0, "a:b")),
    ],
)
def test_parse(text: str, expected: Threshold) -> None:
    assert parse_threshold(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95<100", "give p95 a unit, ms or s"),
        ("p42<1ms", "unknown metric 'p42'"),
        ("latency<1ms", "unknown metric 'latency'"),
        ("p95=100ms", "is not METRIC OP VALUE"),
        ("p95<abc", "is not METRIC OP VALUE"),
        ("error_rate<1ms", "error_rate is a percentage"),
        ("tx_per_s>5%", "tx_per_s takes no unit"),
        ("", "is not METRIC OP VALUE"),
    ],
)
def test_parse_errors_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ThresholdError, match=message) as info:
        parse_threshold(text)
    assert isinstance(info.value, UsageError)
    assert "\n" not in str(info.value)


def test_evaluate() -> None:
    summary = summary_of([float(ms) for ms in range(1, 101)], errors=2)
    verdicts = {
        text: evaluate(parse_threshold(text), summary)
        for text in (
            "p95<100ms",
            "p95<90ms",
            "max<=0.1s",
            "mean>50ms",
            "error_rate<1%",
            "error_rate<=2",
            "tx_per_s>=10",
            "tx_per_s>10",
            "timer:login:p99<50ms",
            "timer:login:p99<49ms",
            "timer:nope:p95<1s",
        )
    }
    assert {text: v.passed for text, v in verdicts.items()} == {
        "p95<100ms": True,
        "p95<90ms": False,
        "max<=0.1s": True,
        "mean>50ms": True,
        "error_rate<1%": False,
        "error_rate<=2": True,
        "tx_per_s>=10": True,
        "tx_per_s>10": False,
        "timer:login:p99<50ms": True,
        "timer:login:p99<49ms": False,
        "timer:nope:p95<1s": False,
    }
    assert verdicts["p95<90ms"].actual == pytest.approx(95.0, rel=1e-3)
    assert verdicts["timer:nope:p95<1s"].actual is None
    assert verdicts["timer:nope:p95<1s"].detail == "timer 'nope' has no data"
