"""The turret's protocol behaviour, through a real process and a fake HQ on real sockets."""

from __future__ import annotations

import json
import signal
import time

import pytest

from gturret import wire
from tests.support.fake_hq import FakeHQ
from tests.support.turret_process import write_turret
from tests.support.waiting import wait_until

SLEEPY = """
    import time
    from gturret import Transaction as Base, CustomTimer

    class Transaction(Base):
        def run(self):
            with CustomTimer(self, "nap"):
                time.sleep(0.01)
"""


def test_registers_within_one_second_of_a_status_request(hq, spawn_turret, tmp_path):
    config = write_turret(tmp_path, SLEEPY, hq)
    spawn_turret(str(config))
    first = hq.register()
    # Once subscribed, an answer must come at once.
    hq.send("status_request")
    sent = time.monotonic()
    status = hq.wait_status("ready", timeout=1.0)
    assert time.monotonic() - sent < 1.0
    assert status["uuid"] == first["uuid"]
    assert status["turret"] == "test-turret"
    assert status["cannons"] == 2 and isinstance(status["cannons"], int)
    assert status["rampup"] == 0
    assert status["script"] == "script.py"


def test_statuses_carry_six_keys_unless_the_hq_asks_for_counters(spawn_turret, tmp_path):
    """The reference HQ dies at a second status with an unknown key (docs/protocol.md)."""
    with FakeHQ(asks_counters=False) as hq:
        spawn_turret(str(write_turret(tmp_path, SLEEPY, hq)))
        assert set(hq.register()) == set(wire.STATUS_KEYS)
        hq.send("start", "open fire")
        hq.send("status_request")
        hq.wait_status("running")
        hq.asks_counters = True
        hq.send("status_request")
        while "gturret" not in (counted := hq.wait_status("running")):
            pass
        assert counted["gturret"] == wire.PROTOCOL_VERSION and counted["results_produced"] >= 0
        hq.asks_counters = False
        hq.send("status_request")
        hq.send("stop", "premature stop")
        hq.wait_status("ready")
        hq.send("start", "open fire")
        hq.wait_status("running")
        hq.send("kill")
        hq.wait_status("killed")
        plain = [s for s in hq.statuses if s is not counted]
        assert len(plain) >= 6
        for status in plain:
            assert list(status) == list(wire.STATUS_KEYS), status


def test_rampup_is_whole_seconds_for_the_reference_hq_and_exact_for_ours(spawn_turret, tmp_path):
    """The reference HQ's model holds an integer; our HQ starts a fleet on the rampup a
    status gives, so rounding there turned a 0.5 s rampup into all canons at once."""
    with FakeHQ(asks_counters=False) as hq:
        spawn_turret(str(write_turret(tmp_path, SLEEPY, hq, rampup=0.5)))
        plain = hq.register()
        assert plain["rampup"] == 0 and isinstance(plain["rampup"], int)
        hq.asks_counters = True
        hq.send("status_request")
        while "gturret" not in (counted := hq.wait_status("ready")):
            pass
        assert counted["rampup"] == 0.5


def test_start_gives_results_with_exactly_the_six_keys(hq, spawn_turret, tmp_path):
    spawn_turret(str(write_turret(tmp_path, SLEEPY, hq, canons=3)))
    hq.register()
    hq.send("set_transaction_context", {})
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect_until(lambda hq: len(hq.results) > 10, "11 results")
    for result in hq.results:
        assert set(result) == set(wire.RESULT_KEYS)
        assert result["turret_name"] == "test-turret"
        assert result["error"] == ""
        assert 0.005 < result["scriptrun_time"] < 1
        assert set(result["custom_timers"]) == {"nap"}
        assert abs(result["epoch"] - time.time()) < 5
    elapsed = [r["elapsed"] for r in hq.results]
    assert min(elapsed) > 0 and max(elapsed) < 5


