"""gturret.hq: our own OCT-compatible HQ, for standalone and CI runs.

It binds the PUB and PULL sockets, drives turrets through one test exactly as
docs/protocol.md says, and turns their results into statistics, a summary, threshold
verdicts and reports. Names resolve lazily: ``gturret.hq.cli`` must be able to
monkey-patch before anything here imports zmq, socket or threading.
"""

from __future__ import annotations

from gturret._lazy import lazy_exports

__all__ = [
    "HQOptions",
    "Threshold",
    "parse_duration",
    "parse_threshold",
    "run_hq",
]

_HOMES = {
    "HQOptions": "gturret.hq.options",
    "parse_duration": "gturret.hq.options",
    "Threshold": "gturret.hq.thresholds",
    "parse_threshold": "gturret.hq.thresholds",
    "run_hq": "gturret.hq.run",
}


__getattr__, __dir__ = lazy_exports("gturret.hq", _HOMES, globals())
