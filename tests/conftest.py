"""Fixtures: a fake OCT HQ on real sockets, and real turret processes.

The helpers themselves live in ``tests/support/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_hq import FakeHQ
from tests.support.turret_process import TurretProcess


@pytest.fixture
def hq() -> Iterator[FakeHQ]:
    fake = FakeHQ()
    yield fake
    fake.close()


@pytest.fixture
def turrets(tmp_path: Path) -> Iterator[list[TurretProcess]]:
    """Start turrets with ``spawn(config_path)``; every one is killed at teardown."""
    started: list[TurretProcess] = []
    yield started
    for turret in started:
        turret.stop()


@pytest.fixture
def spawn_turret(tmp_path: Path, turrets: list[TurretProcess]):  # type: ignore[no-untyped-def]
    def spawn(*args: str) -> TurretProcess:
        turret = TurretProcess(list(args), tmp_path)
        turrets.append(turret)
        return turret

    return spawn
