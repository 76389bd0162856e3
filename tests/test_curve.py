"""CurveZMQ links, end to end with real processes and sockets on 127.0.0.1.

One keyed test run (module fixture) meets every kind of stranger at once: a
``--processes 2`` turret with an accepted key runs the whole test while a
``--processes 2`` turret with an unknown key and a single-process one without keys
try to register, rogue PUSH sockets (plain,
and keyed with an unknown key) send well-formed results, and rogue SUB sockets
listen to the commands. The capture of the bytes on the wire is in
``tests/test_curve_capture.py``; key files and their checks in ``tests/test_keys.py``.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.curve import Keys, RogueListener, RoguePushes, rogue_results
from tests.support.hq_process import HQProcess
from tests.support.peers import free_ports
from tests.support.turret_process import TurretProcess, write_turret

SCRIPT = """
from gturret import Transaction as Base
import time

class Transaction(Base):
    def run(self):
        time.sleep(0.001)
"""
ROGUE_ERROR = "ROGUE-RESULT"
ROGUE_PER_SOCKET = 50
#: The first ten bytes of every ZMTP 3 greeting.
ZMTP_SIGNATURE = b"\xff" + bytes(8) + b"\x7f"
#: A deadline for a turret's start-up (imports, config, sockets) on a loaded machine.
STARTUP_DEADLINE_S = 60


@dataclass
class KeyedRun:
    code: int
    out: str
    err: str
    summary: dict[str, Any]
    unknown_key: TurretProcess
    unknown_key_exit: int | None
    no_keys: TurretProcess
    no_keys_exit: int | None
    good: TurretProcess
    overheard: list[bytes]
    rogue_sent: int


def _turret(folder: Path, pub: int, rc: int, name: str, *args: str, **keys: str) -> TurretProcess:
    folder.mkdir()
    config = write_turret(folder, SCRIPT, (pub, rc), canons=4, name=name, **keys)
    return TurretProcess([str(config), *args], folder)


@pytest.fixture(scope="module")
def keyed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedRun]:
    folder = tmp_path_factory.mktemp("curve")
    keys = Keys.create(folder / "keys")
    summary_path = folder / "summary.json"
    hq = HQProcess("--run-time", "2", "--no-progress", "--json", str(summary_path), *keys.hq_args())
    pub, rc = hq.ports()
    listener = RogueListener(f"tcp://127.0.0.1:{pub}", keys)
    pushes = RoguePushes(
        f"tcp://127.0.0.1:{rc}", keys, rogue_results("good", ROGUE_ERROR, ROGUE_PER_SOCKET)
    )
    started: list[TurretProcess] = []
    try:
        unknown = _turret(
            folder / "unknown",
            pub,
            rc,
            "unknown",
            "--processes",
            "2",
            **keys.turret_config("rogue"),
        )
        plain = _turret(folder / "plain", pub, rc, "plain")
        started += [unknown, plain]
        # Both give up before the good turret exists: had either registered, the HQ
        # (waiting for one turret) would have started the test with it.
        unknown_exit, plain_exit = _exit_status(unknown), _exit_status(plain)
        good = _turret(folder / "good", pub, rc, "good", "--processes", "2", **keys.turret_config())
        started.append(good)
        code, out, err = hq.finish()
    finally:
        pushes.close()
        listener.close()
        for turret in started:
            turret.stop()
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    yield KeyedRun(
        code,
        out,
        err,
        summary,
        unknown,
        unknown_exit,
        plain,
        plain_exit,
        good,
        listener.frames,
        pushes.sent,
    )


def test_a_turret_with_an_accepted_key_runs_a_whole_test(keyed_run: KeyedRun) -> None:
    assert keyed_run.code == 0, keyed_run.err
    assert [turret["name"] for turret in keyed_run.summary["turrets"]] == ["good"]
    assert keyed_run.summary["transaction"]["count"] > 0
    # Both workers' results came over their own keyed sockets, every one of them.
    [row] = keyed_run.summary["delivery"]
    assert row["produced"] == row["received"] and row["lost"] == 0
    assert "over CurveZMQ (1 turret key)" in keyed_run.err


def test_a_turret_with_an_unknown_key_cannot_register(keyed_run: KeyedRun) -> None:
    assert keyed_run.unknown_key_exit == 2
    errors = _error_lines(keyed_run.unknown_key.log)
    assert len(errors) == 1 and "refused this turret's key" in errors[0], keyed_run.unknown_key.log
    assert "is not in" in keyed_run.err and "(--turret-keys)" in keyed_run.err
    assert "unknown" not in keyed_run.summary["results_by_turret"]


def test_a_turret_without_keys_is_told_what_is_missing(keyed_run: KeyedRun) -> None:
    assert keyed_run.no_keys_exit == 2
    errors = _error_lines(keyed_run.no_keys.log)
    # The mismatch itself, or the HQ's close before its mechanism was sent (its I/O
    # thread read the whole greeting at once, on a loaded machine): both name the keys.
    assert len(errors) == 1, keyed_run.no_keys.log
    assert "requires CurveZMQ keys" in errors[0] or "does it require CurveZMQ keys" in errors[0]
    assert "'hq_public_key' and 'turret_secret_key'" in errors[0]
    assert "refused a peer without CurveZMQ keys" in keyed_run.err


def test_rogue_results_change_no_figure(keyed_run: KeyedRun) -> None:
    assert keyed_run.rogue_sent > 0  # queued by ZeroMQ, never delivered
    summary = keyed_run.summary
    assert ROGUE_ERROR not in json.dumps(summary)
    assert summary["transaction"]["errors"] == 0
    assert summary["messages"]["unknown"] == 0
    [row] = summary["delivery"]
    assert summary["transaction"]["count"] == row["produced"]


def test_a_rogue_subscriber_reads_no_command(keyed_run: KeyedRun) -> None:
    assert "open fire" in keyed_run.good.log or "open fire" in keyed_run.err
    assert keyed_run.overheard == []


def test_a_keyed_turret_and_a_plain_hq_each_say_so(tmp_path: Path) -> None:
    keys = Keys.create(tmp_path / "keys")
    pub, rc = free_ports(2)
    turret = _turret(tmp_path / "turret", pub, rc, "keyed", **keys.turret_config())
    try:
        # --wait-timeout counts from the HQ's bind: with the turret ready first, its 3 s
        # cover a reconnection and a handshake, not a turret's start-up on a loaded
        # machine (which took longer than 3 s there, and the turret never met the HQ).
        turret.wait_log("waiting for the HQ", timeout=STARTUP_DEADLINE_S)
        hq = HQProcess(
            *("--pub", str(pub), "--rc", str(rc)),
            *("--run-time", "1", "--wait-timeout", "3s", "--no-progress"),
        )
        assert turret.wait(15) == 2
        code, _, err = hq.finish()
    finally:
        turret.stop()
    errors = _error_lines(turret.log)
    assert len(errors) == 1 and "CurveZMQ" in errors[0], turret.log
    assert code == 2
    assert "this HQ has none (give it --secret-key and --turret-keys" in err


@pytest.mark.parametrize("keyed", [False, True], ids=["plain HQ", "keyed HQ"])
def test_a_peer_that_closes_mid_handshake_is_named_as_the_likely_mismatch(
    tmp_path: Path, keyed: bool
) -> None:
    # What a turret meeting the other mechanism does when its I/O thread runs late (a
    # loaded machine): it reads the HQ's whole greeting, sees the mismatch and closes
    # after its ZMTP signature, before its own mechanism was sent.
    keys = Keys.create(tmp_path / "keys")
    hq = HQProcess(
        "--run-time",
        "1",
        "--wait-timeout",
        "2s",
        "--no-progress",
        *(keys.hq_args() if keyed else ()),
    )
    _, rc = hq.ports()
    with socket.create_connection(("127.0.0.1", rc)) as peer:
        peer.sendall(ZMTP_SIGNATURE)
    code, _, err = hq.finish()
    assert code == 2
    assert "a peer closed the connection during the handshake" in err
    if keyed:
        assert "as a turret without CurveZMQ keys does" in err
    else:
        assert "this HQ has none (give it --secret-key and --turret-keys" in err


def _exit_status(turret: TurretProcess) -> int | None:
    """The turret's exit status, or None if it is still there after 10 s."""
    try:
        return turret.wait(10)
    except subprocess.TimeoutExpired:
        return None


def _error_lines(log: str) -> list[str]:
    assert "Traceback" not in log
    return [line for line in log.splitlines() if " ERROR " in line]
