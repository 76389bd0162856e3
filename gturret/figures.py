"""Numbers as people read them: no float reprs, no exponents; durations and counts in words.

Why its own module: a number computed in binary floating point and printed with
``str`` or ``repr`` shows its rounding noise (``0.013574999999999999`` for 13.575 ms
in seconds, ``13.575000000000001`` for 0.013575 s in ms), and ``:g`` turns a large
one into ``1.23457e+06``. Every number the turret or the HQ writes for a person, a
limit it echoes or a figure it computed, goes through here; tables with fixed
places (the summary, CSV) keep their own. Durations (``2m5s``) and counts with their
noun (``3 turrets``) are worded here too, alike in every log line and summary. It
must never import anything of gturret: both sides use it.
"""

from __future__ import annotations

import math

#: Significant digits kept: more than any measured figure carries, fewer than the
#: 17 where binary rounding noise shows.
SIGNIFICANT = 9


def format_number(value: float, significant: int = SIGNIFICANT) -> str:
    """``0.013574999999999999`` → ``"0.013575"``, ``1234567.0`` → ``"1234567"``,
    ``2.50`` → ``"2.5"``: rounded to ``significant`` significant digits (to a whole
    number when it has more digits before the point), no trailing zeros, never an
    exponent."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    places = max(0, significant - 1 - magnitude)
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_duration(seconds: float) -> str:
    """``125.0`` → ``"2m5s"``: the short form used in logs and the summary."""
    whole = round(seconds)
    if abs(seconds - whole) > 0.05 or whole < 1:
        return f"{seconds:.1f}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


def plural(count: int, word: str) -> str:
    """``plural(1, "turret")`` → ``"1 turret"``; ``plural(3, "turret")`` → ``"3 turrets"``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
