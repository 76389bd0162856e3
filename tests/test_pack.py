"""``gturret pack`` and ``gturret --tar`` with requirements, through the real CLI.

The end-to-end test carries a pack from one machine to another (network namespaces,
tests/support/netns.py): its script imports a package that only its requirements
bring (a wheel made here, served to pip from a folder: no index, no internet) and
reads a data file the config declares; the turret installs the requirement into a
venv of its own, runs the test against an HQ on the other host, and a second turret
on that host (two ``--processes`` workers) finds the venv in the cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.netns import HostProcess, network
from tests.support.wheels import probe_wheel

GTURRET = [sys.executable, "-m", "gturret"]
GTURRET_HQ = [str(Path(sys.executable).with_name("gturret-hq"))]
PUB, RC = 5600, 5601

SCRIPT = """\
import time
from pathlib import Path

import gturret_probe_dep

from gturret import Transaction as Base

WORD = (Path(__file__).parent / "data" / "word.txt").read_text().strip()


class Transaction(Base):
    def run(self):
        time.sleep(0.01)
        if WORD != gturret_probe_dep.WORD:
            raise ValueError(f"{WORD!r} != {gturret_probe_dep.WORD!r}")
"""


def _project(folder: Path, hq_address: str = "127.0.0.1", **extra: Any) -> Path:
    """A turret project: config, script, a data folder and a requirements file."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "word.txt").write_text("kumquat\n")
    (folder / "notes.txt").write_text("not declared: stays out of the pack\n")
    (folder / "v_user.py").write_text(SCRIPT)
    (folder / "requirements.txt").write_text("# what the script imports\ngturret-probe-dep==1.0\n")
    config = {
        "name": "packed turret",
        "canons": 4,
        "rampup": 0,
        "script": "v_user.py",
        "hq_address": hq_address,
        "hq_publisher": PUB,
        "hq_rc": RC,
        "files": ["data"],
        "requirements": "requirements.txt",
        **extra,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def _pack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GTURRET, "pack", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_pack_holds_the_config_the_script_its_files_and_requirements(tmp_path: Path) -> None:
    config = _project(tmp_path / "project")
    done = _pack(str(config), "-o", str(tmp_path / "out" / "turret.tar.gz"))
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    with tarfile.open(tmp_path / "out" / "turret.tar.gz") as tar:
        names = sorted(tar.getnames())
        packed = json.loads(tar.extractfile("config.json").read())  # type: ignore[union-attr]
        requirements = tar.extractfile("requirements.txt").read().decode()  # type: ignore[union-attr]
    assert names == ["config.json", "data/word.txt", "requirements.txt", "v_user.py"]
    assert packed["requirements"] == "requirements.txt" and packed["files"] == ["data"]
    assert packed["name"] == "packed turret" and packed["canons"] == 4
    assert requirements == "gturret-probe-dep==1.0\n"


def test_without_an_output_the_pack_is_named_after_the_turret(tmp_path: Path) -> None:
    config = _project(tmp_path / "project")
    done = subprocess.run(
        [*GTURRET, "pack", str(config)], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "packed-turret.tar.gz").is_file()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"files": ["../outside.txt"]}, "'files' entry '../outside.txt' is not inside"),
        ({"files": ["missing.csv"]}, "'files' entry 'missing.csv' does not exist"),
        ({"files": "data"}, "'files' must be a list of paths"),
        ({"requirements": ["--index-url=http://example.invalid/ x"]}, "a pip option"),
        ({"requirements": 3}, "'requirements' must be a list of requirement lines"),
        ({"script": "broken.py"}, "broken.py:2: syntax error"),
    ],
)
def test_a_bad_pack_is_refused_in_one_line(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    (tmp_path / "outside.txt").write_text("x")
    config = _project(tmp_path / "project", **change)
    (tmp_path / "project" / "broken.py").write_text("import time\ndef run(:\n")
    done = _pack(str(config), "-o", str(tmp_path / "turret.tar.gz"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "turret.tar.gz").exists()


def test_requirements_that_cannot_be_installed_stop_the_turret_in_one_line(
    tmp_path: Path,
) -> None:
    config = _project(tmp_path / "project")
    env = {**os.environ, "PIP_NO_INDEX": "1", "GTURRET_CACHE": str(tmp_path / "cache")}
    env.pop("PIP_FIND_LINKS", None)
    done = subprocess.run(
        [*GTURRET, str(config)], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("gturret: error:")]
    assert len(errors) == 1 and "could not install its requirements" in errors[0], done.stderr
    assert "gturret-probe-dep" in errors[0]
    assert not list((tmp_path / "cache" / "venvs").iterdir())


def test_a_pack_runs_on_another_machine_with_its_requirements(tmp_path: Path) -> None:
    wheels = probe_wheel(tmp_path / "wheels").parent
    with network(1) as (hq_host, [turret_host]):
        config = _project(tmp_path / "project", hq_address=turret_host.hq_address)
        pack = tmp_path / "turret.tar.gz"
        assert _pack(str(config), "-o", str(pack)).returncode == 0
        env = {
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(wheels),
            "GTURRET_CACHE": str(tmp_path / "cache"),
        }
        logs = []
        for run, extra in enumerate(([], ["--processes", "2"])):
            hq = HostProcess(
                hq_host,
                [*GTURRET_HQ, "--bind", "0.0.0.0", "--pub", str(PUB), "--rc", str(RC),
                 "--run-time", "2s", "--wait-timeout", "3m", "--no-progress",
                 "--json", str(tmp_path / f"hq-{run}.json")],
                tmp_path / f"hq-{run}.log",
                tmp_path,
            )  # fmt: skip
            turret = HostProcess(
                turret_host,
                [
                    "env",
                    *(f"{k}={v}" for k, v in env.items()),
                    *GTURRET,
                    "--tar",
                    str(pack),
                    *extra,
                ],
                tmp_path / f"turret-{run}.log",
                tmp_path,
            )
            try:
                assert hq.wait(timeout=240) == 0, hq.log + turret.log
                logs.append(turret.log)
                report = json.loads((tmp_path / f"hq-{run}.json").read_text())
                assert report["transaction"]["count"] > 0 and report["transaction"]["errors"] == 0
            finally:
                turret.close()
                hq.close()
    assert "installing gturret-probe-dep==1.0" in logs[0], logs[0]
    assert "cached venv" in logs[1] and "installing" not in logs[1], logs[1]


def test_a_signal_during_a_pack_leaves_the_previous_archive_and_exits_130(tmp_path: Path) -> None:
    """A pack is built beside its place and renamed whole: SIGTERM while it is being
    written (64 MiB of random data to compress: seconds) leaves the previous archive as
    it was, no partial file, and a status that says no archive came (130, not 0)."""
    config = _project(tmp_path / "project")
    (tmp_path / "project" / "data" / "noise.bin").write_bytes(os.urandom(64 * 1024 * 1024))
    output = tmp_path / "turret.tar.gz"
    output.write_bytes(b"the previous archive")
    packing = subprocess.Popen(
        [*GTURRET, "pack", str(config), "-o", str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob(".turret.tar.gz.*.partial")):
            assert packing.poll() is None and time.monotonic() < deadline, "no partial pack"
            time.sleep(0.01)
        packing.send_signal(signal.SIGTERM)
        _, stderr = packing.communicate(timeout=60)
    finally:
        packing.kill()
        packing.wait()
    assert packing.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["gturret pack: SIGTERM: no archive written"]
    assert output.read_bytes() == b"the previous archive"
    assert not list(tmp_path.glob(".turret.tar.gz.*"))
