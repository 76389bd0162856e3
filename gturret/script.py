"""Import a user's test script by path and hand back its ``Transaction`` class.

Why its own module: scripts written for OCT import ``oct_turrets.base``,
``oct_turrets.tools`` and the package's other script-facing modules; we make those
names point at :mod:`gturret.octcompat` (even when the real oct-turrets is
installed), so old scripts run unchanged and every script gets one implementation.
Every way a script can fail to load becomes one ScriptError line naming the file.
It must never run the script's transactions.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gturret import octcompat
from gturret.config import TurretConfig
from gturret.errors import ScriptError
from gturret.feeders import check_script_feeds
from gturret.signals import StartupInterrupted

TransactionFactory = Callable[[dict[str, Any], Any], Any]


def install_oct_aliases() -> None:
    """Serve ``oct_turrets`` and its script-facing modules from :mod:`gturret.octcompat`."""
    sys.modules["oct_turrets"] = octcompat
    for name in octcompat.MODULES:
        module = importlib.import_module(f"gturret.octcompat.{name}")
        sys.modules[f"oct_turrets.{name}"] = module
        setattr(octcompat, name, module)


def load_transaction_class(path: Path) -> type:
    """Import the script at ``path`` and return its ``Transaction`` class."""
    install_oct_aliases()
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = f"gturret_script_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ScriptError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ScriptError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except ImportError as exc:
        raise ScriptError(f"{path}: import failed: {exc}") from None
    except StartupInterrupted:
        raise
    except BaseException as exc:
        raise ScriptError(f"{_where(exc, path)}: raised {_describe(exc)} on import") from None
    candidate = getattr(module, "Transaction", None)
    if candidate is None:
        raise ScriptError(f"{path}: defines no 'Transaction' class")
    if not inspect.isclass(candidate):
        raise ScriptError(f"{path}: 'Transaction' is a {type(candidate).__name__}, not a class")
    for method in ("setup", "run", "tear_down"):
        if not callable(getattr(candidate, method, None)):
            raise ScriptError(f"{path}: 'Transaction' has no {method}() method")
    return candidate


def transaction_factory(cls: type) -> TransactionFactory:
    """Adapt to the constructor the script wrote: (), (config) or (config, context).

    Old OCT scripts take no arguments or only the config; new ones take both.
    """
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return lambda config, context: cls(config, context)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in parameters) or len(positional) >= 2:
        return lambda config, context: cls(config, context)
    if len(positional) == 1:
        return lambda config, context: cls(config)
    return lambda config, context: cls()


def check_construction(
    cls: type, factory: TransactionFactory, config: dict[str, Any], path: Path
) -> None:
    """Build one Transaction now, so a broken ``__init__`` stops the turret at start-up."""
    try:
        factory(config, {})
    except StartupInterrupted:
        raise
    except BaseException as exc:
        raise ScriptError(
            f"{_where(exc, path)}: {cls.__name__}() raised {_describe(exc)}"
        ) from None


def prepare_factory(config: TurretConfig) -> TransactionFactory:
    """Load the config's script and build one Transaction to check it; ScriptError if not
    (FeederError if it feeds from a feeder the config lacks)."""
    cls = load_transaction_class(config.script)
    check_script_feeds(config.script, config.feeders)
    factory = transaction_factory(cls)
    check_construction(cls, factory, config.raw, config.script)
    return factory


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _where(exc: BaseException, path: Path) -> str:
    """``path:line`` of the deepest script frame of ``exc``, or ``path`` alone."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f"{path}:{frames[-1].lineno}" if frames else str(path)
