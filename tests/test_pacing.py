"""The open model's schedule alone: exact arrival times, no clock, no sockets."""

from __future__ import annotations

import itertools

import pytest

from gturret.pacing import Schedule, Stage


def first(schedule: Schedule, count: int) -> list[float]:
    return list(itertools.islice(schedule.due_times(), count))


def test_a_constant_rate_is_evenly_spaced_from_the_start():
    assert first(Schedule(4.0), 5) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_shares_of_a_fleet_interleave_into_the_whole_stream():
    whole = first(Schedule(30.0), 30)
    parts = sorted(t for k in range(3) for t in first(Schedule(30.0).share(k, 3), 10))
    assert parts == pytest.approx(whole)


def test_stages_ramp_the_rate_linearly_and_the_count_is_its_integral():
    # 0 -> 10/s over 2 s (10 arrivals), 10/s for 1 s (10), 10 -> 0 over 1 s (5): 25 after
    # the first one at t=0, and the schedule ends with the rate.
    schedule = Schedule(0.0, (Stage(2, 10), Stage(1, 10), Stage(1, 0)))
    times = list(schedule.due_times())
    assert len(times) == 26
    assert times == sorted(times)
    assert times[-1] == pytest.approx(4.0)
    assert schedule.rate_at(1.0) == pytest.approx(5.0)
    assert schedule.rate_at(2.5) == pytest.approx(10.0)
    # during the first ramp, arrival i is where 5·t²/2 = i
    assert times[5] == pytest.approx((2 * 5 / 5) ** 0.5)


def test_a_last_stage_holds_its_rate_for_ever():
    schedule = Schedule(0.0, (Stage(1, 100),))
    times = first(schedule, 1000)
    gaps = [b - a for a, b in itertools.pairwise(times[200:])]
    assert gaps == pytest.approx([0.01] * len(gaps))


def test_poisson_arrivals_keep_the_rate_on_average_and_vary_between_them():
    times = first(Schedule(200.0, arrival="poisson", seed=7), 20_000)
    assert 20_000 / times[-1] == pytest.approx(200.0, rel=0.03)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = sum(gaps) / len(gaps)
    variance = sum((g - mean) ** 2 for g in gaps) / len(gaps)
    assert variance**0.5 == pytest.approx(mean, rel=0.05), "exponential gaps: sd == mean"
    assert first(Schedule(200.0, arrival="poisson", seed=7), 5) == times[:5]


def test_poisson_follows_a_ramp():
    times = list(
        Schedule(0.0, (Stage(10, 400), Stage(1, 0)), arrival="poisson", seed=3).due_times()
    )
    early = sum(1 for t in times if t < 5)
    late = sum(1 for t in times if 5 <= t < 10)
    # cumulative rate: 500 arrivals in the first 5 s, 1,500 in the next 5
    assert early == pytest.approx(500, rel=0.15)
    assert late == pytest.approx(1500, rel=0.1)
