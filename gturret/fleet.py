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
import tempfile
from dataclasses import dataclass
from time import monotonic
from typing import Any

import zmq.green as zmq

from gturret import wire
from gturret.battery import Share
from gturret.config import TurretConfig
from gturret.dispatch import StatusCounters, TurretFace, process_memory
from gturret.errors import HandshakeError
from gturret.link import HQSockets, Route, receive
from gturret.looplag import lag_histogram
from gturret.processes import WorkerProcess, WorkerProcesses, worker_command
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


@dataclass
class Worker:
    """One worker process as the parent knows it."""

    index: int
    uuid: str
    process: WorkerProcess
    subscribed: bool = False
    status: dict[str, Any] | None = None
    reported_at: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def state(self) -> str | None:
        return self.status["status"] if self.status else None


class Fleet(TurretFace):
    """The turret the HQ sees, made of worker processes."""

    def __init__(self, config: TurretConfig, processes: int, log_level: str) -> None:
        super().__init__(config)
        self.workers: list[Worker] = []
        self._by_uuid: dict[str, Worker] = {}
        self._processes = WorkerProcesses()
        self._count = processes
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
        # The workers' own results sockets use the same keys with the same HQ: a
        # refusal shows on these first, and the parent speaks for the fleet.
        self.hq = HQSockets(self._context, config, self.uuid, Route.to_hq(config), CLOSE_LINGER_MS)
        self._poller = zmq.Poller()
        for socket in (self.hq.commands, self._reports, self._orders):
            self._poller.register(socket, zmq.POLLIN)

    def open(self) -> bool:
        """Spawn the workers and wait until each has subscribed and reported."""
        for index in range(self._count):
            uuid = f"{self.uuid}/{index}"
            command = worker_command(
                str(self.config.source.resolve()),
                Share(index, self._count),
                uuid,
                self._route,
                self._log_level,
            )
            self.workers.append(Worker(index, uuid, self._processes.spawn(index, command)))
        self._by_uuid = {worker.uuid: worker for worker in self.workers}
        deadline = monotonic() + START_TIMEOUT
        while not all(worker.status for worker in self.workers):
            if self.kill_reason is not None:
                return False
            lost = (
                f"the workers did not all start within {START_TIMEOUT:g}s"
                if monotonic() > deadline
                else self._read_workers() or self._processes.lost()
            )
            if lost:
                self.abort(lost)
                return False
            self._poller.poll(POLL_MS)
        return True

    def ready_detail(self) -> str:
        pids = ", ".join(str(worker.pid) for worker in self.workers)
        return f" in {len(self.workers)} worker processes (pids {pids})"

    def commands_endpoint(self) -> str:
        return self.hq.route.commands

    def turn(self) -> None:
        """Follow the workers' statuses, read the HQ's frames, answer a status_request."""
        lost = self._read_workers() or self._processes.lost()
        if lost:
            self.abort(lost)
            return
        while (frame := self.hq.receive()) is not None:
            self.handle_frame(frame)
        problem = self.hq.handshake_failure()
        if problem is not None:
            raise HandshakeError(problem)
        if self._asked_at is not None and (
            all(worker.reported_at >= self._asked_at for worker in self.workers)
            or monotonic() - self._asked_at > STATUS_WAIT
        ):
            self._asked_at = None
            self.send_status()
        self._poller.poll(POLL_MS)

    def refused(self) -> None:
        """No link to the HQ: the workers have none either; end them."""
        self._ending = True
        self._orders.send(wire.encode_command("kill", "no link to the HQ"))
        self._processes.end(monotonic() + KILL_TIMEOUT)

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

    def journal(self, order: wire.JournalOrder) -> None:
        """Relay to every worker: each reads its own entry (its own sender id)."""
        self._relay("journal", wire.journal_msg(order))

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

    def set_arrival_rate(self, rate: float) -> None:
        """Relay: each worker paces its share of the turret's rate."""
        self._relay(wire.SET_ARRIVAL_RATE, wire.arrival_rate_msg(rate))

    def set_canons(self, canons: int) -> None:
        """Relay: each worker runs its share of the turret's canons."""
        self.canons = canons
        self._relay(wire.SET_CANONS, wire.canons_msg(canons))
        self.send_status()

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
            self.hq.push.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            log.warning("the HQ is not taking statuses; %s not sent", self.state.value)

    def kill(self, reason: str) -> None:
        """Kill every worker, report ``killed`` once they have (or KILL_TIMEOUT passed)."""
        log.info("killing the turret (%s) and its %d workers", reason, len(self.workers))
        self._ending = True
        self._orders.send(wire.encode_command("kill", reason))
        deadline = monotonic() + KILL_TIMEOUT
        while monotonic() < deadline and any(
            worker.state != State.KILLED and worker.process.ended() is None
            for worker in self.workers
        ):
            self._poller.poll(POLL_MS // 2)
            self._read_workers()
        self.set_state(State.KILLED)
        self._processes.end(deadline)

    def abort(self, why: str | None) -> None:
        """Kill the workers and report ``aborted``; ``why``: the worker lost (None: this
        process failed)."""
        log.error(
            "%s: aborting the turret and killing the other workers",
            why or "the parent process failed",
        )
        self._ending = True
        self._orders.send(wire.encode_command("kill", "turret aborted"))
        self.set_state(State.ABORTED)
        self._processes.end(monotonic() + KILL_TIMEOUT)

    def close(self) -> None:
        self._processes.close()
        self.hq.close()
        self._orders.close()
        self._reports.close()
        self._context.term()
        shutil.rmtree(self._folder, ignore_errors=True)
