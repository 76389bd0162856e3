"""The installed package's version, read from its metadata: pyproject.toml is its one source.

Why a module of its own: ``importlib.metadata`` imports socket and threading, so it
must load only after gevent has monkey-patched; ``gturret.__version__`` resolves
here lazily, on first use, which the CLIs reach after patching. It must never be
imported by the package ``__init__`` at import time.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gturret")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"


def version_line(program: str) -> str:
    """What ``PROGRAM --version`` prints: ``gturret-hq 0.1.0``."""
    return f"{program} {__version__}"
