"""``oct_turrets.utils``: the reference turret's helpers, with the same names and behaviour.

Loading uses ``importlib`` (the reference used ``imp``, gone since Python 3.12).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import shutil
from types import ModuleType
from typing import Any

from gturret.octcompat.config import REQUIRED_CONFIG_KEYS
from gturret.octcompat.exceptions import InvalidConfiguration


def is_test_valid(test_module: ModuleType) -> bool:
    """True if the module defines ``Transaction``; raises otherwise, as the reference does."""
    if not hasattr(test_module, "Transaction"):
        raise Exception("No transaction class found in test script")
    return True


def load_module(path: str) -> ModuleType:
    """Import the file at ``path`` as a module and check it holds a ``Transaction``."""
    if not os.path.exists(path):
        raise ImportError(f"File does not exists: {path}")
    module_name = inspect.getmodulename(os.path.basename(path)) or "script"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise Exception(f"Error importing the tests script {module_name}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        raise Exception(f"Error importing the tests script {module_name}\nError: {exc}") from exc
    is_test_valid(module)
    return module


def load_file(file_name: str) -> ModuleType:
    """``load_module`` of the real path of ``file_name``."""
    if not os.path.exists(file_name):
        raise ImportError(f"File does not exists: {file_name}")
    return load_module(os.path.realpath(os.path.abspath(file_name)))


def validate_conf(config_file: str) -> dict[str, Any]:
    """Read a turret config (JSON) and check the reference turret's required keys."""
    if not os.path.isfile(config_file):
        raise InvalidConfiguration("The given configuration file does not exist")
    with open(config_file) as config:
        data: dict[str, Any] = json.load(config)
    for key in REQUIRED_CONFIG_KEYS:
        if key not in data:
            raise InvalidConfiguration(f"Missing required configuration key {key}")
    return data


def clean_tar_tmp(dir_name: str, is_tar: bool) -> None:
    """Remove the folder a tar was extracted to (nothing unless ``is_tar``)."""
    if is_tar:
        shutil.rmtree(dir_name, ignore_errors=True)


def import_object(path: str) -> Any:
    """The object at dotted ``path`` (``package.module.Name``)."""
    module_path, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_path), name)
