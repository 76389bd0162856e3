"""``oct_turrets.base``: ``BaseTransaction`` is gturret's ``Transaction``."""

from __future__ import annotations

from gturret.transaction import Transaction as BaseTransaction

__all__ = ["BaseTransaction"]
