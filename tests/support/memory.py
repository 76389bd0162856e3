"""The peak resident memory of a running process, as Linux counts it (VmHWM).

VmHWM is the high-water mark of the process's resident set; it disappears with the
process, so a thread reads it until the process ends and keeps the last value.
"""

from __future__ import annotations

import threading
from pathlib import Path

POLL_S = 0.02


class PeakRSS:
    """Reads /proc/PID/status while the process lives; ``megabytes`` is its peak."""

    def __init__(self, pid: int) -> None:
        self._status = Path(f"/proc/{pid}/status")
        self._kilobytes = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            try:
                text = self._status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self._kilobytes = max(self._kilobytes, int(line.split()[1]))
            self._done.wait(POLL_S)

    @property
    def megabytes(self) -> float:
        """The peak so far (final once the process has ended and ``stop`` returned)."""
        return self._kilobytes / 1024

    def stop(self) -> float:
        self._done.set()
        self._thread.join(timeout=5)
        return self.megabytes
