"""Exposure: a turret opens no listening socket; it only connects to its HQ."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.turret_process import write_turret

LISTEN = "0A"


def listening_inodes() -> set[str]:
    """Inodes of every TCP socket in LISTEN state on this machine."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN:
                inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def test_a_running_turret_listens_on_nothing(hq, spawn_turret, tmp_path):
    script = """
        import time
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                time.sleep(0.01)
    """
    turret = spawn_turret(str(write_turret(tmp_path, script, hq, canons=5)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect(0.3)
    sockets = socket_inodes(turret.proc.pid)
    assert sockets, "the turret should hold its connections to the HQ"
    assert not sockets & listening_inodes()
