"""The image, and deploy/stack.yaml on a real single-node swarm (``make test-system``).

One image build (the Debian base cached), one stack of 4 turret replicas and the demo
target, then our HQ as a container on the stack's network, as docs/containers.md tells
a user to run it: the exit status is the verdict. Everything made here is removed,
also on failure (see ``tests/support/docker_engine.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.docker_engine import (
    docker,
    give_to_image_user,
    remove_stack,
    swarm,
    unique,
)
from tests.support.peers import ROOT, unavailable
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(900)]

TURRETS = 4
RUN_TIME = "6s"


@pytest.fixture(scope="module")
def stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """deploy/stack.yaml deployed with keys of its own; its name, keys folder, start time."""
    folder = tmp_path_factory.mktemp("stack")
    keys = folder / "keys"
    (keys / "turrets").mkdir(parents=True)
    for name in ("hq", "turret"):
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "gturret-keys"), "--dir", str(keys), name],
            check=True,
            capture_output=True,
        )
    (keys / "turrets" / "turret.key").write_bytes((keys / "turret.key").read_bytes())
    give_to_image_user(folder)
    name = unique("stack").replace("-", "_")
    env = {**os.environ, "GTURRET_IMAGE": image, "GTURRET_KEYS": str(keys)}
    with swarm():
        deployed_at = time.time()
        try:
            subprocess.run(
                ["docker", "stack", "deploy", "-c", str(ROOT / "deploy" / "stack.yaml"), name],
                check=True,
                capture_output=True,
                env=env,
                timeout=120,
            )
            yield {"name": name, "keys": str(keys), "deployed_at": str(deployed_at)}
        finally:
            remove_stack(name)


def hq_command(image: str, stack: dict[str, str], out: Path, *hq_args: str) -> list[str]:
    """``docker run`` of our HQ on the stack's network as ``hq``, as the docs give it."""
    return [
        "docker", "run", "--rm", "--name", unique("hq"),
        "--network", f"{stack['name']}_net", "--network-alias", "hq",
        "-v", f"{stack['keys']}:/keys:ro", "-v", f"{out}:/out",
        image,
        "gturret-hq", "--bind", "0.0.0.0", "--pub", "5000", "--rc", "5001",
        "--turrets", str(TURRETS), "--wait-timeout", "120s", "--run-time", RUN_TIME,
        "--secret-key", "/keys/hq.key_secret", "--turret-keys", "/keys/turrets",
        "--json", "/out/summary.json", *hq_args,
    ]  # fmt: skip


def run_hq(image: str, stack: dict[str, str], tmp_path: Path, *hq_args: str):  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.mkdir()
    give_to_image_user(out)
    done = subprocess.run(
        hq_command(image, stack, out, *hq_args), capture_output=True, text=True, timeout=300
    )
    summary = out / "summary.json"
    return done, json.loads(summary.read_text()) if summary.exists() else None


def test_the_image_runs_each_command_as_a_non_root_user(image: str) -> None:
    assert docker("run", "--rm", image, "gturret", "--version").stdout.startswith("gturret ")
    assert "usage: gturret-hq" in docker("run", "--rm", image, "gturret-hq", "--help").stdout
    assert docker("run", "--rm", image, "id", "-u").stdout.strip() == "10001"
    labels = json.loads(
        docker("image", "inspect", "--format", "{{json .Config.Labels}}", image).stdout
    )
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert labels["org.opencontainers.image.version"]


