"""A turret's memory: in its status to our HQ, in the summary and report, a leak warned
about and failed by ``rss_growth``/``rss_max``; never in a status to the reference HQ.

The end-to-end tests run a real turret on a real script against a real ``gturret-hq``:
one script leaks at a steady 16 MB a second (bounded at 200 MB), by the clock rather
than by transaction, so a loaded machine makes it no less a leak; the other holds its
memory flat. The rule itself (``gturret.hq.memory``) is tested on sequences of
statuses, where each of its conditions can be broken alone.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from gturret import wire
from gturret.errors import ThresholdError
from gturret.hq.memory import LEAK_MIN_BYTES, MB, RISING_STATUSES, MemoryTrack, summarize
from gturret.hq.messages import Status, classify
from gturret.hq.thresholds import parse_threshold
from tests.support.fake_hq import FakeHQ
from tests.support.hq_process import HQProcess
from tests.support.turret_process import write_turret

LEAKY = """
    import time
    from gturret import Transaction as Base

    HOARD = []
    STARTED = []
    RATE = 16 * 2**20  # bytes a second, from the first transaction on
    CAP = 200 * 2**20

    class Transaction(Base):
        def run(self):
            time.sleep(0.05)
            if not STARTED:
                STARTED.append(time.monotonic())
            due = min(CAP, RATE * (time.monotonic() - STARTED[0]))
            while len(HOARD) * 2**20 < due:
                HOARD.append(b"\\x01" * 2**20)
"""

STEADY = """
    import time
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            time.sleep(0.05)
            scratch = b"\\x01" * 2**20
            assert scratch
"""


def _run(tmp_path: Path, spawn_turret, script: str, *thresholds: str) -> tuple[int, str, dict]:
    report = tmp_path / "report.json"
    args = [a for t in thresholds for a in ("--threshold", t)]
    hq = HQProcess("--run-time", "8s", "--no-progress", "--json", str(report), *args)
    spawn_turret(str(write_turret(tmp_path, script, hq.ports(), canons=1)))
    code, out, err = hq.finish()
    assert report.exists(), err
    return code, out, json.loads(report.read_text())


def test_a_leaking_script_is_warned_about_and_fails_its_threshold(spawn_turret, tmp_path):
    code, out, report = _run(tmp_path, spawn_turret, LEAKY, "rss_growth<64MB", "rss_max<4GB")
    assert code == 1, out
    warnings = [line for line in out.splitlines() if line.startswith("WARNING: turret test-turret")]
    assert len(warnings) == 1 and "kept growing" in warnings[0], out
    assert "still rising over its last 5 statuses" in warnings[0]
    assert "FAIL  rss_growth<64MB  turrets' rss_growth = " in out, out
    assert "PASS  rss_max<4GB" in out, out
    assert out.rstrip().splitlines()[-1].startswith("FAIL: 1 of 2 thresholds failed"), out
    (turret,) = report["turrets"]
    assert turret["memory_leak"] is True
    assert turret["rss_growth_bytes"] > 64 * MB
    assert turret["rss_highest_bytes"] >= turret["rss_bytes"] > turret["rss_growth_bytes"]
    assert turret["rss_peak_bytes"] >= turret["rss_highest_bytes"]
    assert report["memory"]["warnings"] == [warnings[0].removeprefix("WARNING: ")]
    assert report["memory"]["rss_growth_max_bytes"] == turret["rss_growth_bytes"]
    (threshold,) = [t for t in report["thresholds"] if t["metric"] == "rss_growth"]
    assert threshold["unit"] == "MB" and threshold["passed"] is False
    assert threshold["actual"] == pytest.approx(turret["rss_growth_bytes"] / MB)


def test_a_steady_script_has_its_memory_in_the_summary_and_no_warning(spawn_turret, tmp_path):
    code, out, report = _run(tmp_path, spawn_turret, STEADY, "rss_growth<64MB", "rss_max<4GB")
    assert code == 0, out
    assert "kept growing" not in out and "WARNING" not in out, out
    lines = out.splitlines()
    at = lines.index("memory (resident, MB = 2^20 bytes):")
    assert lines[at + 1].startswith("  test-turret (") and "MB at the end, " in lines[at + 1]
    assert " since the rampup, highest " in lines[at + 1]
    assert "PASS  rss_growth<64MB" in out and "PASS  rss_max<4GB" in out, out
    (turret,) = report["turrets"]
    assert turret["memory_leak"] is False and turret["rss_bytes"] > 10 * MB
    assert report["memory"]["warnings"] == []


def test_a_status_to_a_reference_hq_keeps_its_six_keys_while_one_to_ours_has_memory(
    spawn_turret, tmp_path
):
    """Extra keys crash the reference HQ (docs/protocol.md); ours asks for counters."""
    with FakeHQ(asks_counters=False) as hq:
        spawn_turret(str(write_turret(tmp_path, LEAKY, hq, canons=1)))
        hq.register()
        hq.send("start", "open fire")
        hq.wait_status("running")
        for _ in range(3):
            hq.send("status_request")
            hq.wait_status("running")
        plain = list(hq.statuses)
        hq.asks_counters = True
        hq.send("status_request")
        while "gturret" not in (ours := hq.wait_status("running")):
            pass
        hq.send("kill")
        hq.wait_status("killed")
    assert len(plain) >= 5
    for status in plain:
        assert list(status) == list(wire.STATUS_KEYS), status
    assert ours["rss_peak_bytes"] >= ours["rss_bytes"] > 10 * MB


def _resident(pid: int) -> int:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def test_a_fleet_reports_the_memory_of_all_its_processes(hq, spawn_turret, tmp_path):
    """The parent's own memory too: the turret is every process it runs."""
    turret = spawn_turret(str(write_turret(tmp_path, STEADY, hq, canons=2)), "--processes", "2")
    hq.register(timeout=20)
    deadline = time.monotonic() + 20
    while True:
        hq.send("status_request")
        status = hq.wait_status("ready")
        workers = Path(f"/proc/{turret.proc.pid}/task/{turret.proc.pid}/children").read_text()
        pids = [turret.proc.pid, *map(int, workers.split())]
        measured = sum(_resident(pid) for pid in pids)
        if len(pids) == 3 and abs(status["rss_bytes"] - measured) < 0.1 * measured:
            break
        assert time.monotonic() < deadline, (status["rss_bytes"], measured, pids)
    assert status["processes"] == 2 and status["rss_peak_bytes"] >= status["rss_bytes"]


