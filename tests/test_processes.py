"""``gturret --processes N``: one turret to the HQ, N worker processes, no orphans."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from gturret import wire
from gturret.battery import Share
from gturret.fleet import fleet_size
from tests.support.fake_hq import FakeHQ
from tests.support.hq_process import HQProcess
from tests.support.turret_process import run_cli, write_turret
from tests.support.waiting import wait_until

# Each canon tags its results with its process and its own number in that process.
TAGGER = """
    import itertools, os, time
    from gturret import Transaction as Base

    _numbers = itertools.count()

    class Transaction(Base):
        def __init__(self, config, context=None):
            super().__init__(config, context)
            self.tag = f"{os.getpid()}:{next(_numbers)}:{time.time()!r}"

        def run(self):
            self.custom_timers[self.tag] = 0.0
            time.sleep(0.01)
"""


def tags(results: list[dict]) -> set[tuple[int, int, float]]:
    """Every canon seen: (pid, number in its process, time it was built)."""
    seen = set()
    for result in results:
        for tag in result["custom_timers"]:
            pid, number, born = tag.split(":")
            seen.add((int(pid), int(number), float(born)))
    return seen


def workers_of(uuid: str) -> list[int]:
    """Pids of the live worker processes of the fleet whose parent has ``uuid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"gturret.worker" in cmdline and uuid.encode() in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_gone(uuid: str, timeout: float) -> None:
    wait_until(
        lambda: not workers_of(uuid), "the worker processes to end with their turret", timeout
    )


def start_fleet(hq, spawn_turret, tmp_path, **config):
    """A ``--processes 2`` turret, registered; returns it and its uuid."""
    turret = spawn_turret(str(write_turret(tmp_path, TAGGER, hq, **config)), "--processes", "2")
    uuid = hq.register(timeout=20)["uuid"]
    return turret, uuid


def test_share_and_fleet_size():
    assert list(Share(1, 3).of(8)) == [1, 4, 7]
    assert sorted(i for k in range(3) for i in Share(k, 3).of(8)) == list(range(8))
    assert fleet_size(4, canons=2) == 2
    assert fleet_size(-1, canons=1000) == len(os.sched_getaffinity(0))


def test_one_turret_to_the_hq_and_every_canon_once(hq, spawn_turret, tmp_path):
    turret, uuid = start_fleet(hq, spawn_turret, tmp_path, canons=6)
    assert len(workers_of(uuid)) == 2
    for _ in range(3):
        hq.send("status_request")
        status = hq.wait_status("ready")
        assert status["uuid"] == uuid and status["cannons"] == 6 and status["processes"] == 2
    hq.send("stop", "premature stop")
    hq.wait_status("ready", timeout=2)
    for test in range(2):
        before = len(hq.results)
        hq.send("set_transaction_context", {})
        hq.send("start", "open fire")
        hq.wait_status("running")
        hq.collect_until(
            lambda hq, before=before: len(tags(hq.results[before:])) >= 6, "results of 6 canons"
        )
        statuses_before_stop = len(hq.statuses)
        hq.send("stop", "premature stop")
        ready = hq.wait_status("ready")
        hq.collect(0.3)
        results = hq.results[before:]
        assert {r["turret_name"] for r in results} == {"test-turret"}
        assert all(set(r) == set(wire.RESULT_KEYS) for r in results)
        canons = tags(results)
        assert len(canons) == 6, f"test {test}: {len(canons)} canons"
        per_process = Counter(pid for pid, _, _ in canons)
        assert sorted(per_process.values()) == [3, 3]
        # One ready per stop, nothing after it, and the counters add up over the workers.
        assert [s["status"] for s in hq.statuses[statuses_before_stop:]] == ["ready"]
        assert ready["results_sent"] == len(results) and ready["canons_active"] == 0
        assert {s["uuid"] for s in hq.statuses} == {uuid}
    assert turret.proc.poll() is None
    assert turret.log.count("; all 2 workers ready") == 2


def test_rampup_is_one_schedule_across_workers(hq, spawn_turret, tmp_path):
    canons, rampup = 8, 2.0
    start_fleet(hq, spawn_turret, tmp_path, canons=canons, rampup=rampup)
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect_until(lambda hq: len(tags(hq.results)) >= canons, f"results of {canons} canons")
    born = sorted(tags(hq.results), key=lambda canon: canon[2])
    assert len(born) == canons
    pids = [pid for pid, _, _ in born]
    assert pids[0::2] == [pids[0]] * 4 and pids[1::2] == [pids[1]] * 4 and pids[0] != pids[1]
    step = rampup / canons
    for i, (_, _, at) in enumerate(born):
        assert abs(at - born[0][2] - i * step) < step / 2, (i, at - born[0][2])