def test_compose_runs_a_test_on_one_host_and_the_turrets_leave(image: str, tmp_path: Path) -> None:
    """deploy/compose.yaml as docs/containers.md gives it (a 10 s test; before
    the stack's, whose turrets would share the machine's two cores): the HQ's exit
    status, every result of 4 turrets, and the turrets gone at --kill-turrets."""
    compose = compose_command()
    out = tmp_path / "out"
    out.mkdir()
    give_to_image_user(out)
    project = unique("compose").replace("-", "")
    env = {**os.environ, "GTURRET_IMAGE": image, "GTURRET_OUT": str(out), "GTURRET_RUN_TIME": "10s"}
    base = [*compose, "-f", str(ROOT / "deploy" / "compose.yaml"), "-p", project]
    try:
        done = subprocess.run(
            [*base, "up", "--scale", f"turret={TURRETS}", "--exit-code-from", "hq"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert len(summary["results_by_turret"]) == TURRETS
        assert all(row["lost"] == 0 for row in summary["delivery"]), summary["delivery"]
    finally:
        subprocess.run([*base, "down"], capture_output=True, env=env, timeout=120)


def compose_command() -> list[str]:
    """``docker compose`` where the CLI has it, else Debian's ``docker-compose`` 1.29."""
    if docker("compose", "version", check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    unavailable("no docker compose or docker-compose: run `make test-system` (it installs them)")


def test_a_stack_of_four_turrets_passes_with_every_result(
    image: str, stack: dict[str, str], tmp_path: Path
) -> None:
    done, summary = run_hq(image, stack, tmp_path, "--threshold", "error_rate<1%")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(summary["results_by_turret"]) == [f"turret-{n}" for n in range(1, 5)]
    assert all(count > 0 for count in summary["results_by_turret"].values())
    assert all(row["lost"] == 0 for row in summary["delivery"]), summary["delivery"]
    _record_time_to_first_result(stack, summary)


def _record_time_to_first_result(stack: dict[str, str], summary: dict) -> None:  # type: ignore[type-arg]
    """docs/containers.md's figure: `docker stack deploy` → the HQ's first results (the
    start time plus the end of the first second that holds results)."""
    started = datetime.fromisoformat(summary["test"]["started_at"].replace("Z", "+00:00"))
    first = next(point["second"] for point in summary["time_series"] if point["tx"])
    seconds = started.timestamp() + first + 1 - float(stack["deployed_at"])
    print(f"\ndocker stack deploy → first results at the HQ: {seconds:.1f} s")


def test_a_failing_threshold_exits_1(image: str, stack: dict[str, str], tmp_path: Path) -> None:
    done, summary = run_hq(image, stack, tmp_path, "--threshold", "tx_per_s>=1000000")
    assert done.returncode == 1, done.stdout + done.stderr
    assert not summary["verdict"]["passed"]


def test_a_turret_container_killed_mid_run_is_named_by_the_verdict(
    image: str, stack: dict[str, str], tmp_path: Path
) -> None:
    service = f"{stack['name']}_turret"
    victim = docker("ps", "--filter", f"name={service}.2.", "--format", "{{.ID}}").stdout.split()[0]
    fired_before = _fired(victim)
    out = tmp_path / "out"
    out.mkdir()
    give_to_image_user(out)
    hq = subprocess.Popen(
        hq_command(image, stack, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_until(lambda: _fired(victim) > fired_before, "turret-2 firing", 120)
        docker("kill", victim)
        output, _ = hq.communicate(timeout=300)
    finally:
        if hq.poll() is None:
            hq.kill()
            hq.wait()
    assert hq.returncode == 1, output
    assert "turret turret-2 (" in output, output


def _fired(container: str) -> int:
    """How many tests the turret in ``container`` has opened fire for."""
    logs = docker("logs", container)
    return (logs.stdout + logs.stderr).count("open fire:")


NAP = """
import time
from gturret import Transaction as Base

class Transaction(Base):
    def run(self):
        time.sleep(0.1)
"""


def _turret_folder(tmp_path: Path, **settings: object) -> Path:
    """A folder a turret container mounts at /config: a script and its config."""
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "nap.py").write_text(NAP)
    config = {"name": "boxed", "canons": 2, "script": "nap.py", "hq_address": "hq",
              "hq_publisher": 5000, "hq_rc": 5001, **settings}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _said_once(done: subprocess.CompletedProcess[str], line: str) -> str:
    """What the container printed (``docker logs`` shows the same), holding ``line``."""
    output = done.stdout + done.stderr
    assert output.count(line) == 1, output
    assert "Traceback" not in output, output
    return output


def test_no_config_mounted_is_one_line_and_exit_2(image: str) -> None:
    done = docker("run", "--rm", image, "gturret", "/config/config.json", check=False)
    assert done.returncode == 2
    _said_once(done, "/config/config.json: no such config file")


def test_a_turret_whose_hq_never_answers_leaves_in_one_line(image: str, tmp_path: Path) -> None:
    folder = _turret_folder(tmp_path, hq_wait=2)
    give_to_image_user(folder)
    done = docker(
        "run", "--rm", "--network", "none", "-v", f"{folder}:/config:ro",
        image, "gturret", "/config/config.json", timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    _said_once(done, "no HQ answered at tcp://hq:5000 within 2s (hq_wait): exiting")


def test_an_hq_short_of_turrets_fails_in_one_line(image: str) -> None:
    done = docker(
        "run", "--rm", image, "gturret-hq", "--turrets", "2", "--wait-timeout", "2s",
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    _said_once(done, "only 0 of 2 turrets reported within 2s (--wait-timeout)")


def test_a_turret_key_the_hq_does_not_list_is_refused_in_one_line(
    image: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    (keys / "listed").mkdir(parents=True)
    for name in ("hq", "stranger", "friend"):
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "gturret-keys"), "--dir", str(keys), name],
            check=True, capture_output=True,
        )  # fmt: skip
    (keys / "listed" / "friend.key").write_bytes((keys / "friend.key").read_bytes())
    folder = _turret_folder(
        tmp_path, hq_public_key="keys/hq.key", turret_secret_key="keys/stranger.key_secret"
    )
    shutil.copytree(keys, folder / "keys")
    give_to_image_user(folder)
    network, hq = unique("keys-net"), unique("hq")
    docker("network", "create", network)
    try:
        docker(
            "run", "-d", "--name", hq, "--network", network, "--network-alias", "hq",
            "-v", f"{folder}/keys:/keys:ro", image,
            "gturret-hq", "--bind", "0.0.0.0", "--pub", "5000", "--rc", "5001",
            "--turrets", "1", "--wait-timeout", "60s", "--run-time", "2s",
            "--secret-key", "/keys/hq.key_secret", "--turret-keys", "/keys/listed",
        )  # fmt: skip
        done = docker(
            "run", "--rm", "--network", network, "-v", f"{folder}:/config:ro",
            image, "gturret", "/config/config.json", timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 2
        _said_once(done, "refused this turret's key (")
    finally:
        docker("rm", "-f", hq, check=False)
        docker("network", "rm", network, check=False)