def _track(samples: list[float], rampup: float = 0.0) -> MemoryTrack:
    """A track fed one status a second, ``samples`` in MB."""
    track = MemoryTrack()
    for second, sample in enumerate(samples):
        track.observe(int(sample * MB), int(max(samples) * MB), float(second), rampup)
    return track


RISING = [60 + 20 * i for i in range(8)]  # 60 MB to 200 MB, climbing to the end


@pytest.mark.parametrize(
    ("samples", "rampup", "leaking"),
    [
        (RISING, 0.0, True),
        ([60, 160, 200, 200, 200, 200, 200, 200], 0.0, False),  # warmed up, then steady
        ([60, 100, 140, 180, 200, 198, 199, 200], 0.0, False),  # went down at the end
        ([60, 61, 62, 63, 64, 65, 66, 67], 0.0, False),  # rising, but by 7 MB
        ([600, 612, 624, 636, 648, 660, 672, 684], 0.0, False),  # 84 MB, but 14 % of 600
        ([60, 100, 140, 180, 220], 3.0, False),  # too few statuses after the rampup
        ([60, 60, 100, 100, 140, 140, 180, 180], 0.0, True),  # in steps: never down
        ([200, 300, 60, 80, 100, 120, 140, 160], 2.0, True),  # baseline after the rampup
    ],
)
def test_the_leak_rule(samples: list[float], rampup: float, leaking: bool) -> None:
    assert _track(samples, rampup).leaking is leaking


def test_growth_counts_from_the_first_status_after_the_rampup() -> None:
    track = _track([50, 300, 100, 110, 120], rampup=2.0)
    assert track.baseline == 100 * MB and track.growth == 20 * MB
    assert track.highest == 300 * MB and track.last == 120 * MB


def test_the_summary_puts_the_largest_growth_first_and_keeps_turrets_without_a_baseline():
    memory = summarize(
        [
            ("a", _track([60, 70, 80])),
            ("b", _track(RISING)),
            ("c", _track([60, 80], rampup=5.0)),
            ("d", MemoryTrack()),
        ]
    )
    assert memory is not None
    assert [turret.label for turret in memory.turrets] == ["b", "a", "c"]
    assert memory.growth_max == 140 * MB and memory.rss_max == 200 * MB
    assert [turret.label for turret in memory.leaking] == ["b"]
    assert summarize([("d", MemoryTrack())]) is None
    assert LEAK_MIN_BYTES < 140 * MB and len(RISING) >= RISING_STATUSES


@pytest.mark.parametrize(
    ("written", "kept"),
    [("73400320", 73400320), ("-1", None), ("1.5e9", None), ("true", None), ('"9"', None),
     ("9" * 400, None)],
)  # fmt: skip
def test_memory_in_a_status_is_a_count_of_bytes_or_nothing(written: str, kept: int | None):
    raw = (
        '{"turret": "t", "status": "running", "uuid": "u", "rampup": 0, "script": "s",'
        f' "cannons": 1, "gturret": 1, "rss_bytes": {written}, "rss_peak_bytes": {written}}}'
    )
    status = classify(raw.encode())
    assert isinstance(status, Status)
    assert status.rss_bytes == kept and status.rss_peak_bytes == kept


@pytest.mark.parametrize(
    ("text", "limit"),
    [("rss_max<500MB", 500.0), ("rss_growth <= 1GB", 1024.0), ("rss_growth<0.5GB", 512.0)],
)
def test_memory_thresholds_are_in_mb(text: str, limit: float) -> None:
    threshold = parse_threshold(text)
    assert threshold.limit == limit and threshold.unit == "MB"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("rss_max<500", "give rss_max a unit, MB or GB"),
        ("rss_growth<100ms", "give rss_growth a unit, MB or GB"),
        ("timer:login:rss_max<1GB", "the turrets', not a timer's"),
    ],
)
def test_bad_memory_thresholds_are_refused(text: str, why: str) -> None:
    with pytest.raises(ThresholdError, match=why):
        parse_threshold(text)
