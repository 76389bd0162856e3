"""Not one result lost: what the turret produced is exactly what the HQ received.

Includes the results finished between ``stop`` and ``ready`` (canons finishing their
transaction within the grace); a status counts results from the last start. The
short run is part of ``make test``; the 60-second soak runs in ``make test-slow``.
"""

from __future__ import annotations

import pytest

from tests.support.turret_process import write_turret

SCRIPT = """
    import time
    from gturret import Transaction as Base, CustomTimer

    class Transaction(Base):
        def run(self):
            with CustomTimer(self, "nap"):
                time.sleep(0.1)
"""


@pytest.mark.parametrize(
    "seconds", [pytest.param(60, marks=[pytest.mark.slow, pytest.mark.timeout(300)]), 4]
)
def test_results_produced_equal_results_received(hq, spawn_turret, tmp_path, seconds):
    turret = spawn_turret(str(write_turret(tmp_path, SCRIPT, hq, canons=1000, stop_grace=1)))
    hq.register()
    for _ in range(2):
        before = len(hq.results)
        hq.send("start", "open fire")
        hq.wait_status("running")
        hq.collect(seconds)
        hq.send("stop", "premature stop")
        ready = hq.wait_status("ready", timeout=15)
        hq.collect(0.5)
        assert ready["results_dropped"] == 0
        assert ready["results_queued"] == 0
        received = len(hq.results) - before
        assert ready["results_produced"] == ready["results_sent"] == received
        assert received > 1000 * seconds
        print(
            f"\n{seconds}s x 1000 canons: produced {ready['results_produced']}, received {received}"
        )
    assert "0 dropped, 0 still queued" in turret.log
