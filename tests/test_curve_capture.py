"""What an eavesdropper on the network sees: with keys, no plaintext at all.

The HQ and a turret run in two network namespaces joined by a veth pair
(``tests/support/capture.py``); every frame on the HQ's side is captured raw. The
same run without keys is captured too and must show every known plaintext: that is
what makes the keyed assertion mean something. Needs root (namespaces, AF_PACKET).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.capture import Namespaces
from tests.support.curve import Keys
from tests.support.turret_process import write_turret

HQ = Path(sys.executable).with_name("gturret-hq")
PUB, RC = 5000, 5001
SCRIPT = """
from gturret import Transaction as Base, CustomTimer
import time

class Transaction(Base):
    def run(self):
        with CustomTimer(self, "MARK-TIMER"):
            time.sleep(0.01)
        raise ValueError("MARK-ERROR " + self.context["mark"])
"""
#: Every one crosses the wire: in commands (context, start), statuses, results.
PLAINTEXTS = [b"MARK-CONTEXT", b"MARK-ERROR", b"MARK-TIMER", b'"start"', b"status_request"]
#: The ZeroMQ greeting's signature: plain in both modes, so the capture saw the link.
ZMTP_SIGNATURE = b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def _captured_run(folder: Path, keyed: bool) -> tuple[bytes, dict[str, object]]:
    """One 1 s test across the veth pair; the captured bytes and the HQ's JSON report."""
    keys = Keys.create(folder / "keys") if keyed else None
    report = folder / "report.json"
    with Namespaces() as net:
        config = write_turret(
            folder,
            SCRIPT,
            (PUB, RC),
            canons=2,
            hq_address=net.hq_address,
            **(keys.turret_config() if keys else {}),
        )
        capture = net.capture(folder / "wire.bin")
        hq_args = [
            *("--bind", net.hq_address, "--pub", str(PUB), "--rc", str(RC), "--run-time", "1"),
            *("--context", '{"mark": "MARK-CONTEXT"}', "--json", str(report), "--no-progress"),
            *(keys.hq_args() if keys else []),
        ]
        hq = net.run(net.hq, [str(HQ), *hq_args], folder / "hq.log", folder)
        turret = net.run(
            net.turret,
            [sys.executable, "-m", "gturret", str(config)],
            folder / "turret.log",
            folder,
        )
        try:
            hq.wait(60)
        finally:
            for process in (hq, turret):
                process.kill()
                process.wait()
            wire = capture.stop()
    assert report.exists(), (folder / "hq.log").read_text()
    return wire, json.loads(report.read_text())


@pytest.mark.parametrize("keyed", [True, False], ids=["with keys", "without keys"])
def test_the_wire_carries_no_plaintext_with_keys(tmp_path: Path, keyed: bool) -> None:
    wire, report = _captured_run(tmp_path, keyed)
    # The test ran across the link, and the script's error text reached the HQ.
    assert report["transaction"]["count"] > 0  # type: ignore[index]
    assert "MARK-ERROR MARK-CONTEXT" in json.dumps(report["errors"])
    assert wire.count(ZMTP_SIGNATURE) >= 2
    assert (b"CURVE" in wire) is keyed
    seen = [text for text in PLAINTEXTS if text in wire]
    assert seen == ([] if keyed else PLAINTEXTS)
