"""The HQ's histogram operations give exactly what hdrh's own give, on real histograms.

``gturret.hq.histograms`` reads, adds, clears and reads percentiles of histograms in
fewer Python steps than hdrh; each is checked here against hdrh's own on the same
histograms (the interval layout and the loop lag's, values over their whole range).
"""

from __future__ import annotations

import gc
import random
import weakref

import pytest
from hdrh.histogram import HdrHistogram

from gturret.hq.histograms import (
    INTERVAL_LAYOUT,
    LOOP_LAG_LAYOUT,
    Layout,
    add,
    clear,
    percentiles,
    read_histogram,
)

WANTED = (0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)
RANGES = ((1, 10), (10_000, 12_000), (50, 3_000), (1, 3_600_000_000), (0, 0))


def _histogram(layout: Layout, low: int, high: int, count: int, seed: int) -> HdrHistogram:
    picker = random.Random(seed)
    histogram = HdrHistogram(layout.lowest, layout.highest, layout.digits)
    for _ in range(count):
        histogram.record_value(min(int(picker.uniform(low, high)), layout.highest))
    return histogram


@pytest.mark.parametrize("layout", [INTERVAL_LAYOUT, LOOP_LAG_LAYOUT])
@pytest.mark.parametrize(("low", "high"), RANGES)
def test_percentiles_are_hdrhs(layout: Layout, low: int, high: int) -> None:
    histogram = _histogram(layout, low, high, 3_000, seed=low + high)
    assert percentiles(histogram, WANTED) == histogram.get_percentile_to_value_dict(list(WANTED))
    assert percentiles(histogram, (99.0,))[99.0] == histogram.get_value_at_percentile(99.0)


@pytest.mark.parametrize("layout", [INTERVAL_LAYOUT, LOOP_LAG_LAYOUT])
@pytest.mark.parametrize(
    "values",
    [
        [7],
        [50, 500_000],
        [*range(1, 300)],
        [*range(1, 257), 512, 513, 100_000_000],
        [3_000] * 98 + [2_000_000, 400_000_000],
    ],
    ids=["one", "two-far-apart", "across-a-chunk", "chunk-edges-and-a-stall", "stalls-at-p99"],
)
def test_percentiles_of_few_and_far_apart_values_are_hdrhs(
    layout: Layout, values: list[int]
) -> None:
    """Sums a chunk at a time must not shift a percentile at a chunk's edge or past a
    long run of empty counts."""
    histogram = HdrHistogram(layout.lowest, layout.highest, layout.digits)
    for value in values:
        histogram.record_value(min(value, layout.highest))
    wanted = (*WANTED, 98.0, 99.5)
    assert percentiles(histogram, wanted) == histogram.get_percentile_to_value_dict(list(wanted))


def test_an_empty_histograms_percentiles_are_zero() -> None:
    empty = HdrHistogram(INTERVAL_LAYOUT.lowest, INTERVAL_LAYOUT.highest, INTERVAL_LAYOUT.digits)
    assert percentiles(empty, (50.0, 99.0)) == {50.0: 0, 99.0: 0}


@pytest.mark.parametrize("layout", [INTERVAL_LAYOUT, LOOP_LAG_LAYOUT])
def test_add_and_clear_are_hdrhs(layout: Layout) -> None:
    ours = _histogram(layout, 10_000, 12_000, 500, seed=1)
    theirs = _histogram(layout, 10_000, 12_000, 500, seed=1)
    for seed, (low, high) in enumerate(RANGES):
        other = _histogram(layout, low, high, 200, seed=seed)
        add(ours, other)
        theirs.add(other)
        assert list(ours.counts) == list(theirs.counts)
        assert ours.get_total_count() == theirs.get_total_count()
        assert (ours.get_min_value(), ours.get_max_value()) == (
            theirs.get_min_value(),
            theirs.get_max_value(),
        )
        assert percentiles(ours, WANTED) == theirs.get_percentile_to_value_dict(list(WANTED))
    add(ours, HdrHistogram(layout.lowest, layout.highest, layout.digits))
    assert list(ours.counts) == list(theirs.counts)
    clear(ours)
    theirs.reset()
    assert list(ours.counts) == list(theirs.counts)
    assert (ours.get_total_count(), ours.get_min_value(), ours.get_max_value()) == (
        theirs.get_total_count(),
        theirs.get_min_value(),
        theirs.get_max_value(),
    )


@pytest.mark.parametrize("layout", [INTERVAL_LAYOUT, LOOP_LAG_LAYOUT])
def test_a_read_histogram_is_hdrhs_decoding(layout: Layout) -> None:
    sent = _histogram(layout, 50, 30_000, 1_000, seed=7)
    encoded = sent.encode().decode()
    read = read_histogram(encoded, layout)
    decoded = HdrHistogram.decode(encoded)
    assert read is not None
    assert list(read.counts) == list(decoded.counts) == list(sent.counts)
    assert (read.get_total_count(), read.get_min_value(), read.get_max_value()) == (
        decoded.get_total_count(),
        decoded.get_min_value(),
        decoded.get_max_value(),
    )


@pytest.mark.parametrize("layout", [INTERVAL_LAYOUT, LOOP_LAG_LAYOUT])
def test_read_histograms_are_their_own_and_freed_with_their_last_reference(layout: Layout) -> None:
    """Each read histogram has counts of its own (adding to one leaves the next
    untouched) and no reference cycle: freed at once, without the cyclic collector
    (hundreds of 190 KB intervals once waited for it)."""
    encoded = _histogram(layout, 50, 30_000, 100, seed=3).encode().decode()
    first, second = read_histogram(encoded, layout), read_histogram(encoded, layout)
    assert first is not None and second is not None
    add(first, second)
    assert first.get_total_count() == 200 and sum(second.counts) == 100
    assert second.get_percentile_to_value_dict([50.0]) == percentiles(second, (50.0,))
    gc.disable()
    try:
        freed = weakref.ref(first)
        del first
        assert freed() is None
    finally:
        gc.enable()
