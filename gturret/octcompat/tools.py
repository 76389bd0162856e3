"""``oct_turrets.tools``: ``CustomTimer`` is gturret's (monotonic clock)."""

from __future__ import annotations

from gturret.transaction import CustomTimer

__all__ = ["CustomTimer"]
