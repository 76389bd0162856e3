"""A counting HQ that drives one real turret subprocess through the OCT protocol.

It binds PUB + PULL on 127.0.0.1 ephemeral ports as the reference HQ does, asks for a
status until the turret registers, sends ``set_transaction_context`` and ``start``,
and counts the result messages it received of the transactions that ended in the
measured window, by each result's own ``epoch`` (what the turret claims it sent
never counts). Counting by arrival instead would let a sink that fell behind on a
loaded machine count a backlog from the warm-up into the window, and make a turret
look faster than a C client on the same core; so after the window it keeps
receiving until a result from after the window has come (or ``_LATE_GRACE``).
Then it sends ``stop``, times the wait for the ``ready`` status, reads the turret's
peak RSS and sends ``kill``. It speaks the wire through ``gturret.wire`` so the
bench and the turret share one codec, and it must never leave a turret process
behind.

With ``Plan.detail`` it also keeps the ``scriptrun_time`` of every result counted
in the window (for latency percentiles), and at the window's end asks for gturret's
canon counters with the status handshake (docs/protocol.md, "Handshake") to tell
how many canons never completed a transaction. A turret that ignores the handshake
(oct-turrets) answers with a plain status: then there is nothing to report.

With ``Plan.curve`` the run is keyed (CurveZMQ, docs/security.md "Keys"): key pairs for the
sink and the turret are made in the run's folder, the sink's sockets are CURVE
servers (``gturret.keys.curve_server``, as our HQ's) vetted by pyzmq's thread
authenticator (the sink is a plain threaded program, not a gevent one), and the
turret's config names its keys.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from zmq.auth.thread import ThreadAuthenticator

from bench.latency import percentiles_ms
from gturret.keys import (
    ZAP_DOMAIN,
    HQKeys,
    create_key_pair,
    curve_server,
    read_key_pair,
    read_turret_keys,
)
from gturret.wire import (
    WANT_COUNTERS,
    decode_message,
    encode_command,
    is_result,
    is_status,
    status_request_msg,
)
from tests.support.registration import register

# The reference HQ asks again each time a reply arrives or this many seconds pass; the
# bench does the same after `stop`, so a turret that never announces `ready` by itself
# shows up as a stop time of about this much.
_STATUS_REPEAT = 2.0
_REGISTER_REPEAT = 0.2
_REGISTER_SETTLE = 0.3
_KILL_GRACE = 5.0
# Seconds the sink may keep receiving after the window for the results of transactions
# that ended in it (it stops as soon as one that ended after the window arrives).
_LATE_GRACE = 5.0


class TurretFailed(RuntimeError):
    """The turret exited, never registered, or never became ready again."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How long to warm up, to count, and to wait at each step (seconds)."""

    warmup: float
    window: float
    register_timeout: float = 30.0
    ready_timeout: float = 15.0
    #: Keep the window's latencies and ask for the canon counters at its end.
    detail: bool = False
    counters_timeout: float = 10.0
    #: Keyed links (CurveZMQ) between the sink and the turret.
    curve: bool = False


