"""Steering a running turret: ``set_canons`` and ``set_arrival_rate`` (docs/protocol.md),
through real turret processes (one, and a ``--processes 2`` fleet) and a fake HQ on
real sockets."""

from __future__ import annotations

from typing import Any

from gturret import wire
from tests.support.fake_hq import FakeHQ
from tests.support.turret_process import write_turret

NAP = """
    import time
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            time.sleep(0.01)
"""


def _status(hq: FakeHQ, check: Any, what: str, timeout: float = 20.0) -> dict[str, Any]:
    """Ask for statuses until one passes ``check``; that status."""

    def found(hq: FakeHQ) -> dict[str, Any] | None:
        hq.send("status_request")
        return next((s for s in reversed(hq.statuses[-5:]) if check(s)), None)

    status: dict[str, Any] = hq.collect_until(found, what, timeout)
    return status


def _running(hq: FakeHQ, config: str, spawn_turret: Any, *args: str) -> tuple[str, Any]:
    """A turret process registered and running; its uuid and the process."""
    turret = spawn_turret(config, *args)
    uuid: str = hq.register(timeout=30)["uuid"]
    hq.send("start", "open fire")
    hq.wait_status("running", timeout=20)
    return uuid, turret


def test_set_canons_adds_and_removes_canons_while_the_turret_runs(spawn_turret, tmp_path):
    with FakeHQ() as hq:
        uuid, _ = _running(hq, str(write_turret(tmp_path, NAP, hq, canons=2)), spawn_turret)
        _status(hq, lambda s: s.get("canons_active") == 2, "2 canons active")
        hq.send(wire.SET_CANONS, wire.canons_msg(6), uuid)
        raised = _status(hq, lambda s: s.get("canons_active") == 6, "6 canons active")
        assert raised["cannons"] == 6
        hq.send(wire.SET_CANONS, wire.canons_msg(3), uuid)
        lowered = _status(hq, lambda s: s.get("canons_active") == 3, "3 canons active")
        assert lowered["cannons"] == 3
        hq.send("stop", "premature stop")
        ready = hq.wait_status("ready", timeout=20)
    # A canon asked to leave ended after a transaction: none counts as starved.
    assert ready["canons_completed"] == ready["canons_started"] == 6


def test_set_arrival_rate_changes_the_pace_of_a_paced_turret(spawn_turret, tmp_path):
    with FakeHQ() as hq:
        config = write_turret(tmp_path, NAP, hq, canons=10, arrival_rate=20)
        uuid, _ = _running(hq, str(config), spawn_turret)
        before = _status(hq, lambda s: s.get("pacing_scheduled", 0) > 0, "scheduled tickets")
        hq.send(wire.SET_ARRIVAL_RATE, wire.arrival_rate_msg(200), uuid)
        # 20/s for the 2 s this waits would schedule 40; 200/s schedules 400.
        after = _status(
            hq,
            lambda s: s.get("pacing_scheduled", 0) > before["pacing_scheduled"] + 200,
            "the pacer at 200 transactions/s",
        )
        assert after["status"] == "running"


def test_a_fleet_relays_set_canons_to_its_workers(spawn_turret, tmp_path):
    with FakeHQ() as hq:
        config = write_turret(tmp_path, NAP, hq, canons=2)
        uuid, _ = _running(hq, str(config), spawn_turret, "--processes", "2")
        _status(hq, lambda s: s.get("canons_active") == 2, "2 canons active")
        hq.send(wire.SET_CANONS, wire.canons_msg(8), uuid)
        raised = _status(hq, lambda s: s.get("canons_active") == 8, "8 canons active in all")
        assert raised["cannons"] == 8


def test_steering_a_closed_model_rate_or_a_bad_order_changes_nothing(spawn_turret, tmp_path):
    with FakeHQ() as hq:
        config = write_turret(tmp_path, NAP, hq, canons=2)
        uuid, turret = _running(hq, str(config), spawn_turret)
        hq.send(wire.SET_ARRIVAL_RATE, wire.arrival_rate_msg(50), uuid)
        hq.send(wire.SET_CANONS, {"gturret": 1, "canons": "many"}, uuid)
        hq.send(wire.SET_CANONS, {"gturret": 1, "canons": 0}, uuid)
        status = _status(
            hq,
            lambda s: s.get("frames_ignored") == 2 and s.get("canons_active") == 2,
            "two orders ignored, two canons firing",
        )
        assert status["cannons"] == 2
        assert status["status"] == "running"
    turret.wait_log("set_arrival_rate ignored: this test runs the closed model")
