"""Durations, --context and HQOptions validation."""

from __future__ import annotations

import argparse

import pytest

from gturret.errors import UsageError
from gturret.hq.options import (
    OPTIONS,
    HQOptions,
    add_arguments,
    options_from_args,
    parse_context,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("2m", 120),
        ("1h", 3600),
        ("45", 45),
        ("1.5", 1.5),
        ("1m30s", 90),
        ("250ms", 0.25),
        (" 2m ", 120),
        ("1h2m3s", 3723),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "2x", "m2", "0", "-5", "0s", "1m-3s", "inf", "nan"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError, match="--run-time"):
        parse_duration(text, name="--run-time")


def test_parse_context() -> None:
    assert parse_context('{"user": "bob", "n": 2}') == {"user": "bob", "n": 2}
    with pytest.raises(UsageError, match="not an object"):
        parse_context("[1]")
    with pytest.raises(UsageError, match="not JSON"):
        parse_context("{nope")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"turrets": 0}, "turrets must be at least 1"),
        ({"feeder_reserve": -1}, "feeder_reserve must be 0 or more canons"),
        ({"pub_port": 70000}, "pub_port must be a TCP port"),
        ({"pub_port": 5000, "rc_port": 5000}, "must differ"),
        ({"run_time": 0}, "run_time must be a positive"),
        ({"drain_timeout": -1}, "drain_timeout must be a positive"),
        ({"bind": ""}, "bind must be an IP address"),
        ({"metrics_bind": ""}, "metrics_bind must be an IP address"),
        ({"metrics_port": 70000}, "metrics_port must be a TCP port"),
        ({"late_start": "sometimes"}, "late_start must be one of direct, broadcast, off"),
        ({"web_port": 70000}, "--web must be a TCP port"),
        ({"web_bind": ""}, "web_bind must be an IP address"),
        ({"web_token": "short"}, "--web-token must be at least 16 characters"),
    ],
)
def test_options_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        HQOptions(**kwargs)  # type: ignore[arg-type]


def test_ephemeral_ports_may_both_be_zero() -> None:
    assert HQOptions(pub_port=0, rc_port=0).pub_port == 0


def test_no_flag_given_is_every_default() -> None:
    """A flag's default and its setting's are one declaration: parsing no flag at all
    gives the HQOptions a caller gets by naming none, and --help shows each."""
    parser = argparse.ArgumentParser()
    add_arguments(parser, OPTIONS)
    assert options_from_args(parser.parse_args([]), OPTIONS) == HQOptions()
    text = " ".join(parser.format_help().split())
    for shown in ("(default 5000; 0: any)", "(default 60s)", "(default 30s)", "(default {})"):
        assert shown in text
