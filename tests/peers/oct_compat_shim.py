"""Lets PyPI's ``oct`` 0.4.12 run on CPython 3.11; imported by a ``.pth`` file in its venv.

The reference HQ's own code is never changed: ``make peers`` copies this module into
the ``oct`` venv's site-packages with a ``.pth`` line that imports it at start-up
(also while pip builds peewee there, with ``--no-build-isolation``). Two gaps:

- peewee 2.10.2, which oct 0.4.12 needs, does ``from collections import Callable``
  in its setup.py and at import; those aliases left ``collections`` in Python 3.10.
- oct's report calls ``pandas.TimeGrouper(freq)``, removed in pandas 1.0; the
  same grouping is ``pandas.Grouper(freq=freq)``. It is added once pandas loads.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

for _name in ("Callable", "Hashable", "Iterable", "Mapping", "MutableMapping", "Sequence"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))


class _PandasTimeGrouper(importlib.abc.MetaPathFinder):
    """Adds ``TimeGrouper`` to pandas right after pandas itself has loaded."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "pandas":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("pandas")
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            module.TimeGrouper = lambda freq=None, **more: module.Grouper(freq=freq, **more)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _PandasTimeGrouper())
