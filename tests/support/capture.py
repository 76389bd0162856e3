"""Two network namespaces joined by a veth pair, and a raw capture of what crosses it.

For the tests that look at the bytes on the wire (``tests/test_curve_capture.py``):
the HQ runs in one namespace, the turret in the other, and every frame on the HQ's
veth end is written to a file by an ``AF_PACKET`` socket, opened inside that
namespace by this module run as a script (``ip netns exec NS python -m
tests.support.capture IFACE FILE``). Names carry the pid and a counter, so tests and
other sessions never collide; everything is removed on exit. Needs root.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
ETH_P_ALL = 0x0003
#: Big enough that no message of a test is split between two frames.
MTU = 65000
_serial = itertools.count()


class Namespaces:
    """Namespaces ``hq`` (address ``hq_address``) and ``turret``, joined by a veth pair."""

    def __init__(self) -> None:
        tag = f"gtc{os.getpid()}{next(_serial)}"
        self.hq, self.turret = f"{tag}h", f"{tag}t"
        self.hq_iface, self.turret_iface = f"{tag}x", f"{tag}y"
        self.hq_address, self.turret_address = "10.231.7.1", "10.231.7.2"

    def __enter__(self) -> Namespaces:
        _ip("netns", "add", self.hq)
        try:
            _ip("netns", "add", self.turret)
            _ip("link", "add", self.hq_iface, "type", "veth", "peer", "name", self.turret_iface)
            for ns, iface, address in (
                (self.hq, self.hq_iface, self.hq_address),
                (self.turret, self.turret_iface, self.turret_address),
            ):
                _ip("link", "set", iface, "netns", ns)
                _ip("-n", ns, "link", "set", iface, "mtu", str(MTU), "up")
                _ip("-n", ns, "addr", "add", f"{address}/24", "dev", iface)
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def remove(self) -> None:
        """Delete both namespaces (the veth pair goes with them)."""
        for ns in (self.hq, self.turret):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def run(self, ns: str, command: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
        """Start ``command`` inside namespace ``ns``, its output into ``log``."""
        with log.open("wb") as out:
            return subprocess.Popen(
                ["ip", "netns", "exec", ns, *command],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def capture(self, into: Path) -> Capture:
        """Capture every frame on the HQ's end of the veth pair into ``into``."""
        return Capture(self.hq, self.hq_iface, into)


class Capture:
    """A capture process; ``stop()`` it to have every frame in the file."""

    def __init__(self, ns: str, iface: str, into: Path) -> None:
        self.path = into
        self._process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                sys.executable,
                "-m",
                "tests.support.capture",
                iface,
                str(into),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        ready = self._process.stdout.readline()
        if ready != b"capturing\n":
            self._process.kill()
            raise RuntimeError(f"no capture on {iface} in {ns}: {ready!r}")

    def stop(self) -> bytes:
        """Stop capturing; every frame's bytes, one after the other."""
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(10)
        return self.path.read_bytes()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _capture(iface: str, into: Path) -> None:
    """Write each frame seen on ``iface`` (both ways) to ``into`` until SIGTERM."""
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((iface, 0))
    raw.settimeout(0.05)
    with into.open("wb") as out:
        print("capturing", flush=True)
        while not stopping:
            try:
                out.write(raw.recv(MTU + 100))
            except TimeoutError:
                continue


if __name__ == "__main__":
    _capture(sys.argv[1], Path(sys.argv[2]))
