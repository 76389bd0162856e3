"""Fixtures: a fake OCT HQ on real sockets, real turret processes, a
gturret.http client for the module's own ``base_url`` fixture, and its two ways of
reading HTTP/1.1 responses.

The helpers themselves live in ``tests/support/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gturret.http import Client, _connection
from tests.support.docker_engine import built_image, engine
from tests.support.fake_hq import FakeHQ
from tests.support.turret_process import TurretProcess


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This checkout's image, built once a run (``make test-system``'s container
    tests share it), on a Docker engine started for the run if none answered."""
    with engine(tmp_path_factory.mktemp("engine")), built_image() as tag:
        yield tag


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


@pytest.fixture
def client(base_url: str) -> Iterator[Client]:
    """A fresh gturret.http client on the server the test module serves as
    ``base_url``, closed after the test: no pooled connection outlives it."""
    with Client(base_url, timeout=10.0) as c:
        yield c


@pytest.fixture(params=["compiled", "python"])
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """gturret.http reads plain HTTP/1.1 responses by its compiled fast path, or by llhttp
    in Python as where no C compiler built it: a test module that uses this (``pytestmark
    = pytest.mark.usefixtures("read_path")``) runs every test both ways."""
    if request.param == "python":
        monkeypatch.setattr(_connection, "roundtrip", None)
        return "python"
    if _connection._compiled_roundtrip is None:
        pytest.fail(
            "gturret.http's compiled fast path (gturret/http/_fastpath.c) was not built: "
            "install gcc and the Python headers, then `make install`"
        )
    monkeypatch.setattr(_connection, "roundtrip", _connection._compiled_roundtrip)
    return "compiled"