def test_status_in_an_error_never_appears_raw(hq, spawn_turret, tmp_path):
    script = """
        from gturret import Transaction as Base, CustomTimer

        class Transaction(Base):
            def run(self):
                with CustomTimer(self, "status_page"):
                    pass
                raise RuntimeError("HTTP status 503")
    """
    spawn_turret(str(write_turret(tmp_path, script, hq)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect_until(lambda hq: hq.results, "a result")
    hq.send("stop", "premature stop")
    hq.wait_status("ready")
    results_raw = [raw for raw in hq.raw if b"uuid" not in raw]
    assert len(results_raw) == len(hq.results)
    for raw in results_raw:
        assert b"status" not in raw
        decoded = json.loads(raw)
        assert decoded["error"] == "HTTP status 503"
        assert list(decoded["custom_timers"]) == ["status_page"]


def test_stop_ready_start_three_times_in_one_process(hq, spawn_turret, tmp_path):
    turret = spawn_turret(str(write_turret(tmp_path, SLEEPY, hq, canons=5)))
    uuid = hq.register()["uuid"]
    for _ in range(3):
        before = len(hq.results)
        hq.send("start", "open fire")
        hq.wait_status("running")
        hq.collect_until(lambda hq, before=before: len(hq.results) - before > 20, "21 results")
        hq.send("stop", "premature stop")
        ready = hq.wait_status("ready")
        assert ready["uuid"] == uuid
        # Nothing arrives after ready: every result was flushed before it.
        hq.collect(0.2)
        assert hq.statuses[-1]["status"] == "ready"
    assert turret.proc.poll() is None
    assert turret.log.count("cease fire:") == 3


def test_kill_sends_a_final_status_and_exits_zero(hq, spawn_turret, tmp_path):
    turret = spawn_turret(str(write_turret(tmp_path, SLEEPY, hq, canons=10)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect(0.2)
    sent = time.monotonic()
    hq.send("kill", None)
    hq.wait_status("killed", timeout=2)
    assert turret.wait(timeout=3) == 0
    assert time.monotonic() - sent < 2.5


def test_sigterm_kills_cleanly(hq, spawn_turret, tmp_path):
    turret = spawn_turret(str(write_turret(tmp_path, SLEEPY, hq, canons=10)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    turret.signal(signal.SIGTERM)
    hq.wait_status("killed", timeout=2)
    assert turret.wait(timeout=3) == 0
    assert "killing the turret (SIGTERM)" in turret.log


def test_sigint_while_ready_kills_cleanly(hq, spawn_turret, tmp_path):
    turret = spawn_turret(str(write_turret(tmp_path, SLEEPY, hq)))
    hq.register()
    turret.signal(signal.SIGINT)
    hq.wait_status("killed", timeout=2)
    assert turret.wait(timeout=3) == 0


def test_malformed_frames_do_not_stop_a_running_test(hq, spawn_turret, tmp_path):
    turret = spawn_turret(str(write_turret(tmp_path, SLEEPY, hq)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    for frame in (
        b"garbage",
        b" not json",
        b" [1, 2]",
        b' {"msg": "no command"}',
        b' {"command": 42}',
        b' {"command": "launch_missiles"}',
        b"\xff\xfe {}",
        b" " + b"[" * 100_000,
        b' {"command": "set_transaction_context", "msg": "not an object"}',
    ):
        hq.send_raw(frame)
    # The status answers after every frame was read: commands come in order.
    hq.send("status_request")
    status = hq.wait_status("running")
    assert status["frames_ignored"] == 9
    count = len(hq.results)
    hq.collect_until(lambda hq: len(hq.results) > count, "results to go on flowing")
    assert turret.proc.poll() is None
    assert "malformed frame ignored" in turret.log


@pytest.mark.parametrize("processes", [1, 2], ids=["turret", "fleet"])
def test_direct_orders_reach_only_their_turret(hq, spawn_turret, tmp_path, processes):
    """The same for one process and for a fleet, whose parent reads the orders."""
    spawn_turret(str(write_turret(tmp_path, SLEEPY, hq)), "--processes", str(processes))
    uuid = hq.register(timeout=20)["uuid"]
    hq.send("start", "open fire", channel="someone-else")
    # A window on purpose: no canon may fire on an order for another turret.
    hq.collect(0.3)
    assert not hq.results
    hq.send("start", "open fire", channel=uuid)
    hq.wait_status("running")
    hq.collect_until(lambda hq: hq.results, "a result")


def test_start_while_running_and_stop_while_ready_are_harmless(hq, spawn_turret, tmp_path):
    turret = spawn_turret(str(write_turret(tmp_path, SLEEPY, hq)))
    hq.register()
    hq.send("stop", "premature stop")
    assert hq.wait_status("ready")
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.send("start", "open fire")

    def two_canons_active() -> bool:
        hq.send("status_request")
        return hq.wait_status("running")["canons_active"] == 2

    wait_until(two_canons_active, "both canons active", timeout=5)
    assert hq.statuses[-1]["canons_active"] == 2
    hq.send("stop", "premature stop")
    hq.wait_status("ready")
    assert turret.proc.poll() is None


def test_transaction_context_reaches_new_transactions(hq, spawn_turret, tmp_path):
    script = """
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                raise ValueError(f"{self.context.get('token')}|{self.config['flavour']}")
    """
    spawn_turret(str(write_turret(tmp_path, script, hq, flavour="vanilla")))
    hq.register()
    hq.send("set_transaction_context", {"token": "abc"})
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect_until(lambda hq: hq.results, "a result")
    assert {r["error"] for r in hq.results} == {"abc|vanilla"}


def test_script_errors_are_reported_and_canons_go_on(hq, spawn_turret, tmp_path):
    script = """
        import sys
        from gturret import Transaction as Base

        class Transaction(Base):
            def __init__(self, config, context=None):
                super().__init__(config, context)
                self.turn = 0

            def setup(self):
                self.turn += 1
                if self.turn % 4 == 1:
                    raise KeyError("no seat")

            def run(self):
                if self.turn % 4 == 2:
                    sys.exit(3)
                if self.turn % 4 == 3:
                    raise KeyboardInterrupt

            def tear_down(self):
                if self.turn % 4 == 0:
                    raise OSError("disk full")
    """
    spawn_turret(str(write_turret(tmp_path, script, hq, canons=1)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect_until(lambda hq: len({r["error"] for r in hq.results}) >= 4, "four errors")
    errors = {r["error"] for r in hq.results}
    assert errors == {
        "setup: 'no seat'",
        "SystemExit: 3",
        "KeyboardInterrupt",
        "tear_down: disk full",
    }


def test_cpu_bound_script_does_not_starve_the_dispatcher(hq, spawn_turret, tmp_path):
    script = """
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                sum(range(2000))
    """
    turret = spawn_turret(str(write_turret(tmp_path, script, hq, canons=200)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect_until(lambda hq: len(hq.results) > 100, "101 results")
    for _ in range(3):
        hq.send("status_request")
        assert hq.wait_status("running", timeout=2)["canons_active"] == 200
    hq.send("stop", "premature stop")
    hq.wait_status("ready", timeout=5)
    assert turret.proc.poll() is None
