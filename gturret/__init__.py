"""gturret: a gevent-powered OCT turret.

The public surface is what ``__all__`` names. Names resolve lazily so that
``import gturret`` (which the ``gturret`` console script does before ``gturret.cli``
runs) imports nothing that touches socket, ssl or threading before gevent has
monkey-patched them.
"""

from __future__ import annotations

from gturret._lazy import lazy_exports

__all__ = [
    "ConfigError",
    "CustomTimer",
    "GturretError",
    "ScriptError",
    "TarError",
    "Transaction",
    "UsageError",
    "WireError",
    "__version__",
]

_HOMES = {
    "Transaction": "gturret.transaction",
    "CustomTimer": "gturret.transaction",
    "GturretError": "gturret.errors",
    "UsageError": "gturret.errors",
    "ConfigError": "gturret.errors",
    "TarError": "gturret.errors",
    "ScriptError": "gturret.errors",
    "WireError": "gturret.errors",
    "__version__": "gturret.version",
}


__getattr__, __dir__ = lazy_exports("gturret", _HOMES, globals())