def test_bad_frames_are_counted_once(hq, spawn_turret, tmp_path):
    """Once by the parent, not once per worker; direct orders to a fleet are in
    test_turret.py, parametrized with the single process."""
    turret, uuid = start_fleet(hq, spawn_turret, tmp_path)
    for frame in (b"garbage", b" [1]", b' {"command": "launch"}', b" " + b"[" * 10_000):
        hq.send_raw(frame)
    hq.send("set_transaction_context", "not an object")
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect_until(lambda hq: hq.results, "a result")
    hq.send("status_request", channel=uuid)
    assert hq.wait_status("running")["frames_ignored"] == 5
    assert "malformed frame ignored" in turret.log


@pytest.mark.parametrize("how", ["kill", "SIGTERM", "SIGINT"])
def test_kill_ends_every_worker_and_exits_zero(how, hq, spawn_turret, tmp_path):
    turret, uuid = start_fleet(hq, spawn_turret, tmp_path, canons=10)
    hq.send("start", "open fire")
    hq.wait_status("running")
    hq.collect(0.2)
    if how == "kill":
        hq.send("kill", None)
    else:
        turret.signal(getattr(signal, how))
    hq.wait_status("killed", timeout=10)
    assert turret.wait(timeout=10) == 0
    assert not workers_of(uuid)


def test_a_dead_worker_aborts_the_turret(hq, spawn_turret, tmp_path):
    turret, uuid = start_fleet(hq, spawn_turret, tmp_path)
    hq.send("start", "open fire")
    hq.wait_status("running")
    victim, _ = workers_of(uuid)
    os.kill(victim, signal.SIGKILL)
    hq.wait_status("aborted", timeout=5)
    assert turret.wait(timeout=5) == 1
    wait_gone(uuid, timeout=1)
    assert f"(pid {victim}) was killed by SIGKILL" in turret.log
    assert "aborting the turret" in turret.log


def test_workers_die_with_their_parent(hq, spawn_turret, tmp_path):
    turret, uuid = start_fleet(hq, spawn_turret, tmp_path)
    hq.send("start", "open fire")
    hq.wait_status("running")
    pid = workers_of(uuid)[0]
    commands = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"--commands=ipc://")[1]
    sockets = Path(commands.split(b"\0")[0].decode()).parent
    assert sockets.is_dir()
    turret.signal(signal.SIGKILL)
    turret.wait(timeout=2)
    wait_gone(uuid, timeout=5)
    assert not sockets.exists(), f"ipc sockets left behind: {list(sockets.iterdir())}"


@pytest.mark.parametrize(
    "args", [["--processes", "0"], ["--processes", "-2"], ["--processes", "2", "--standalone"]]
)
def test_bad_processes_are_usage_errors(args, tmp_path):
    done = run_cli([str(write_turret(tmp_path, TAGGER)), *args], tmp_path)
    assert done.returncode == 2
    assert "--processes" in done.stderr


def test_a_fleet_sends_six_keys_to_an_hq_that_did_not_ask(spawn_turret, tmp_path):
    with FakeHQ(asks_counters=False) as hq:
        turret, uuid = start_fleet(hq, spawn_turret, tmp_path)
        hq.send("start", "open fire")
        hq.wait_status("running")
        hq.send("stop", "premature stop")
        hq.wait_status("ready")
        hq.send("kill")
        hq.wait_status("killed")
        assert turret.wait(5) == 0
        assert len(hq.statuses) >= 4
        for status in hq.statuses:
            assert list(status) == list(wire.STATUS_KEYS), status
            assert status["uuid"] == uuid


def test_workers_send_our_hq_aggregated_intervals(spawn_turret, tmp_path):
    """The HQ's wants reach the workers, which send it results themselves."""
    hq = HQProcess("--run-time", "2s", "--json", str(tmp_path / "report.json"), "--no-progress")
    script = """
        import time
        from gturret import Transaction as Base

        class Transaction(Base):
            def run(self):
                time.sleep(0.01)
    """
    config = write_turret(tmp_path, script, hq.ports(), canons=4)
    spawn_turret(str(config), "--processes", "2")
    code, _, err = hq.finish()
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    messages = report["messages"]
    assert messages["intervals"] >= 2 and messages["results"] == report["transaction"]["count"]
    assert report["delivery"][0]["lost"] == 0 and report["delivery"][0]["produced"] > 0
