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
``PIP_NO_INDEX``, ``pip.conf`` …), so machines without the internet install from
their own mirror or a folder of wheels. That environment is the only place the
index comes from: a pack travels between machines and people, so each of its lines
must be a plain requirement (:func:`plain_requirement`: a name, extras, a version
specifier, a marker) and nothing pip would read as an option, a URL, a VCS
reference or a path; the install command gives pip the checked lines as arguments
after ``--`` (no requirements-file syntax: no options, ``${VAR}``, comments or
continuations) and nothing that touches the index.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from gturret.errors import ConfigError

log = logging.getLogger(__name__)

#: Where venvs are kept: ``$GTURRET_CACHE``, else ``$XDG_CACHE_HOME/gturret``, else
#: ``~/.cache/gturret``.
CACHE_VARIABLE = "GTURRET_CACHE"
#: Seconds one pip install may take.
INSTALL_TIMEOUT_S = 900
#: The characters a plain requirement needs (name, extras, version, marker), printable
#: ASCII only: none of pip's requirements-file syntax (``#`` comment, ``\\``
#: continuation, ``$`` variable) nor of a URL or a path (``@``, ``:``, ``/``).
_PLAIN_CHARACTERS = re.compile(r"[A-Za-z0-9 ._\-\[\],<>=!~*+;()'\"]*")
#: A name pip takes for a file to install from (its ``ARCHIVE_EXTENSIONS``, and more).
_ARCHIVE_NAME = re.compile(r".*\.(whl|zip|tar|tgz|tbz|txz|tlz|gz|bz2|xz|lz|lzma)", re.IGNORECASE)


def plain_requirement(line: str) -> str:
    """``line`` as a plain requirement, in the canonical form pip will be given.

    ValueError (why, in a few words) when it is anything else: pip would read it as
    an option, a URL, a VCS reference or a path, and install from somewhere other
    than the index of its own environment.
    """
    text = line.strip(" \t")
    if not text:
        raise ValueError("an empty line")
    if not text.isprintable():
        raise ValueError("a newline or control character: one requirement a line")
    if any(word.startswith("-") for word in text.split()):
        raise ValueError(
            "a pip option: the index and pip's settings come from its environment only"
            " (pip.conf, PIP_INDEX_URL)"
        )
    if "://" in text or "@" in text or text.startswith(("git+", "hg+", "svn+", "bzr+")):
        raise ValueError("a URL or VCS reference: requirements come from pip's index only")
    if "/" in text or "\\" in text or text.startswith((".", "~")):
        raise ValueError("a path: requirements come from pip's index only")
    if not _PLAIN_CHARACTERS.fullmatch(text):
        odd = next(c for c in text if not _PLAIN_CHARACTERS.fullmatch(c))
        raise ValueError(
            f"{odd!r}: a plain requirement is a name, extras, a version and a marker only"
        )
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "invalid"
        raise ValueError(
            f"not a plain requirement (NAME[EXTRAS] VERSION; MARKER): {reason}"
        ) from None
    if requirement.url:
        raise ValueError("a URL: requirements come from pip's index only")
    if any(spec.operator == "===" for spec in requirement.specifier):
        raise ValueError("'===' takes any text, a path included: use '=='")
    if _ARCHIVE_NAME.fullmatch(requirement.name):
        raise ValueError("a file name: pip would install it from a file, not from its index")
    return str(requirement)


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
        python = building / "bin" / "python"
        _run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "--", *(plain_requirement(line) for line in requirements)],
            source,
            "could not install its requirements",
            cwd=building,
        )  # fmt: skip
        (building / "ready").write_text("\n".join(requirements) + "\n")
        try:
            building.rename(venv)
        except OSError:
            if not (venv / "ready").is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _run(command: list[str], source: Path, what: str, cwd: Path | None = None) -> None:
    """Run ``command``; in ``cwd`` (pip: the new venv, where no relative path leads)."""
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{source}: {what}: gave up after {INSTALL_TIMEOUT_S}s") from None
    if done.returncode:
        said = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        last = said[-1].strip() if said else f"exit status {done.returncode}"
        raise ConfigError(f"{source}: {what} ({last})")


def _site_packages(venv: Path) -> str:
    return sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
