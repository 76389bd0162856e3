"""The live console (``gturret-hq --web``): its server, its API, its guard, its events
in the reports, and the clients it lets go; through a real ``gturret-hq`` process,
real HTTP, and real turret processes (or a fake turret on real sockets)."""

from __future__ import annotations

import json
import re
import signal
import types

import pytest

from bench.console_frame import fed
from gturret import wire
from gturret.hq.console.feed import (
    LAG_REFRESH_S,
    LIVE_SECTIONS,
    TAIL_POINTS,
    Feed,
    until_next_frame,
)
from gturret.hq.console.guard import Guard
from gturret.hq.findings import Findings
from gturret.hq.ledger import Ledger
from gturret.hq.options import HQOptions
from gturret.hq.run import _findings
from gturret.hq.session import Outcome, Phase
from tests.support.console_client import Console, console_address, next_frame
from tests.support.fake_turret import FakeTurret
from tests.support.hq_process import HQProcess
from tests.support.turret_process import write_turret

NAP = """
    import time
    from gturret import Transaction as Base

    class Transaction(Base):
        def run(self):
            time.sleep(0.005)
"""
TOKEN = "a-token-of-twenty-chars"
CONSOLE_PORT = re.compile(r"console on http://127\.0\.0\.1:(\d+)/")


def _end(hq: HQProcess) -> tuple[int, str, str]:
    """The HQ keeps its console up after the test until a signal: send one."""
    if hq.process.poll() is None:
        hq.process.send_signal(signal.SIGINT)
    return hq.finish()


def _ready(console: Console) -> dict:
    return console.wait(lambda s: s["phase"] == "ready to start", "the turrets reported")


def test_start_rate_canons_and_stop_are_steered_and_listed_in_the_reports(spawn_turret, tmp_path):
    report = tmp_path / "report.json"
    html = tmp_path / "report.html"
    hq = HQProcess("--web", "0", "--json", str(report), "--html", str(html), "--no-progress")
    try:
        console = Console(*console_address(hq)[:2])
        spawn_turret(str(write_turret(tmp_path, NAP, hq.ports(), canons=4)))
        ready = _ready(console)
        assert ready["events"] == [] and ready["elapsed_s"] == 0
        (turret,) = ready["turrets_live"]
        assert turret["ours"] and turret["canons"] == 4

        status, answer = console.post("start", {"run_time": "2m", "arrival_rate": 50})
        assert status == 200, answer
        console.wait(lambda s: s["phase"] == "running", "running")
        assert console.post("start", {})[0] == 409  # started once only

        assert console.post("rate", {"arrival_rate": 200}) == (
            200,
            {"ok": True, "phase": "running"},
        )
        console.wait(
            lambda s: (
                s["document"]["pacing"] and any(point["tx"] >= 150 for point in s["points"][-3:-1])
            ),
            "a second at the new rate",
        )
        status, answer = console.post("canons", {"turret": turret["uuid"], "canons": 9})
        assert status == 200, answer
        raised = console.wait(
            lambda s: s["turrets_live"][0]["canons_active"] == 9, "9 canons active"
        )
        assert raised["turrets_live"][0]["canons"] == 9

        assert console.post("stop", {})[0] == 200
        final = console.wait(lambda s: s["phase"] == "done" and s["reports"], "the end")
    finally:
        code, _, err = _end(hq)
    document = json.loads(report.read_text())
    assert [event["kind"] for event in document["events"]] == ["start", "rate", "canons", "stop"]
    assert document["events"][1]["detail"] == "arrival rate 50 → 200 transactions/s"
    assert "canons 4 → 9" in document["events"][2]["detail"]
    times = [event["at_s"] for event in document["events"]]
    assert times == sorted(times) and times[-1] < 120
    # The console's last frame is the report's document itself.
    assert final["document"]["transaction"] == document["transaction"]
    assert final["document"]["time_series"] == document["time_series"]
    assert final["reports"] == {"json": str(report), "html": str(html)}
    page = html.read_text()
    assert "arrival rate 50 → 200 transactions/s" in page and "Events" in page
    assert code in (0, 1), err


