"""SIGTERM and SIGINT of a gturret process, from its first line of gturret code on.

Why it exists: ``timeout`` in CI and Kubernetes end a turret with SIGTERM at any
moment, and each moment must give the documented exit status (0: killed, as by the
HQ's ``kill``; 130: a second SIGINT, out at once). A turret passes through three
moments, and a signal means the same in each, done the way that moment allows:

1. *loading* (gevent, the config and script modules being imported): nothing to
   undo yet, so it exits at once with one line;
2. *start-up* (config, tar, requirements, the script's import): it raises
   :class:`StartupInterrupted` where the process is, so the tar's folder is removed
   and a pip install is stopped on the way out, and the CLI exits 0 with one line
   (130 where a signal leaves no verdict: ``--standalone``, ``gturret-hq``);
3. *serving* (and while the turret is built, a signal kept till then): the turret's
   own kill (:meth:`~gturret.dispatch.TurretFace.request_kill`),
   which ceases fire, reports ``killed`` and exits 0 within a bound the watchdog
   enforces.

``gturret-hq`` and ``--standalone`` use the first two moments too; then the HQ's
own handlers take over (:mod:`gturret.hq.interrupt`). Before gturret's first line
runs (the interpreter's own start-up, tens of milliseconds) a signal can only do
what the kernel does by default: end the process (status 143 for SIGTERM).

Plain ``signal.signal`` handlers, not gevent's: they run at the next bytecode even
while a script holds the loop. The module imports only the standard library: it is
installed before gevent patches anything, and must never import more (but
:mod:`gturret.errors`, which imports nothing either).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from enum import Enum

from gturret.errors import ExitStatus


class StartupInterrupted(SystemExit):
    """A signal during start-up: unwinds whatever is running, for the CLI to exit
    with ``code`` (the startup status) after one line.

    A ``SystemExit`` so that gevent's hub hands it on to the main greenlet without
    printing a traceback when it lands in the hub, that a script's ``except
    Exception`` does not swallow it, and that, uncaught, it still exits as it should.
    """

    def __init__(self, signal_name: str, status: int) -> None:
        super().__init__(status)
        self.signal_name = signal_name


class Moment(Enum):
    LOADING = "loading"
    STARTING = "start-up"
    HANDOVER = "hand-over"
    SERVING = "serving"


class ProcessSignals:
    """The one SIGTERM/SIGINT handler of a gturret process, and the moment it is in."""

    def __init__(self, program: str, startup_status: int = ExitStatus.OK) -> None:
        """``startup_status``: the exit status of a signal before serving (a turret's
        0, as a kill; 130 where no verdict could come, as our HQ's)."""
        self.program = program
        self.startup_status = startup_status
        self.moment = Moment.LOADING
        self.received: str | None = None
        self._kill: Callable[[str], None] | None = None

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def starting(self) -> None:
        """Start-up begins: from now a signal unwinds it (StartupInterrupted)."""
        self.moment = Moment.STARTING

    def handing_over(self) -> None:
        """The turret is being built (sockets, threads: quick, and not to be left half
        made): a signal now is only kept, for :meth:`serving` to pass on."""
        self.moment = Moment.HANDOVER

    def serving(self, kill: Callable[[str], None]) -> None:
        """The turret serves: from now a signal calls ``kill(signal name)``.

        A signal kept while the turret was being built is passed on at once.
        """
        self._kill = kill
        self.moment = Moment.SERVING
        if self.received is not None:
            kill(self.received)

    def _on_signal(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        second = self.received is not None
        if second and signum == signal.SIGINT:
            self._say("second SIGINT: exiting now, without flushing")
            os._exit(ExitStatus.INTERRUPTED)
        self.received = self.received or name
        if self.moment is Moment.LOADING:
            self._say(f"{name} while loading: exiting")
            os._exit(self.startup_status)
        if self.moment is Moment.SERVING and self._kill is not None:
            self._kill(name)
        elif self.moment is Moment.STARTING and not second:
            raise StartupInterrupted(name, self.startup_status)

    def _say(self, line: str) -> None:
        os.write(2, f"{self.program}: {line}\n".encode())
