"""The parent of a fleet (``gturret --processes N``): one turret to the HQ, N processes.

Why it exists: a gevent loop runs on one core, so a turret that must use more cores
runs N worker processes (:mod:`gturret.worker`), each with its own loop and its
:class:`~gturret.battery.Share` of the canons. The HQ must still see ONE turret:
this process holds the HQ-facing SUB and sends the statuses (its own uuid, the
workers' counters summed). It relays every valid command to the workers on a local
XPUB and gathers their statuses on a local PULL, both ``ipc://`` sockets in a
private temporary folder. Results never pass through here: each worker pushes its
own straight to the HQ, so the parent costs no CPU per transaction.

Its state follows the workers': running once all of them run, ready once all are
ready again. A worker that dies or aborts aborts the turret: the others are killed,
the HQ gets ``aborted``, the exit status is 1. It must never handle a result, never
leave a worker behind (workers also die with it, see :mod:`gturret.worker`), and
never answer the HQ before every worker has subscribed to its orders: ZeroMQ's PUB
drops frames for subscribers that have not joined yet, so a start could be lost.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from time import monotonic
from typing import Any

import zmq.green as zmq

from gturret import wire
from gturret.battery import Share
from gturret.config import TurretConfig
from gturret.dispatch import StatusCounters, TurretFace, process_memory
from gturret.errors import ExitStatus, HandshakeError
from gturret.keys import HandshakeWatch
from gturret.link import Route, command_socket, handshake_problem, push_socket, receive
from gturret.looplag import lag_histogram
from gturret.wire import State

log = logging.getLogger(__name__)

#: Milliseconds the dispatcher waits for a frame before it looks at the workers again.
POLL_MS = 100
#: Seconds the workers get to start, load the script and subscribe.
START_TIMEOUT = 60.0
#: Seconds an answer to status_request waits for fresh counters from every worker.
STATUS_WAIT = 0.25
#: Seconds workers get to exit after a kill before they are SIGKILLed.
KILL_TIMEOUT = 1.3
#: Milliseconds ZeroMQ keeps trying to deliver the last status when the parent exits.
CLOSE_LINGER_MS = 300
#: Workers always report their counters to us, whatever the HQ asked for.
WORKER_STATUS_REQUEST = wire.status_request_msg(wire.WANT_COUNTERS)


def fleet_size(requested: int, canons: int) -> int:
    """Worker processes for ``--processes requested``: -1 is one per core; never above canons."""
    if requested == -1:
        requested = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
    return max(1, min(requested, canons))


def worker_command(config: str, share: Share, uuid: str, route: Route, log_level: str) -> list[str]:
    """The command line of worker ``share.index`` of ``share.count`` (read by gturret.worker)."""
    return [
        sys.executable,
        "-m",
        "gturret.worker",
        config,
        f"--index={share.index}",
        f"--count={share.count}",
        f"--uuid={uuid}",
        f"--commands={route.commands}",
        f"--statuses={route.statuses}",
        f"--parent={os.getpid()}",
        f"--log-level={log_level}",
    ]


@dataclass
class Worker:
    """One worker process as the parent knows it."""

    index: int
    uuid: str
    process: subprocess.Popen[bytes]
    subscribed: bool = False
    status: dict[str, Any] | None = None
    reported_at: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def state(self) -> str | None:
        return self.status["status"] if self.status else None

    def ended(self) -> str | None:
        """How the process ended, or None while it runs."""
        code = self.process.poll()
        if code is None:
            return None
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited ({code})"
        return f"worker {self.index} (pid {self.pid}) {how}"


class Fleet(TurretFace):
    """The turret the HQ sees, made of worker processes."""

    def __init__(self, config: TurretConfig, processes: int, log_level: str) -> None:
        super().__init__(config)
        self.workers: list[Worker] = []
        self._by_uuid: dict[str, Worker] = {}
        self._processes = processes
        self._log_level = log_level
        self._ending = False
        self._asked_at: float | None = None
        self._folder = tempfile.mkdtemp(prefix="gturret-fleet-")
        self._route = Route(f"ipc://{self._folder}/commands", f"ipc://{self._folder}/statuses")
        self._context = zmq.Context()
        self._orders = self._context.socket(zmq.XPUB)
        self._orders.setsockopt(zmq.LINGER, 0)
        self._orders.bind(self._route.commands)
        self._reports = self._context.socket(zmq.PULL)
        self._reports.setsockopt(zmq.LINGER, 0)
        self._reports.bind(self._route.statuses)
        self._sub = command_socket(
            self._context, config.publisher_endpoint, self.uuid, config.curve
        )
        self._push = push_socket(
            self._context, config.collector_endpoint, config.curve, CLOSE_LINGER_MS
        )
        # The workers' own results sockets use the same keys with the same HQ: a
        # refusal shows here first, and the parent speaks for the fleet.
        self._handshakes = HandshakeWatch([self._sub, self._push])
        self._poller = zmq.Poller()
        for socket in (self._sub, self._reports, self._orders):
            self._poller.register(socket, zmq.POLLIN)

    def serve(self) -> int:
        """Start the workers, then relay commands until killed; the process's exit status."""
        try:
            lost = self._start_workers()
            while lost is None and self.state is not State.KILLED:
                lost = self._tick()
            if lost is None:
                return ExitStatus.OK
            self._abort(lost)
            return ExitStatus.FAILED
        except HandshakeError as exc:
            log.error("%s", exc)
            self._ending = True
            self._orders.send(wire.encode_command("kill", "no link to the HQ"))
            self._end_workers(monotonic() + KILL_TIMEOUT)
            return ExitStatus.USAGE
        except Exception:
            log.exception("turret error; aborting")
            self._abort("the parent process failed")
            return ExitStatus.FAILED
        finally:
            self._close()

    def _start_workers(self) -> str | None:
        """Spawn the workers and wait until each has subscribed and reported; why not, if not."""
        count = self._processes
        for index in range(count):
            uuid = f"{self.uuid}/{index}"
            command = worker_command(
                str(self.config.source.resolve()),
                Share(index, count),
                uuid,
                self._route,
                self._log_level,
            )
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
            self.workers.append(Worker(index, uuid, process))
        self._by_uuid = {worker.uuid: worker for worker in self.workers}
        deadline = monotonic() + START_TIMEOUT
        while not all(worker.status for worker in self.workers):
            if self.kill_reason is not None:
                return None
            if monotonic() > deadline:
                return f"the workers did not all start within {START_TIMEOUT:g}s"
            lost = self._read_workers() or self._lost_worker()
            if lost:
                return lost
            self._poller.poll(POLL_MS)
        self.state = State.READY
        log.info(
            "turret %r (%s) ready, %d canons in %d worker processes (pids %s); waiting for"
            " the HQ at %s (commands) and %s (results)",
            self.config.name,
            self.uuid,
            self.config.canons,
            count,
            ", ".join(str(worker.pid) for worker in self.workers),
            self.config.publisher_endpoint,
            self.config.collector_endpoint,
        )
        return None

    def _tick(self) -> str | None:
        """One turn: handle a kill, the workers' statuses, the HQ's frames; why lost, if so."""
        if self.kill_reason is not None:
            self.kill(self.kill_reason)
            return None
        lost = self._read_workers() or self._lost_worker()
        if lost:
            return lost
        while (frame := receive(self._sub)) is not None:
            self.handle_frame(frame)
        failure = self._handshakes.settled()
        if failure is not None:
            raise HandshakeError(handshake_problem(failure, self.config.curve))
        if self._asked_at is not None and (
            all(worker.reported_at >= self._asked_at for worker in self.workers)
            or monotonic() - self._asked_at > STATUS_WAIT
        ):
            self._asked_at = None
            self.send_status()
        self._poller.poll(POLL_MS)
        return None

    def _relay(self, name: str, msg: Any) -> None:
        """Order every worker (as a broadcast: the uuid the HQ used is ours, not theirs)."""
        self._orders.send(wire.encode_command(name, msg))

    def answer_status_request(self) -> None:
        """Ask the workers too; answer once all have (fresh counters) or STATUS_WAIT passed.

        The workers always send us their counters; the HQ gets them only if it asked.
        What else the HQ wants (aggregated results, uncorrected times) is for the
        workers: they send results straight to it.
        """
        wants = sorted(self.hq_wants - {wire.WANT_COUNTERS})
        self._relay("status_request", wire.status_request_msg(wire.WANT_COUNTERS, *wants))
        if self._asked_at is None:
            self._asked_at = monotonic()

    def set_context(self, context: dict[str, Any]) -> None:
        # Checked by the face, so that a bad one is counted once, not once per worker.
        self._relay("set_transaction_context", context)

    def start_test(self, msg: Any) -> None:
        """Relay; ``running`` follows once every worker runs."""
        self._relay("start", msg)

    def stop_test(self, msg: Any) -> None:
        """Relay; the ready that answers it comes once every worker is ready (again)."""
        self._relay("stop", msg)
        if self.state is State.READY and self._asked_at is None:
            self._asked_at = monotonic()

    def _read_workers(self) -> str | None:
        """File the workers' subscriptions and statuses, following their state; why lost."""
        while (raw := receive(self._orders)) is not None:
            self._subscribed(raw)
        while (raw := receive(self._reports)) is not None:
            status = wire.decode_message(raw)
            worker = self._by_uuid[status["uuid"]]
            worker.status = status
            worker.reported_at = monotonic()
            if worker.state in (State.KILLED, State.ABORTED) and not self._ending:
                return f"worker {worker.index} (pid {worker.pid}) {worker.state}"
            self._follow_workers()
        return None

    def _follow_workers(self) -> None:
        """Running once every worker runs; ready once every worker is ready again."""
        states = {worker.state for worker in self.workers}
        if states == {State.RUNNING} and self.state is State.READY:
            log.info("open fire: all %d workers running", len(self.workers))
            self.set_state(State.RUNNING)
        elif states == {State.READY} and self.state is State.RUNNING:
            self.log_cease_fire(self.counters(), f"; all {len(self.workers)} workers ready")
            self.set_state(State.READY)

    def _subscribed(self, frame: bytes) -> None:
        """A worker that subscribed to its uuid hears our orders: ask it for a status."""
        for worker in self.workers:
            if frame == b"\x01" + worker.uuid.encode() and not worker.subscribed:
                worker.subscribed = True
                self._orders.send(
                    wire.encode_command(
                        "status_request", WORKER_STATUS_REQUEST, channel=worker.uuid
                    )
                )

    def _lost_worker(self) -> str | None:
        for worker in self.workers:
            ended = worker.ended()
            if ended:
                return ended
        return None

    def counters(self) -> StatusCounters:
        """The workers' counters as one turret's, with our own bad frames, memory and size."""
        counters = StatusCounters.combined(
            StatusCounters.from_status(worker.status) for worker in self.workers if worker.status
        )
        counters.frames_ignored += self.frames_ignored
        rss, rss_peak = process_memory()
        counters.rss_bytes += rss
        counters.rss_peak_bytes += rss_peak
        counters.processes = len(self.workers)
        return counters

    def take_loop_lag(self) -> str | None:
        """The workers' loop-lag histograms not yet passed on, added into one."""
        taken = [
            w.status.pop("loop_lag") for w in self.workers if w.status and "loop_lag" in w.status
        ]
        if not taken:
            return None
        total = lag_histogram()
        for encoded in taken:
            total.decode_and_add(encoded)
        merged: bytes = total.encode()
        return merged.decode("ascii")

    def push_status(self, frame: bytes) -> None:
        try:
            self._push.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            log.warning("the HQ is not taking statuses; %s not sent", self.state.value)

    def kill(self, reason: str) -> None:
        """Kill every worker, report ``killed`` once they have (or KILL_TIMEOUT passed)."""
        log.info("killing the turret (%s) and its %d workers", reason, len(self.workers))
        self._ending = True
        self._orders.send(wire.encode_command("kill", reason))
        deadline = monotonic() + KILL_TIMEOUT
        while monotonic() < deadline and any(
            worker.state != State.KILLED and worker.ended() is None for worker in self.workers
        ):
            self._poller.poll(POLL_MS // 2)
            self._read_workers()
        self.set_state(State.KILLED)
        self._end_workers(deadline)

    def _abort(self, why: str) -> None:
        log.error("%s: aborting the turret and killing the other workers", why)
        self._ending = True
        self._orders.send(wire.encode_command("kill", "turret aborted"))
        self.set_state(State.ABORTED)
        self._end_workers(monotonic() + KILL_TIMEOUT)

    def _end_workers(self, deadline: float) -> None:
        """Wait for the workers to exit until ``deadline``, then SIGKILL the rest."""
        for worker in self.workers:
            try:
                worker.process.wait(max(0.0, deadline - monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %d (pid %d) still there: SIGKILL", worker.index, worker.pid)
                worker.process.kill()
                worker.process.wait()

    def _close(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
        self._handshakes.close()
        for socket in (self._orders, self._reports, self._sub, self._push):
            socket.close()
        self._context.term()
        shutil.rmtree(self._folder, ignore_errors=True)