def test_a_request_without_the_token_or_from_another_origin_changes_nothing():
    hq = HQProcess("--web", "0", "--web-token", TOKEN, "--run-time", "1m", "--no-progress")
    fake = FakeTurret(*hq.ports()).start()
    try:
        host, port, printed = console_address(hq)
        assert printed is None  # a token the user gave is never printed
        console = Console(host, port, TOKEN)
        _ready(console)
        stranger = Console(host, port)
        origin = f"http://{host}:{port}"
        assert stranger.post("start", {})[0] == 401
        assert stranger.post("start", {}, Authorization="Bearer not-the-token")[0] == 401
        assert stranger.request("GET", "/api/state")[0] == 401
        assert stranger.request("GET", "/events")[0] == 401
        assert console.post("start", {}, Origin="http://evil.example")[0] == 403
        assert console.post("start", {}, Origin=f"http://{host}:{port + 1}")[0] == 403
        status, _ = console.request("POST", "/api/start", None, {"Content-Type": "text/plain"})
        assert status == 415  # a form another site posts is not JSON
        assert console.state()["phase"] == "ready to start"
        # Accepted now, not "already started" (409): none of the above was taken.
        assert console.post("start", {}, Origin=origin)[0] == 200
        console.wait(lambda s: s["phase"] == "running", "running")
        assert stranger.post("stop", {})[0] == 401
        assert console.state()["phase"] == "running"
        assert console.post("stop", {})[0] == 200
        console.wait(lambda s: s["phase"] == "done", "the end")
    finally:
        code, _, err = _end(hq)
        fake.close()
    assert code in (0, 1), err


def test_a_console_for_the_network_prints_a_token_once_and_needs_it():
    """127.0.0.2 stands for an address other machines reach: still this machine."""
    hq = HQProcess("--web", "0", "--web-bind", "127.0.0.2", "--autostart", "--run-time", "30s")
    fake = FakeTurret(*hq.ports()).start()
    try:
        host, port, token = console_address(hq)
        assert host == "127.0.0.2" and token is not None and len(token) >= 40
        assert Console(host, port).request("GET", "/api/state")[0] == 401
        state = Console(host, port, token).wait(lambda s: s["phase"] == "running", "running")
        assert state["events"] == []  # --autostart: nobody pressed Start
        assert Console(host, port, token).post("stop", {})[0] == 200
    finally:
        code, _, err = hq.finish()
        fake.close()
    assert err.count(token) == 1
    assert code in (0, 1), err


def test_a_local_console_answers_only_to_its_own_host_name():
    """A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) names
    its own host: refused, read or write."""
    hq = HQProcess("--web", "0", "--run-time", "1m", "--no-progress")
    fake = FakeTurret(*hq.ports()).start()
    try:
        host, port, _ = console_address(hq)
        console = Console(host, port)
        _ready(console)
        rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        assert console.post("start", {}, **rebound)[0] == 403
        assert console.request("GET", "/api/state", None, rebound)[0] == 403
        assert console.state()["phase"] == "ready to start"
        assert console.request("GET", "/", None, {"Host": f"localhost:{port}"})[0] == 200
    finally:
        hq.process.send_signal(signal.SIGINT)
        code, _, err = hq.finish()
        fake.close()
    assert code == 130, err  # interrupted before the start: no test ran


def test_a_reference_turret_keeps_its_canons_and_the_console_says_why():
    hq = HQProcess("--web", "0", "--autostart", "--run-time", "1m", "--no-progress")
    fake = FakeTurret(*hq.ports(), report_counters=False).start()
    try:
        console = Console(*console_address(hq)[:2])
        state = console.wait(lambda s: s["phase"] == "running", "running")
        (turret,) = state["turrets_live"]
        assert not turret["ours"]
        status, answer = console.post("canons", {"turret": turret["uuid"], "canons": 9})
        assert status == 409 and "reference turret" in answer["error"]
        status, answer = console.post("rate", {"arrival_rate": 10})
        assert status == 409 and "closed model" in answer["error"]
        assert console.post("canons", {"turret": turret["uuid"], "canons": "9"})[0] == 400
        assert console.post("start", {"run_time": "soon"})[0] in (400, 409)
        assert console.post("stop", {})[0] == 200
    finally:
        code, _, err = hq.finish()
        fake.close()
    assert not {wire.SET_CANONS, wire.SET_ARRIVAL_RATE} & {name for name, _ in fake.commands}
    assert code in (0, 1), err


