"""The worker processes of a fleet: spawned, waited for, killed if they linger.

Why its own module: what a fleet parent does with processes (command lines, exit
codes, SIGKILL) is apart from what it says to them (:mod:`gturret.fleet` relays
orders and adds up statuses over ipc sockets). Each worker runs in a session of its
own, so a signal to the parent's terminal group reaches the parent alone, which
then kills its workers in order. It must never leave a process behind: ``close``
kills whatever still runs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from time import monotonic

from gturret.battery import Share
from gturret.link import Route

log = logging.getLogger(__name__)


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


class WorkerProcess:
    """One worker process: its index in the fleet and how it ended, if it has."""

    def __init__(self, index: int, command: list[str]) -> None:
        self.index = index
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self._process.pid

    def ended(self) -> str | None:
        """How the process ended, or None while it runs."""
        code = self._process.poll()
        if code is None:
            return None
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited ({code})"
        return f"worker {self.index} (pid {self.pid}) {how}"

    def end(self, deadline: float) -> None:
        """Wait for the process to exit until ``deadline`` (monotonic), then SIGKILL it."""
        try:
            self._process.wait(max(0.0, deadline - monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %d (pid %d) still there: SIGKILL", self.index, self.pid)
            self.kill()

    def kill(self) -> None:
        """SIGKILL the process (if it still runs) and reap it."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()


class WorkerProcesses:
    """Every worker process of a fleet, in the order they were spawned."""

    def __init__(self) -> None:
        self._all: list[WorkerProcess] = []

    def spawn(self, index: int, command: list[str]) -> WorkerProcess:
        """Start worker ``index`` with ``command`` (:func:`worker_command`)."""
        process = WorkerProcess(index, command)
        self._all.append(process)
        return process

    def lost(self) -> str | None:
        """How the first worker that ended did, or None while all run."""
        for process in self._all:
            ended = process.ended()
            if ended:
                return ended
        return None

    def end(self, deadline: float) -> None:
        """Wait for every worker to exit until ``deadline`` (monotonic), then SIGKILL the rest."""
        for process in self._all:
            process.end(deadline)

    def close(self) -> None:
        """SIGKILL whatever still runs: never a worker left behind."""
        for process in self._all:
            process.kill()
