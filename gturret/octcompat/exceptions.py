"""``oct_turrets.exceptions``: the reference turret's two exception classes."""

from __future__ import annotations


class InvalidConfiguration(Exception):
    """A turret configuration that lacks a required key or cannot be read."""


class InvalidTarTurret(Exception):
    """A turret package that is not a readable tar archive."""
