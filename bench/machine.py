"""What the numbers were measured on: the machine, its load, and every version.

A bench number means nothing without these, so they are printed before the table
and stored with it. Versions are read from each venv by its own interpreter, since
the project venv and ``bench/.venv`` may differ.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

_PROBE = """
import importlib.metadata as m, json, sys
found = {"python": sys.version.split()[0]}
for name in sys.argv[1:]:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = "not installed"
print(json.dumps(found))
"""


def _first(path: str, prefix: str) -> str:
    for line in Path(path).read_text().splitlines():
        if line.startswith(prefix):
            return line.split(":", 1)[1].strip()
    return "unknown"


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, kernel and the load average now."""
    return {
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "ram": f"{int(_first('/proc/meminfo', 'MemTotal').split()[0]) / 2**20:.1f} GiB",
        "kernel": platform.release(),
        "load average (1, 5, 15 min)": " ".join(f"{load:.2f}" for load in os.getloadavg()),
    }


def packages(python: Path, names: list[str]) -> dict[str, str]:
    """Versions of ``names`` (and Python) as installed for ``python``."""
    if not python.exists():
        return {"python": f"missing: {python}"}
    done = subprocess.run(
        [str(python), "-c", _PROBE, *names], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        return {"python": f"probe failed: {done.stderr.strip()[-200:]}"}
    found: dict[str, str] = json.loads(done.stdout)
    return found


def tool(command: list[str]) -> str:
    """First line a tool prints about its version (nginx and wrk use stderr or exit 1)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        return "not installed"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else "unknown"
