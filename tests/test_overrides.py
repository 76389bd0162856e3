"""One config for N replicas: ``--hq-address``-style flags and ``GTURRET_*`` variables.

Real ``gturret`` processes against a fake HQ on real sockets (the status a turret
sends names it) or our real HQ: a flag wins over the environment, the environment
over the file; a bad value is one line naming where it came from. Also how a
containerised turret leaves: after ``hq_wait`` with no HQ, or at the HQ's
``--kill-turrets``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.fake_hq import FakeHQ
from tests.support.hq_process import HQProcess
from tests.support.turret_process import run_cli, write_turret

NAP = """
    import time
    from gturret import Transaction as Base, CustomTimer

    class Transaction(Base):
        def run(self):
            with CustomTimer(self, "nap"):
                time.sleep(0.01)
"""

#: A port nothing listens on: the config file's, which the overrides must replace.
NOWHERE = 1


def test_flags_win_over_the_environment_which_wins_over_the_file(
    tmp_path: Path, spawn_turret, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHQ() as hq:
        config = write_turret(tmp_path, NAP, (NOWHERE, NOWHERE), hq_address="no-such-host.invalid")
        monkeypatch.setenv("GTURRET_HQ_ADDRESS", "127.0.0.1")
        monkeypatch.setenv("GTURRET_HQ_PUBLISHER", str(hq.pub_port))
        monkeypatch.setenv("GTURRET_HQ_RC", str(NOWHERE))
        monkeypatch.setenv("GTURRET_NAME", "from-the-environment")
        spawn_turret(str(config), "--hq-rc", str(hq.rc_port), "--name", "from-the-flag")
        status = hq.register()
    assert status["turret"] == "from-the-flag"


def test_the_environment_wins_over_the_file(
    tmp_path: Path, spawn_turret, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHQ() as hq:
        config = write_turret(tmp_path, NAP, (NOWHERE, NOWHERE))
        monkeypatch.setenv("GTURRET_HQ_PUBLISHER", str(hq.pub_port))
        monkeypatch.setenv("GTURRET_HQ_RC", str(hq.rc_port))
        monkeypatch.setenv("GTURRET_NAME", "replica-3")
        spawn_turret(str(config))
        status = hq.register()
    assert status["turret"] == "replica-3"


@pytest.mark.parametrize(
    ("flags", "environment", "line"),
    [
        ([], {"GTURRET_HQ_RC": "abc"}, "GTURRET_HQ_RC: must be a port between 1 and 65535"),
        (["--hq-publisher", "70000"], {}, "--hq-publisher: must be a port between 1 and 65535"),
        (["--name", " "], {}, "--name: must not be empty"),
    ],
)
def test_a_bad_override_is_one_line_naming_its_origin(
    tmp_path: Path, flags: list[str], environment: dict[str, str], line: str, monkeypatch
) -> None:
    config = write_turret(tmp_path, NAP)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    done = run_cli([str(config), *flags], tmp_path)
    assert done.returncode == 2
    errors = [text for text in done.stderr.splitlines() if "error" in text]
    assert len(errors) == 1 and line in errors[0], done.stderr


def test_no_config_mounted_is_one_line(tmp_path: Path) -> None:
    done = run_cli(["/etc/gturret/config.json"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "gturret: error: /etc/gturret/config.json: no such config file"
    )


def test_a_turret_whose_hq_never_answers_exits_after_hq_wait(tmp_path: Path) -> None:
    """Bounded: the turret must be gone well within its 30 s allowance (hq_wait is 1 s;
    the rest is start-up on a loaded machine)."""
    config = write_turret(tmp_path, NAP, (NOWHERE, NOWHERE), hq_wait=1)
    done = run_cli([str(config), "--hq-address", "hq.invalid"], tmp_path, timeout=30)
    assert done.returncode == 1
    assert "no HQ answered at tcp://hq.invalid:1 within 1s (hq_wait): exiting" in done.stderr


def test_kill_turrets_ends_each_turret_with_status_0(tmp_path: Path, spawn_turret) -> None:
    """Its workers load the config with the parent's flags too: their results reach the
    HQ named only by flags, or the verdict would count them lost."""
    hq = HQProcess("--turrets", "1", "--run-time", "1", "--kill-turrets")
    publisher, rc = hq.ports()
    config = write_turret(tmp_path, NAP, (NOWHERE, NOWHERE), canons=4)
    turret = spawn_turret(
        str(config), "--processes", "2", "--hq-publisher", str(publisher), "--hq-rc", str(rc)
    )
    code, out, err = hq.finish()
    assert code == 0, out + err
    started = time.monotonic()
    assert turret.wait(timeout=30) == 0, turret.log
    assert time.monotonic() - started < 30
    assert "killing the turret (kill command)" in turret.log
