"""The Python requirements a script needs, installed into a venv of their own.

Why a venv of their own, cached by hash: a package carried to another machine
(``gturret pack``) names what its script imports beyond gturret; the turret installs
exactly that, once, into ``<cache>/venvs/<hash>`` (the hash of the Python version and
the sorted requirement lines), so a second turret on the machine, a restart or a
``--processes`` worker finds it ready, and two packs never share or break each
other's packages. The venv is built in a temporary folder and renamed into place,
so a turret never sees a half-built one, and two turrets building at once both end
with a whole one. Its site-packages goes at the end of ``sys.path``: gturret's own
gevent, pyzmq and requests stay the ones the turret runs on.

pip reads its usual environment (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``,
``PIP_NO_INDEX`` …), so machines without the internet install from their own mirror
or a folder of wheels.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from gturret.errors import ConfigError

log = logging.getLogger(__name__)

#: Where venvs are kept: ``$GTURRET_CACHE``, else ``$XDG_CACHE_HOME/gturret``, else
#: ``~/.cache/gturret``.
CACHE_VARIABLE = "GTURRET_CACHE"
#: Seconds one pip install may take.
INSTALL_TIMEOUT_S = 900


def cache_folder() -> Path:
    """The folder holding gturret's venvs (not created here)."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gturret"


def venv_key(requirements: tuple[str, ...]) -> str:
    """The cache key of ``requirements`` for this Python (same lines, same venv)."""
    text = "\n".join([sys.version, *sorted(requirements)])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def use_requirements(requirements: tuple[str, ...], source: Path) -> Path | None:
    """Make ``requirements`` importable in this process; the venv used (None: none needed).

    ConfigError (one line, exit 2) when they cannot be installed: the script would
    only fail later, canon after canon, on its first import.
    """
    if not requirements:
        return None
    venv = cache_folder() / "venvs" / venv_key(requirements)
    if (venv / "ready").is_file():
        log.info("requirements of %s: cached venv %s", source.name, venv)
    else:
        _build(venv, requirements, source)
    site.addsitedir(_site_packages(venv))
    return venv


def _build(venv: Path, requirements: tuple[str, ...], source: Path) -> None:
    log.info(
        "requirements of %s: installing %s into %s", source.name, ", ".join(requirements), venv
    )
    venv.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{venv.name}-", dir=venv.parent))
    try:
        _run([sys.executable, "-m", "venv", str(building)], source, "could not create a venv")
        listing = building / "requirements.txt"
        listing.write_text("".join(line + "\n" for line in requirements))
        python = building / "bin" / "python"
        _run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "-r", str(listing)],
            source,
            "could not install its requirements",
        )  # fmt: skip
        (building / "ready").write_text("\n".join(requirements) + "\n")
        try:
            building.rename(venv)
        except OSError:
            if not (venv / "ready").is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _run(command: list[str], source: Path, what: str) -> None:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{source}: {what}: gave up after {INSTALL_TIMEOUT_S}s") from None
    if done.returncode:
        said = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        last = said[-1].strip() if said else f"exit status {done.returncode}"
        raise ConfigError(f"{source}: {what} ({last})")


def _site_packages(venv: Path) -> str:
    return sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
