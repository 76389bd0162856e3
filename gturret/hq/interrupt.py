"""What SIGTERM and SIGINT do to a run of our HQ: the first ends the test early, the
second exits at once.

Why it exists: ``timeout`` in CI and Kubernetes send SIGTERM, a person sends SIGINT,
and both must end a run the same way: stop the turrets, drain what they sent,
judge (a run cut short never passes: :mod:`gturret.hq.verdict`) and write every
report. The first signal only raises a flag that the session reads between two
reads of its socket (:mod:`gturret.hq.session`); before the start it ends the run
with no test (exit 130). A second signal exits at once, without a verdict (exit
130), but first publishes ``stop`` and gives ZeroMQ a moment to deliver it, so no
turret keeps firing at a target nobody watches any more.

Plain ``signal.signal`` handlers, not gevent's: they run at the next bytecode even
while a script of ``--standalone`` holds the loop. A handler may run inside any
greenlet, the hub included, so it must never log (the logging lock may be held by
the code it interrupted) and never wait on gevent.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from gturret.errors import ExitStatus

#: Seconds ZeroMQ gets to deliver the last ``stop`` after a second signal.
LAST_STOP_LINGER = 0.5


class Interruption:
    """The signals one HQ run received; install() makes this process's handlers."""

    def __init__(self, program: str, on_first: Callable[[], None] | None = None) -> None:
        """``on_first``: what else the first signal does at once (``--standalone``
        tells its turret's watchdog, so that a script holding the loop lets go)."""
        self.program = program
        self.signal: str | None = None
        self._on_first = on_first
        self._last_stop: Callable[[float], None] | None = None

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def before_exit(self, last_stop: Callable[[float], None] | None) -> None:
        """What a second signal calls before exiting: ``last_stop(linger seconds)``
        publishes ``stop`` to the turrets (None once the link is closed)."""
        self._last_stop = last_stop

    def _on_signal(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.signal is None:
            self.signal = name
            if self._on_first is not None:
                self._on_first()
            return
        last_stop = self._last_stop
        told = " telling the turrets to stop and" if last_stop is not None else ""
        os.write(2, f"{self.program}: second signal ({name}):{told} exiting now\n".encode())
        if last_stop is not None:
            try:
                last_stop(LAST_STOP_LINGER)
            except Exception as exc:  # the process is leaving: say why, never hang
                os.write(2, f"{self.program}: could not send stop: {exc}\n".encode())
        os._exit(ExitStatus.INTERRUPTED)
