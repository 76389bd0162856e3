"""Custom timer values as a result must carry them: names to seconds, finite, >= 0.

Why it exists: a script fills ``custom_timers`` with whatever it likes (a
``timedelta`` from ``response.elapsed``, a string, NaN, a dict it assigned itself).
One bad value must never make a result unencodable (the turret would abort) nor
reach an HQ that then drops the whole result (ours did for NaN; the reference HQ
stores whatever it gets). What has one plain meaning is converted (a ``timedelta``
is its seconds, an int or a ``Decimal`` a number of seconds); anything else is
left out and named in that transaction's error text. It must stay cheap for the
usual dict of floats: that case is checked in one pass and returned as it is.
"""

from __future__ import annotations

import math
import numbers
from datetime import timedelta
from decimal import Decimal
from typing import Any

#: Longest repr of a bad value quoted in an error text.
QUOTE_LIMIT = 60


def clean_timers(timers: Any) -> tuple[dict[str, float], str]:
    """The timers a result can carry, and an error text naming each value left out."""
    if type(timers) is dict:
        for name, value in timers.items():
            if type(name) is not str or type(value) is not float or not 0.0 <= value < math.inf:
                break
        else:
            return timers, ""
    return _convert(timers)


def _convert(timers: Any) -> tuple[dict[str, float], str]:
    if timers is None:
        return {}, ""
    if not hasattr(timers, "items"):
        return {}, f"custom_timers is {_quote(timers)}, not a dict of name to seconds"
    clean: dict[str, float] = {}
    problems = []
    for name, value in timers.items():
        seconds = _seconds(value)
        label = name if isinstance(name, str) else str(name)
        if seconds is None:
            problems.append(f"custom timer {label!r} is {_quote(value)}, not seconds >= 0")
        else:
            clean[label] = seconds
    return clean, "; ".join(problems)


def _seconds(value: Any) -> float | None:
    """``value`` as finite seconds >= 0, or None where it has no plain meaning as such."""
    if isinstance(value, bool):
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (numbers.Real, Decimal)):
        try:
            seconds = float(value)
        except (OverflowError, ValueError):
            return None
    else:
        return None
    return seconds if 0.0 <= seconds < math.inf else None


def _quote(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1] + "…"
    return f"{text} ({type(value).__name__})"
