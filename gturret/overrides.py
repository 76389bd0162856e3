"""The config keys a flag or an environment variable may set over the config file.

Why its own module: an orchestrator runs N replicas of one image from one config
(a ConfigMap, a swarm config), and each replica must still find its HQ by a Service
name and carry a name of its own. So the keys that differ between replicas or
deployments (the HQ's address and ports, the turret's name) can be given as
``--hq-address`` flags or ``GTURRET_HQ_ADDRESS`` variables: a flag wins over the
environment, the environment over the file. Each value is checked here, in one line
naming the flag or variable it came from, before the config's own checks run on the
merged keys. It must never read the config file itself (that is :mod:`gturret.config`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gturret.errors import UsageError


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError(f"must be a port between 1 and 65535, not {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class Override:
    """A config key that a flag and an environment variable may set."""

    key: str
    metavar: str
    parse: Callable[[str], Any]
    description: str

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def variable(self) -> str:
        return "GTURRET_" + self.key.upper()


OVERRIDES = (
    Override("hq_address", "HOST", _text, "the HQ's host name or address"),
    Override("hq_publisher", "PORT", _port, "the HQ's command (PUB) port"),
    Override("hq_rc", "PORT", _port, "the HQ's result (PULL) port"),
    Override("name", "NAME", _text, "this turret's name in the HQ's reports"),
)

#: Shown under the group's title in ``gturret --help``.
OVERRIDES_HELP = (
    "these set config keys over the config file, so one config serves every replica;\n"
    "a flag wins over its GTURRET_* environment variable, which wins over the file"
)


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--hq-address``-style flags, as a group of their own in ``--help``."""
    group = parser.add_argument_group("config overrides", OVERRIDES_HELP)
    for override in OVERRIDES:
        group.add_argument(
            override.flag,
            dest=override.key,
            metavar=override.metavar,
            help=f"{override.description} (config key {override.key!r}, env {override.variable})",
        )


def given_overrides(flags: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The keys set by ``flags`` (parsed arguments, by key) or ``environ``, checked;
    a flag first."""
    found = {}
    for override in OVERRIDES:
        given, origin = flags.get(override.key), override.flag
        if given is None:
            given, origin = environ.get(override.variable), override.variable
        if given is None:
            continue
        try:
            found[override.key] = override.parse(given)
        except ValueError as exc:
            raise UsageError(f"{origin}: {exc}") from None
    return found


def export(overrides: Mapping[str, Any]) -> None:
    """Put the overrides in this process's environment, so that a ``--processes``
    worker, which loads the config again with ``given_overrides({}, os.environ)``,
    gets the same keys as its parent."""
    for override in OVERRIDES:
        if override.key in overrides:
            os.environ[override.variable] = str(overrides[override.key])
