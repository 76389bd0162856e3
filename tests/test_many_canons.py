"""Thousands of HTTP canons for real: a turret under a soft limit of 1,024 open files.

A real ``gturret --standalone`` process (its soft RLIMIT_NOFILE set to 1,024, the
hard one left as it is) runs 2,000 canons, each with its own ``requests`` Session,
against the demo target (gevent's WSGI server in its own process) reached by name
(``localhost``, through the shared resolver). Every canon must complete a
transaction with no error, and the verdict must say so; a run where canons starve
must fail, naming them.
"""

from __future__ import annotations

import json
import resource
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.demo_target import demo_target
from tests.support.turret_process import GTURRET, write_turret

pytestmark = pytest.mark.system

CANONS = 2000

REQUESTS_CANON = """
    import time
    from gturret import Transaction as Base
    from gturret.requests_tuning import new_session

    class Transaction(Base):
        def __init__(self, config, context=None):
            super().__init__(config, context)
            self.session = new_session()

        def run(self):
            self.session.get(self.config["target"], timeout=60).raise_for_status()

        def tear_down(self):
            time.sleep(3)
"""


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with demo_target() as port:
        yield f"http://localhost:{port}/"


def soft_limit_1024() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


def test_two_thousand_requests_canons_all_complete_under_a_soft_limit_of_1024(tmp_path, target):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * CANONS + 100:
        pytest.fail(f"this machine's hard open-files limit ({hard}) is below the test's need")
    config = write_turret(tmp_path, REQUESTS_CANON, None, canons=CANONS, rampup=2, target=target)
    report = tmp_path / "report.json"
    done = subprocess.run(
        [*GTURRET, str(config), "--standalone", "--run-time", "10s", "--json", str(report)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=soft_limit_1024,
    )
    assert "open-files limit raised from 1024 to" in done.stderr, done.stderr
    document = json.loads(report.read_text())
    assert document["transaction"]["errors"] == 0, document["errors"]
    assert document["canons"]["spawned"] == document["canons"]["started"] == CANONS
    assert document["canons"]["never_completed"] == document["canons"]["never_started"] == 0
    assert f"canons: {CANONS} spawned, 0 never completed a transaction" in done.stdout
    assert done.returncode == 0, done.stdout


def test_canons_that_never_complete_fail_the_run_and_say_where_they_were(tmp_path):
    script = """
        import time
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                time.sleep(60)
    """
    config = write_turret(tmp_path, script, None, canons=20, stop_grace=0.1)
    report = tmp_path / "report.json"
    done = subprocess.run(
        [*GTURRET, str(config), "--standalone", "--run-time", "1s", "--json", str(report)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    canons = json.loads(report.read_text())["canons"]
    assert canons["spawned"] == canons["started"] == canons["never_completed"] == 20
    assert canons["killed_at_stop"]["run"]["count"] == 20
    assert canons["killed_at_stop"]["run"]["longest_s"] >= 0.5
    assert (
        "canons: 20 spawned, 20 never completed a transaction; killed at the stop: 20 in run"
        in (done.stdout)
    )
    assert "20 of 20 canons never completed a transaction (starved" in done.stdout
    assert "; 20 killed at the stop, the longest after" in done.stdout