def test_running_frames_carry_what_the_page_shows_the_first_and_last_the_whole_document():
    """A frame a second to each client carries the sections the page shows and the
    last points; what grows with the fleet and the run comes once: in a client's
    first frame, in ``/api/state`` and in the last frame. A turret's name that came
    over the wire with a lone surrogate is sent as its escape, never breaks a stream."""
    hq = HQProcess("--web", "0", "--autostart", "--run-time", "1m", "--no-progress")
    fake = FakeTurret(*hq.ports(), name="fake \udcff").start()
    try:
        console = Console(*console_address(hq)[:2])
        console.wait(lambda s: s["phase"] == "running" and s["points"], "a second of results")
        stream = console.stream()
        first = next_frame(stream)
        assert {"turrets", "delivery", "time_series"} <= first["document"].keys()
        assert first["points"] == first["document"]["time_series"]
        running = next_frame(stream)
        while running["elapsed_s"] < 3:
            running = next_frame(stream)
        assert running["document"].keys() == LIVE_SECTIONS
        assert 0 < len(running["points"]) <= TAIL_POINTS
        (row,) = running["turrets_live"]
        assert row["name"] == "fake \\udcff" and row["received"] > 0
        assert row["received"] <= running["document"]["transaction"]["count"]
        assert "time_series" in console.state()["document"]
        assert console.post("stop", {})[0] == 200
        last = next_frame(stream)
        while last["phase"] != "done":
            last = next_frame(stream)
        assert last["document"]["turrets"][0]["name"] == "fake \\udcff"
        assert last["points"] == last["document"]["time_series"]
    finally:
        code, _, err = hq.finish()
        fake.close()
    assert code in (0, 1), err


def test_clients_that_go_away_are_let_go_and_nothing_is_built_for_nobody():
    hq = HQProcess("--web", "0", "--autostart", "--run-time", "1m", "--no-progress")
    fake = FakeTurret(*hq.ports()).start()
    try:
        console = Console(*console_address(hq)[:2])
        console.wait(lambda s: s["phase"] == "running", "running")
        streams = [console.stream() for _ in range(10)]
        for stream in streams:
            assert next_frame(stream)["phase"] == "running"
        watched = console.wait(lambda s: s["listeners"] == 10, "ten listeners")
        console.wait(lambda s: s["frames_pushed"] > watched["frames_pushed"] + 1, "frames pushed")
        for stream in streams:
            stream.close()
        idle = console.wait(lambda s: s["listeners"] == 0, "every client let go", timeout=20)
        # No listener: no frame built a second (the pusher ended), however long we wait.
        later = console.wait(
            lambda s: s["elapsed_s"] > idle["elapsed_s"] + 2.5, "2.5 s more of the test"
        )
        assert later["frames_pushed"] == idle["frames_pushed"]
        assert console.post("stop", {})[0] == 200
    finally:
        code, _, err = hq.finish()
        fake.close()
    assert code in (0, 1), err


@pytest.mark.parametrize(
    ("headers", "changes", "refused"),
    [
        ({"HTTP_HOST": "127.0.0.1:80"}, True, None),
        ({"HTTP_HOST": "localhost:80", "HTTP_ORIGIN": "http://localhost:80"}, True, None),
        ({"HTTP_HOST": "127.0.0.1:80", "HTTP_ORIGIN": "http://127.0.0.1:81"}, True, "403"),
        ({"HTTP_HOST": "127.0.0.1:80", "HTTP_ORIGIN": "null"}, True, "403"),
        ({"HTTP_HOST": "attacker:80"}, False, "403"),
        ({"HTTP_HOST": "127.0.0.1:81"}, False, "403"),
    ],
)
def test_the_guard_of_a_local_console(headers, changes, refused):
    refusal = Guard("127.0.0.1", 80, None).refusal(headers, changes=changes)
    assert (refusal and refusal[0][:3]) == refused


