"""Machines for the multi-machine tests: Linux network namespaces joined by veth pairs.

Each test gets an HQ host and turret hosts of its own, every turret host wired to the
HQ host by its own veth pair on its own /24 (10.201.k.0; namespaces keep the same
addresses of two tests apart), so traffic between them
crosses a real network interface (one that a test can take down) and never leaves
the namespaces the test made. Names carry the test process's pid and a counter, so
parallel and leftover runs never collide; everything is removed at the end.

Needs root and iproute2; without them the test fails under CI and is skipped
elsewhere (tests/support/peers.py).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.peers import unavailable

_networks = itertools.count()
WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class Host:
    """One namespace: a machine with its own interfaces and addresses."""

    namespace: str
    #: This host's address on its link to the HQ host (the HQ host: unused).
    address: str
    #: The address of the HQ host as this host reaches it.
    hq_address: str
    #: The interface, inside this namespace, that carries its link to the HQ host.
    interface: str

    def command(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *args]

    def link(self, up: bool) -> None:
        """Take this host's link to the HQ host down, or bring it back."""
        _ip("-n", self.namespace, "link", "set", self.interface, "up" if up else "down")


class HostProcess:
    """A process on a host; its output goes to a file the test reads."""

    def __init__(self, host: Host, args: list[str], log_path: Path, cwd: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            host.command(args),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = WAIT_S) -> None:
        """Wait until the process has written ``text``: a condition, never a fixed sleep."""
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in {self.log_path.name}:\n{self.log}")
            time.sleep(0.05)

    def wait(self, timeout: float = WAIT_S) -> int:
        return self.proc.wait(timeout)

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signum)
            self.proc.wait(WAIT_S)

    def close(self) -> None:
        self.kill()
        self._log.close()


@contextmanager
def network(turret_hosts: int) -> Iterator[tuple[Host, list[Host]]]:
    """An HQ host and ``turret_hosts`` turret hosts, each wired to the HQ host."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        unavailable("network namespaces need root and iproute2 (`apt-get install iproute2`)")
    tag = f"{os.getpid() % 100_000}x{next(_networks)}"
    hq = Host(f"gthq{tag}", "", "", "")
    made = [hq.namespace]
    turrets = []
    try:
        _ip("netns", "add", hq.namespace)
        _ip("-n", hq.namespace, "link", "set", "lo", "up")
        for k in range(turret_hosts):
            subnet = f"10.201.{k}"
            host = Host(f"gtt{tag}k{k}", f"{subnet}.2", f"{subnet}.1", f"t{tag}k{k}")
            _ip("netns", "add", host.namespace)
            made.append(host.namespace)
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            hq_side = f"h{tag}k{k}"
            _ip(
                "link", "add", hq_side, "netns", hq.namespace,
                "type", "veth", "peer", "name", host.interface, "netns", host.namespace,
            )  # fmt: skip
            _ip("-n", hq.namespace, "addr", "add", f"{host.hq_address}/24", "dev", hq_side)
            _ip("-n", hq.namespace, "link", "set", hq_side, "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", host.interface)
            _ip("-n", host.namespace, "link", "set", host.interface, "up")
            turrets.append(host)
        yield hq, turrets
    finally:
        for namespace in reversed(made):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise AssertionError(f"ip {' '.join(args)}: {done.stderr.strip()}")
