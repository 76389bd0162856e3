"""Lazy re-exports for package ``__init__`` modules.

Why it exists: ``gturret`` and ``gturret.hq`` must be importable before gevent has
monkey-patched (their CLIs patch first thing), so their ``__init__`` may import
nothing that touches socket, ssl or threading; each public name is imported from
its home module on first use instead. It must never import anything itself at
module level beyond the standard library's importlib.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, homes: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``homes`` maps name → module."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(namespace["__all__"])

    return __getattr__, __dir__
