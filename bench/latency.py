"""Latency percentiles from raw samples, shared by the sink and the peer loops.

The bench venv has no HDR histogram, and a window holds at most a few hundred
thousand samples, so sorting them is cheap and exact; every row computes its
percentiles the same way (nearest rank), so rows compare like with like.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

PERCENTILES = (50, 90, 95, 99)


def percentiles_ms(seconds: Iterable[float]) -> dict[str, float]:
    """``p50_ms``, ``p90_ms``, ``p95_ms``, ``p99_ms`` of latencies in seconds; {} if none."""
    ordered = sorted(seconds)
    if not ordered:
        return {}
    return {
        f"p{percentile}_ms": ordered[max(0, math.ceil(percentile / 100 * len(ordered)) - 1)] * 1000
        for percentile in PERCENTILES
    }
