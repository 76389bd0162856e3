"""Our HQ's ``run_hq`` in the test's own process, with turrets started once it binds.

The HQ tests that need its Python objects (a report path, thresholds, an output
buffer) call ``run_hq`` directly instead of the ``gturret-hq`` process: ephemeral
ports, ``on_bound`` to start the turrets on the ports it got, and whatever turret
processes were started ended afterwards, also when the HQ fails.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gturret.hq.options import HQOptions
from gturret.hq.run import run_hq

STOP_S = 10


def run_hq_in_process(on_bound: Callable[[int, int], None] | None = None, **settings: Any) -> int:
    """``run_hq`` on ephemeral ports, output to a buffer unless ``out`` says otherwise;
    ``settings`` are HQOptions fields. Its exit status."""
    options: dict[str, Any] = {"pub_port": 0, "rc_port": 0, "out": io.StringIO(), **settings}
    return run_hq(HQOptions(**options), on_bound=on_bound)


class TurretProcesses:
    """Turret processes started from ``on_bound``: each with its JSON config written
    to ``folder``, its output in its own log; ``stop`` ends every one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(
        self, command: list[str], config: dict[str, Any], log: Path, env: dict[str, str]
    ) -> None:
        """Run ``command CONFIG`` in ``folder``, ``env`` added to this environment."""
        path = self.folder / f"config-{config['name']}.json"
        path.write_text(json.dumps(config))
        with log.open("wb") as output:
            self.processes.append(
                subprocess.Popen(
                    [*command, str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **env},
                    cwd=self.folder,
                )
            )

    def run_hq(self, on_bound: Callable[[int, int], None], **settings: Any) -> int:
        """``run_hq_in_process``, then every turret started is stopped."""
        try:
            return run_hq_in_process(on_bound, **settings)
        finally:
            self.stop()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            try:
                process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_S)
