"""gturret driven by the real OCT HQ (PyPI ``oct`` 0.4.12 in its own venv).

Each test makes a project with ``oct new-project``, starts real ``gturret`` processes,
runs ``oct run`` and reads what the HQ stored in its SQLite database: the peer users
actually run, not a model of it.
"""

from __future__ import annotations

import json
import pkgutil
import re
import subprocess
from importlib import import_module

import pytest

from gturret import octcompat
from tests.support.oct_hq import OctProject, OctRun
from tests.support.peers import OCT_VENV, peer_program

pytestmark = pytest.mark.system

STATUS_IN_TEXT = """
    import time
    from oct_turrets.base import BaseTransaction
    from oct_turrets.tools import CustomTimer

    class Transaction(BaseTransaction):
        def __init__(self, config, context=None):
            super().__init__(config, context)
            self.runs = 0

        def run(self):
            self.runs += 1
            with CustomTimer(self, "status_check"):
                time.sleep(0.01)
            if self.runs % 2:
                raise ValueError("HTTP status 503")
"""

PID_TIMER = """
    import os, time
    from oct_turrets.base import BaseTransaction
    from oct_turrets.tools import CustomTimer

    class Transaction(BaseTransaction):
        def run(self):
            with CustomTimer(self, f"pid {os.getpid()}"):
                time.sleep(0.01)
"""

#: The reference turret's own engine: threads and sockets, not for scripts.
ENGINE_MODULES = {"turret", "cannon", "start_turret"}


def turret_uuid(log: str) -> str:
    match = re.search(r"turret 'navigation' \(([0-9a-f-]{36})\) ready", log)
    assert match, log
    return match.group(1)


def assert_stored(run: OctRun, uuid: str) -> list[dict]:
    """The run ended well and stored results under our one turret."""
    assert run.returncode == 0, run.output
    assert "Traceback" not in run.output, run.output
    (turret,) = run.turrets()
    assert turret["uuid"] == uuid and turret["name"] == "navigation" and turret["cannons"] == 5
    results = run.results()
    assert len(results) > 50, run.output
    assert {row["turret_name"] for row in results} == {"navigation"}
    return results


def test_results_stored_intact_over_two_runs_and_the_hq_builds_its_report(spawn_turret, tmp_path):
    project = OctProject(tmp_path / "project", STATUS_IN_TEXT)
    turret = spawn_turret(str(project.turret_config))
    first = project.run(report=True)
    uuid = turret_uuid(turret.log)
    results = assert_stored(first, uuid)
    errors = {row["error"] for row in results}
    assert errors == {"", "HTTP status 503"}, "results with 'status' in them were misfiled"
    for row in results:
        assert set(json.loads(row["custom_timers"])) == {"status_check"}
    report = (first.folder / "results.html").read_text()
    assert "navigation" in report and uuid in report
    assert sorted(p.name for p in first.folder.glob("status_check_*.svg")) == [
        "status_check_response_times.svg",
        "status_check_response_times_intervals.svg",
        "status_check_throughput.svg",
    ]
    second = project.run()
    assert_stored(second, uuid)
    assert turret.proc.poll() is None, "the turret outlives its HQ, ready for the next one"
    assert "ERROR" not in turret.log, turret.log


def test_a_fleet_of_two_processes_is_one_turret_to_the_hq(spawn_turret, tmp_path):
    project = OctProject(tmp_path / "project", PID_TIMER)
    turret = spawn_turret(str(project.turret_config), "--processes", "2")
    run = project.run()
    results = assert_stored(run, turret_uuid(turret.log))
    timers = {name for row in results for name in json.loads(row["custom_timers"])}
    assert len(timers) == 2, f"results from both workers: {timers}"


def test_a_package_made_by_oct_pack_turrets_runs(spawn_turret, tmp_path):
    project = OctProject(tmp_path / "project", STATUS_IN_TEXT)
    package = project.pack()
    turret = spawn_turret("--tar", str(package))
    run = project.run()
    assert_stored(run, turret_uuid(turret.log))


def test_the_script_facing_modules_are_those_of_the_real_oct_turrets():
    python = peer_program(OCT_VENV, "python")
    listing = subprocess.run(
        [
            python,
            "-c",
            "import json, pkgutil, importlib, types, oct_turrets\n"
            "mods = {m.name for m in pkgutil.iter_modules(oct_turrets.__path__)}\n"
            "names = {}\n"
            "for m in mods:\n"
            "    module = importlib.import_module('oct_turrets.' + m)\n"
            "    names[m] = sorted(n for n, v in vars(module).items() if not n.startswith('_')"
            " and not isinstance(v, types.ModuleType)"
            " and getattr(v, '__module__', module.__name__) == module.__name__)\n"
            "print(json.dumps({'version': oct_turrets.__version__, 'names': names}))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    real = json.loads(listing.stdout.splitlines()[-1])
    assert real["version"] == octcompat.__version__
    assert set(real["names"]) - ENGINE_MODULES == set(octcompat.MODULES)
    ours = {m.name for m in pkgutil.iter_modules(octcompat.__path__)}
    assert ours == set(octcompat.MODULES)
    for name in ("config", "exceptions", "utils"):
        module = import_module(f"gturret.octcompat.{name}")
        missing = [n for n in real["names"][name] if not hasattr(module, n)]
        assert not missing, f"oct_turrets.{name} lacks {missing}"
    assert hasattr(import_module("gturret.octcompat.base"), "BaseTransaction")
    assert hasattr(import_module("gturret.octcompat.tools"), "CustomTimer")


@pytest.fixture(autouse=True)
def _needs_oct() -> None:
    peer_program(OCT_VENV, "oct")


FEEDING = """
    import time
    from oct_turrets.base import BaseTransaction
    from oct_turrets.tools import CustomTimer

    class Transaction(BaseTransaction):
        def run(self):
            row = self.feed("users")
            with CustomTimer(self, "user " + row["login"]):
                time.sleep(0.01)
"""


def _with_feeder(project: OctProject, scope: str) -> None:
    """Three users beside the project's script, fed to its turret's config."""
    (project.folder / "users.csv").write_text("login\nann\nbob\ncid\n")
    config = json.loads(project.turret_config.read_text())
    config["feeders"] = {"users": {"file": "users.csv", "scope": scope}}
    project.turret_config.write_text(json.dumps(config))


def test_a_turret_feeder_feeds_the_canons_under_the_reference_hq(spawn_turret, tmp_path):
    project = OctProject(tmp_path / "project", FEEDING)
    _with_feeder(project, "turret")
    turret = spawn_turret(str(project.turret_config))
    results = assert_stored(project.run(), turret_uuid(turret.log))
    timers = {name for row in results for name in json.loads(row["custom_timers"])}
    assert timers == {"user ann", "user bob", "user cid"}


def test_a_fleet_feeder_under_the_reference_hq_stops_its_turret_in_one_line(spawn_turret, tmp_path):
    """oct 0.4.12's start order cannot say where a turret sits in the fleet."""
    project = OctProject(tmp_path / "project", FEEDING)
    _with_feeder(project, "fleet")
    turret = spawn_turret(str(project.turret_config))
    project.run()
    assert turret.wait(30) == 1, turret.log
    assert "feeder 'users' has scope fleet: it needs gturret's HQ (gturret-hq)" in turret.log
