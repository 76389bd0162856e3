"""Numbers as people read them (``gturret.figures``)."""

from __future__ import annotations

import pytest

from gturret.figures import format_duration, format_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (13575 / 1000 / 1000, "0.013575"),
        (0.013575 * 1000, "13.575"),
        (1234567.0, "1234567"),
        (1234567.891, "1234567.89"),
        (2.50, "2.5"),
        (250, "250"),
        (0.1 + 0.2, "0.3"),
        (1e-7, "0.0000001"),
        (-0.5, "-0.5"),
        (-1e-12, "-0.000000000001"),
        (0.0, "0"),
        (float("inf"), "inf"),
    ],
)
def test_a_number_shows_its_digits_without_noise_or_exponent(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (120, "2m"), (90, "1m30s"), (3723, "1h2m3s"), (1.25, "1.2s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
