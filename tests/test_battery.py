"""Rampup and concurrency, observed through a real turret's results."""

from __future__ import annotations

import time

import pytest

from tests.support.turret_process import write_turret

BIRTH_RECORDER = """
    import time
    from gturret import Transaction as Base

    class Transaction(Base):
        def __init__(self, config, context=None):
            super().__init__(config, context)
            self.born = time.time()

        def run(self):
            self.custom_timers["born"] = self.born
            time.sleep(0.05)
"""


def births(results: list[dict]) -> list[float]:
    return sorted({r["custom_timers"]["born"] for r in results})


def test_rampup_starts_canon_i_at_i_times_rampup_over_canons(hq, spawn_turret, tmp_path):
    canons, rampup = 20, 2.0
    spawn_turret(str(write_turret(tmp_path, BIRTH_RECORDER, hq, canons=canons, rampup=rampup)))
    hq.register()
    hq.send("start", "open fire")
    started = time.time()
    hq.wait_status("running")
    hq.collect_until(lambda hq: len(births(hq.results)) >= canons, f"{canons} canons born")
    born = births(hq.results)
    assert len(born) == canons
    step = rampup / canons
    # Each canon's lateness behind its slot, from the least late one. The slots are on
    # one clock (a late canon delays no other), and a loaded machine wakes the loop
    # late now and then (one canon 55 ms late there): most must start on time. Starting
    # all at once, or on a wrong step, leaves most of them late by a tenth of a second.
    origin = min(b - i * step for i, b in enumerate(born))
    lateness = sorted(b - i * step - origin for i, b in enumerate(born))
    assert lateness[canons // 2] < 0.05, lateness
    assert born[0] - started < 0.5


def test_rampup_zero_starts_every_canon_at_once(hq, spawn_turret, tmp_path):
    spawn_turret(str(write_turret(tmp_path, BIRTH_RECORDER, hq, canons=200, rampup=0)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect_until(lambda hq: len(births(hq.results)) >= 200, "200 canons born")
    born = births(hq.results)
    assert len(born) == 200
    assert born[-1] - born[0] < 0.2


def test_stop_during_rampup_spawns_no_more_canons(hq, spawn_turret, tmp_path):
    spawn_turret(str(write_turret(tmp_path, BIRTH_RECORDER, hq, canons=100, rampup=10)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect(0.5)
    hq.send("stop", "premature stop")
    hq.wait_status("ready")
    spawned = len(births(hq.results))
    assert 2 <= spawned <= 15
    # A window on purpose: no canon may be born during it.
    hq.collect(0.5)
    assert len(births(hq.results)) == spawned


def test_thousand_sleeping_canons_run_concurrently(hq, spawn_turret, tmp_path):
    script = """
        import time
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                time.sleep(1)
    """
    spawn_turret(str(write_turret(tmp_path, script, hq, canons=1000)))
    hq.register()
    hq.send("start", "open fire")
    # 1000 canons sleeping 1 s each: 900 results within 2 s only if they overlap.
    hq.collect_until(lambda hq: len(hq.results) >= 900, "900 results", timeout=2.0)


def test_stop_kills_canons_stuck_in_long_sleeps_after_the_grace(hq, spawn_turret, tmp_path):
    script = """
        import time
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                time.sleep(60)
    """
    turret = spawn_turret(str(write_turret(tmp_path, script, hq, canons=50, stop_grace=0.2)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect(0.2)
    sent = time.monotonic()
    hq.send("stop", "premature stop")
    hq.wait_status("ready", timeout=5)
    assert time.monotonic() - sent < 3
    assert "50 canons killed after 0.2s grace" in turret.log
    assert not hq.results


@pytest.mark.slow
def test_ten_thousand_canons_all_run(hq, spawn_turret, tmp_path):
    script = """
        import os, time
        from gturret import Transaction as Base

        class Transaction(Base):
            def __init__(self, config, context=None):
                super().__init__(config, context)
                self.me = float(id(self))

            def run(self):
                self.custom_timers["canon"] = self.me
                time.sleep(1)
    """
    spawn_turret(str(write_turret(tmp_path, script, hq, canons=10_000, rampup=1)))
    hq.register()
    hq.send("start", "open fire")
    hq.collect_until(
        lambda hq: len({r["custom_timers"]["canon"] for r in hq.results}) >= 10_000,
        "results of 10 000 canons",
        timeout=30,
    )
    hq.send("status_request")
    assert hq.wait_status("running")["canons_active"] == 10_000
    canons = {r["custom_timers"]["canon"] for r in hq.results}
    assert len(canons) == 10_000
    hq.send("stop", "premature stop")
    ready = hq.wait_status("ready", timeout=10)
    hq.collect_until(lambda hq: len(hq.results) >= ready["results_produced"], "every result")
    assert ready["results_produced"] == len(hq.results)


def test_counters_tell_spawned_started_completed_and_killed_canons(hq, spawn_turret, tmp_path):
    script = """
        import itertools, time
        from gturret import Transaction as Base

        NUMBERS = itertools.count()

        class Transaction(Base):
            def __init__(self, config, context=None):
                super().__init__(config, context)
                self.number = next(NUMBERS)
                if self.number % 5 == 4:
                    raise RuntimeError("no token for this canon")

            def run(self):
                time.sleep(60 if self.number % 5 == 3 else 0.01)
    """
    # Transaction 0 is built at start-up to check the script; canons get 1 to 10:
    # 4 and 9 cannot start, 3 and 8 hang in run(), the other six complete.
    spawn_turret(str(write_turret(tmp_path, script, hq, canons=10, stop_grace=0.1)))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    deadline = time.monotonic() + 30
    while True:
        hq.send("status_request")
        status = hq.wait_status("running")
        if status["canons_completed"] == 6 or time.monotonic() > deadline:
            break
    assert status["canons_spawned"] == 10
    assert status["canons_started"] == 10
    assert status["canons_failed"] == 2
    assert status["canons_completed"] == 6
    assert status["canons_active"] == 8
    hq.send("stop", "premature stop")
    ready = hq.wait_status("ready")
    assert ready["canons_killed"]["run"]["count"] == 2
    assert ready["canons_killed"]["run"]["longest_s"] > 0
    assert ready["canons_active"] == 0


BROKEN_SETUP = """
    from gturret import Transaction as Base

    class Transaction(Base):
        def setup(self):
            raise RuntimeError("no database")

        def run(self):
            pass
"""


def test_a_setup_that_always_fails_backs_off_and_stops_at_once(hq, spawn_turret, tmp_path):
    """Canons whose setup() always fails pause, 10 ms doubling up to 1 s: after the
    first second each fails about once a second (bounded here at 10 a second, where a
    spinning canon fails hundreds of thousands of times). The pauses delay neither a
    status nor the stop: with a 0.3 s stop_grace no canon has to be killed, as one
    sleeping through its pause would be. The first error is logged, once."""
    canons = 5
    config = write_turret(tmp_path, BROKEN_SETUP, hq, canons=canons, stop_grace=0.3)
    turret = spawn_turret(str(config))
    hq.register()
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect_until(
        lambda hq: max((r["elapsed"] for r in hq.results), default=0.0) >= 2.5,
        "a result 2.5 s into the test",
        timeout=20,
    )
    hq.send("status_request")
    assert hq.wait_status("running", timeout=5)["canons_active"] == canons
    hq.send("stop", "premature stop")
    hq.wait_status("ready", timeout=5)
    turret.wait_log("cease fire")
    assert "; 0 canons killed after 0.3s grace" in turret.log

    assert {r["error"] for r in hq.results} == {"setup: no database"}
    after_first_second = [r["elapsed"] for r in hq.results if r["elapsed"] >= 1.0]
    span = max(after_first_second) - 1.0
    assert canons <= len(after_first_second) <= 10 * canons * span + canons
    assert turret.log.count("a canon's setup() failed: no database;") == 1
