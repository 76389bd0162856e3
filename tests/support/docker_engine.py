"""A Docker engine, a single-node swarm and the gturret image, for the container tests.

Each is made only where missing and removed afterwards by whoever made it: the
engine this module started is stopped, the swarm it initialised is left, the image
tags it built are removed (the Debian base, ``gturret-base:bookworm``, is kept: it
is the build's cache, made once by ``deploy/build-image.sh``). Everything a test
names is prefixed with ``PREFIX`` and a random part, so leftovers are recognisable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.peers import ROOT, unavailable
from tests.support.waiting import wait_until

PREFIX = "gturret-test"
#: Seconds dockerd gets to answer once started (it sets up its networks first).
ENGINE_START_S = 60
#: The image's user: files a container must read or write are made its own.
IMAGE_UID = 10001


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; its output as text. ``check``: a failure raises with stderr."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


def _answers() -> bool:
    return docker("info", timeout=30, check=False).returncode == 0


@contextmanager
def engine(tmp: Path) -> Iterator[None]:
    """A Docker engine that answers; started here (and stopped after) if none does."""
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        unavailable("no docker/dockerd: run `make test-system` (it installs Debian's docker.io)")
    if _answers():
        yield
        return
    log = (tmp / "dockerd.log").open("wb")
    daemon = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ENGINE_START_S
        while not _answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"dockerd did not answer within {ENGINE_START_S}s:\n"
                    + (tmp / "dockerd.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield
    finally:
        daemon.terminate()
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)
        log.close()


@contextmanager
def swarm() -> Iterator[None]:
    """A swarm this engine manages; initialised here (and left after) if it had none,
    with the bridge network that swarm init adds, ``docker_gwbridge``."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if state == "active":
        yield
        return
    had_gateway = not network_gone("docker_gwbridge")
    docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        docker("swarm", "leave", "--force", check=False)
        if not had_gateway:
            docker("network", "rm", "docker_gwbridge", check=False)


@contextmanager
def built_image() -> Iterator[str]:
    """The image of this checkout, built as ``make image`` does, under a tag of its own."""
    tag = f"{PREFIX}:{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PIP": str(ROOT / ".venv" / "bin" / "pip")}
    subprocess.run([str(ROOT / "deploy" / "build-image.sh"), tag], check=True, env=env, timeout=900)
    try:
        yield tag
    finally:
        docker("rmi", "--force", tag, check=False)


def unique(what: str) -> str:
    """A name for something a test makes (a stack, a network, a container)."""
    return f"{PREFIX}-{what}-{uuid.uuid4().hex[:6]}"


def give_to_image_user(path: Path) -> None:
    """Make ``path`` and all under it the image user's, modes kept (keys stay 0600)."""
    for item in [path, *path.rglob("*")]:
        os.chown(item, IMAGE_UID, IMAGE_UID)


def network_gone(name: str) -> bool:
    return name not in docker("network", "ls", "--format", "{{.Name}}").stdout.split()


def remove_stack(name: str) -> None:
    """``docker stack rm``, then wait until its network is gone (removal is asynchronous,
    and a stack deployed again meanwhile would find a network being removed)."""
    docker("stack", "rm", name, check=False)
    wait_until(lambda: network_gone(f"{name}_net"), f"stack {name}'s network removed", 120)