def test_the_guard_of_a_console_with_a_token():
    guard = Guard("10.0.0.5", 80, TOKEN)
    host = {"HTTP_HOST": "10.0.0.5:80"}
    assert guard.refusal({**host, "HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}, changes=True) is None
    assert guard.refusal(host, changes=True)[0].startswith("401")
    assert guard.refusal({**host, "QUERY_STRING": f"token={TOKEN}"}, changes=False) is None
    # The query string carries the token for the event stream only, never for a change.
    assert guard.refusal({**host, "QUERY_STRING": f"token={TOKEN}"}, changes=True)[0][:3] == "401"


@pytest.mark.parametrize(
    ("elapsed", "cost", "wait"),
    [
        (5.0, 0.001, 0.15),  # just past a whole second: this one's frame, once it settled
        (5.2, 0.001, 0.95),  # the next second's
        (5.2, 0.015, 0.95),  # a frame at the budget: still one a second
        (5.2, 0.035, 2.95),  # 35 ms a frame: every third second, 1.2 % of a core
        (None, 0.001, 1.0),  # not running: a second apart
        (None, 0.035, 3.0),
    ],
)
def test_frames_follow_the_seconds_of_the_test_within_their_cpu_budget(elapsed, cost, wait):
    assert until_next_frame(elapsed, cost) == pytest.approx(wait)


def test_a_standalone_run_serves_the_same_console(spawn_turret, tmp_path):
    report = tmp_path / "report.json"
    config = write_turret(tmp_path, NAP, canons=2)
    turret = spawn_turret(
        str(config), "--standalone", "--web", "0", "--autostart", "--run-time", "3s",
        "--json", str(report), "--no-progress",
    )  # fmt: skip
    turret.wait_log("console on http://127.0.0.1:")
    port = int(CONSOLE_PORT.search(turret.log)[1])
    state = Console("127.0.0.1", port).wait(lambda s: s["phase"] == "running", "running")
    assert state["turrets_live"][0]["ours"]
    assert turret.wait(60) in (0, 1), turret.log  # --autostart: it ends on its own
    assert json.loads(report.read_text())["events"] == []


def test_running_frames_read_each_turrets_loop_lag_every_few_seconds():
    """Each turret's loop-lag p99 over the run is a walk of its histogram: a running
    frame reads them every ``LAG_REFRESH_S`` of the feed's clock and shows the last
    read; a whole frame (first, ``/api/state``) always reads them."""
    stats, roster = fed(3)
    options = HQOptions(turrets=3)
    session = types.SimpleNamespace(
        phase=Phase.RUNNING, elapsed=lambda: 60.0, options=options, outcome=Outcome(),
        ledger=Ledger(),
    )  # fmt: skip
    asked = []

    def gather(*, lag_by_turret: bool = True) -> Findings:
        asked.append(lag_by_turret)
        outcome = Outcome(duration_s=60.0)
        return _findings(options, (0, 0), outcome, stats, roster, session, None, lag_by_turret)

    second = [0.0]
    feed = Feed(session, roster, gather, clock=lambda: second[0])
    frames = []
    for at in range(12):
        second[0] = float(at)
        frames.append(feed.frame(whole=False))
    every = int(LAG_REFRESH_S)
    assert asked == [at % every == 0 for at in range(12)]
    expected = {
        name: figures.p99_ms for name, figures in stats.summarize(60.0).loop_lag.turrets.items()
    }
    for frame in frames:
        rows = frame["turrets_live"]
        shown = {f"{r['name']} ({r['uuid'][:8]})": r["loop_lag_p99_ms"] for r in rows}
        assert shown == expected
    feed.frame(whole=True)
    assert asked[-1] is True