@dataclass(frozen=True, slots=True)
class TurretRun:
    """What the sink saw of one turret run."""

    results: int
    seconds: float
    errors: int
    incomplete: int
    first_error: str
    stop_to_ready: float | None
    peak_rss: int
    threads: int
    #: ``p50_ms``, ``p90_ms``, ``p95_ms``, ``p99_ms`` of the window's ``scriptrun_time`` (detail).
    latency: dict[str, float] = field(default_factory=dict)
    #: From the status asked for at the window's end (detail; None from oct-turrets).
    canons_spawned: int | None = None
    canons_started: int | None = None
    canons_completed: int | None = None
    #: CPU seconds the turret and its children took during the window.
    cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.results / self.seconds


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _proc_status_sum(pid: int, field: str) -> int:
    """Sum of one /proc/PID/status number over ``pid`` and its descendants."""
    total = 0
    for process in _descendants(pid):
        try:
            lines = Path(f"/proc/{process}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(f"{field}:"):
                total += int(line.split()[1])
    return total


def peak_rss(pid: int) -> int:
    """Peak resident memory in bytes: VmHWM summed over ``pid`` and its descendants."""
    return _proc_status_sum(pid, "VmHWM") * 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` and its descendants so far (/proc/PID/stat)."""
    ticks = 0
    for process in _descendants(pid):
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def threads(pid: int) -> int:
    """OS threads of ``pid`` and its descendants (oct-turrets runs a thread per cannon)."""
    return _proc_status_sum(pid, "Threads")


class _Sink:
    """The HQ's two sockets and the counters fed by what arrives on them."""

    def __init__(self, keys: HQKeys | None = None) -> None:
        self.context = zmq.Context()
        self.authenticator: ThreadAuthenticator | None = None
        self.pub = self.context.socket(zmq.PUB)
        self.pull = self.context.socket(zmq.PULL)
        if keys is not None:
            self.authenticator = ThreadAuthenticator(self.context)
            self.authenticator.start()
            self.authenticator.configure_curve(ZAP_DOMAIN.decode(), keys.turrets.folder)
            curve_server(self.pub, keys)
            curve_server(self.pull, keys)
        self.pub_port = self.pub.bind_to_random_port("tcp://127.0.0.1")
        self.pull_port = self.pull.bind_to_random_port("tcp://127.0.0.1")
        self.poller = zmq.Poller()
        self.poller.register(self.pull, zmq.POLLIN)
        self.results = 0
        self.errors = 0
        self.incomplete = 0
        self.first_error = ""
        self.registered: set[str] = set()
        self.ready: set[str] = set()
        self.stopped = False
        self.statuses = 0
        self.latencies: list[float] | None = None  # a list while the window is timed
        self.counters: dict[str, int] | None = None
        #: The measured window, wall-clock seconds [start, end): results are counted in
        #: it by their ``epoch`` (by arrival when they have none).
        self.window: tuple[float, float] | None = None
        self.in_window = 0
        self.past_window = False

    def send(self, command: str, msg: Any = None) -> None:
        self.pub.send(encode_command(command, msg))

    def pump(self, seconds: float, *, until_status: bool = False, until_past: bool = False) -> None:
        """Receive and count everything that arrives for ``seconds`` (or until a
        status arrives, with ``until_status``, or a result from after the window, with
        ``until_past``)."""
        deadline = time.monotonic() + seconds
        statuses = self.statuses
        while (left := deadline - time.monotonic()) > 0 and not (until_past and self.past_window):
            if not self.poller.poll(int(min(left, 0.05) * 1000)):
                continue
            while True:
                try:
                    raw = self.pull.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._handle(decode_message(raw))
                if time.monotonic() >= deadline:
                    return
            if until_status and self.statuses > statuses:
                return

    def _handle(self, message: dict[str, Any]) -> None:
        if is_status(message):
            self.statuses += 1
            self._note_counters(message)
            uuid = str(message["uuid"])
            if not self.stopped:
                self.registered.add(uuid)
            elif str(message["status"]).lower() == "ready":
                self.ready.add(uuid)
            return
        # Whatever is not a status is a result: oct-turrets 0.2.8 sends its results
        # without `turret_name`, so those are counted and also tallied as incomplete.
        self.results += 1
        if self.window is not None:
            epoch = message.get("epoch")
            ended = epoch if isinstance(epoch, int | float) else time.time()
            if ended >= self.window[1]:
                self.past_window = True
            elif ended >= self.window[0]:
                self.in_window += 1
                scriptrun_time = message.get("scriptrun_time")
                if self.latencies is not None and isinstance(scriptrun_time, int | float):
                    self.latencies.append(scriptrun_time)
        if not is_result(message):
            self.incomplete += 1
        if message.get("error"):
            self.errors += 1
            self.first_error = self.first_error or str(message["error"])

    def _note_counters(self, message: dict[str, Any]) -> None:
        counters = {
            name: message.get(f"canons_{name}") for name in ("spawned", "started", "completed")
        }
        if all(isinstance(count, int) for count in counters.values()):
            self.counters = counters

    def close(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()
        self.context.destroy(linger=0)


def _log_tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return "\n".join(lines[-15:])


class _Turret:
    """The turret subprocess: started pinned, always ended."""

    def __init__(self, command: list[str], workdir: Path) -> None:
        self.log = workdir / "turret.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, str(workdir / "config.json")],
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def check_alive(self, step: str) -> None:
        if self.process.poll() is not None:
            raise TurretFailed(
                f"turret exited with code {self.process.returncode} {step}:\n{_log_tail(self.log)}"
            )

    def end(self, sink: _Sink) -> None:
        if self.process.poll() is None:
            sink.send("kill", "bench over")
            deadline = time.monotonic() + _KILL_GRACE
            while self.process.poll() is None and time.monotonic() < deadline:
                sink.pump(0.05)
        for ender in (self.process.terminate, self.process.kill):
            if self.process.poll() is not None:
                return
            ender()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                continue


def _register(sink: _Sink, turret: _Turret, plan: Plan) -> None:
    """Ask until the turret answers, as the tests' fake HQ does (one shared routine)."""

    def listen(seconds: float) -> bool:
        statuses = sink.statuses
        sink.pump(seconds, until_status=True)
        return sink.statuses > statuses

    answered = register(
        lambda: sink.send("status_request"),
        listen,
        timeout=plan.register_timeout,
        repeat=_REGISTER_REPEAT,
        settle=_REGISTER_SETTLE,
        before_asking=lambda: turret.check_alive("before registering"),
    )
    if not answered:
        raise TurretFailed(
            f"turret did not register within {plan.register_timeout} s:\n{_log_tail(turret.log)}"
        )


def _canon_counters(sink: _Sink, turret: _Turret, plan: Plan) -> dict[str, int] | None:
    """Canons spawned, started and completed, from the first status answering the handshake.

    Every status after this request carries the counters if the turret speaks the
    handshake, so the first one decides; None when it has none (oct-turrets) or
    none came within ``plan.counters_timeout``.
    """
    seen = sink.statuses
    sink.counters = None
    sink.send("status_request", status_request_msg(WANT_COUNTERS))
    deadline = time.monotonic() + plan.counters_timeout
    while sink.statuses == seen and time.monotonic() < deadline:
        turret.check_alive("while asked for its counters")
        sink.pump(0.005)
    return sink.counters


def _wait_ready(sink: _Sink, turret: _Turret, plan: Plan) -> float | None:
    stopped_at = time.monotonic()
    sink.stopped = True
    sink.send("stop", "premature stop")
    next_ask = stopped_at + _STATUS_REPEAT
    while not sink.registered <= sink.ready:
        now = time.monotonic()
        if now - stopped_at > plan.ready_timeout or turret.process.poll() is not None:
            return None
        if now >= next_ask:
            sink.send("status_request")
            next_ask = now + _STATUS_REPEAT
        sink.pump(0.005)
    return time.monotonic() - stopped_at


def _keys(workdir: Path) -> dict[str, str]:
    """Key pairs for the sink and the turret in ``workdir``; the turret's config keys."""
    (workdir / "turrets").mkdir()
    create_key_pair(workdir, "hq")
    create_key_pair(workdir / "turrets", "turret")
    return {"hq_public_key": "hq.key", "turret_secret_key": "turrets/turret.key_secret"}


def read_keys(workdir: Path) -> HQKeys:
    """The sink's keys, as ``_keys`` made them."""
    return HQKeys(read_key_pair(workdir / "hq.key_secret"), read_turret_keys(workdir / "turrets"))


def drive(command: list[str], script: Path, config: dict[str, Any], plan: Plan) -> TurretRun:
    """Run one turret test: ``command`` plus the path of a config.json written here.

    Scripts read their settings (URL, think time) from extra config keys, which both
    turrets hand to ``Transaction`` from the first instance on; the transaction context
    is sent empty, as the reference HQ sends its own.
    """
    workdir = Path(tempfile.mkdtemp(prefix="gturret-bench-turret-"))
    keyed = _keys(workdir) if plan.curve else {}
    sink = _Sink(read_keys(workdir) if plan.curve else None)
    turret: _Turret | None = None
    try:
        shutil.copy(script, workdir / "script.py")
        full = {
            **config,
            **keyed,
            "script": "script.py",
            "hq_address": "127.0.0.1",
            "hq_publisher": sink.pub_port,
            "hq_rc": sink.pull_port,
        }
        (workdir / "config.json").write_text(json.dumps(full))
        turret = _Turret(command, workdir)
        _register(sink, turret, plan)
        sink.send("set_transaction_context", {})
        sink.send("start", "open fire")
        sink.pump(plan.warmup)
        turret.check_alive("during warm-up")
        counted_from, cpu_from = time.time(), cpu_seconds(turret.process.pid)
        sink.window = (counted_from, counted_from + plan.window)
        sink.latencies = [] if plan.detail else None
        sink.pump(plan.window)
        cpu = cpu_seconds(turret.process.pid) - cpu_from
        sink.pump(_LATE_GRACE, until_past=True)  # the window's last results, on their way
        counted_to, results = sink.window[1], sink.in_window
        latencies, sink.latencies, sink.window = sink.latencies, None, None
        turret.check_alive("during the measured window")
        counters = _canon_counters(sink, turret, plan) if plan.detail else None
        pid = turret.process.pid
        threads_then, rss_then = threads(pid), peak_rss(pid)
        stop_to_ready = _wait_ready(sink, turret, plan)
        return TurretRun(
            results=results,
            seconds=counted_to - counted_from,
            errors=sink.errors,
            incomplete=sink.incomplete,
            first_error=sink.first_error,
            stop_to_ready=stop_to_ready,
            peak_rss=max(rss_then, peak_rss(pid)),
            threads=threads_then,
            latency=percentiles_ms(latencies or []),
            canons_spawned=counters["spawned"] if counters else None,
            canons_started=counters["started"] if counters else None,
            canons_completed=counters["completed"] if counters else None,
            cpu_seconds=cpu,
        )
    finally:
        if turret is not None:
            turret.end(sink)
        sink.close()
        shutil.rmtree(workdir, ignore_errors=True)
