"""``oct_turrets.config``: the reference turret's required keys and logging settings.

``LOGGING_CONFIG`` is kept as data for scripts that read it; gturret never applies
it (the ``gturret`` command decides the log format).
"""

from __future__ import annotations

from typing import Any

REQUIRED_CONFIG_KEYS = ["name", "cannons", "script", "hq_address", "hq_rc", "hq_publisher"]

LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "root": {"level": "NOTSET", "handlers": ["default"]},
    "formatters": {"verbose": {"format": "[%(asctime)s: %(levelname)s | %(name)s] %(message)s"}},
    "handlers": {
        "default": {"level": "INFO", "class": "logging.StreamHandler", "formatter": "verbose"}
    },
    "loggers": {"oct_turrets": {"handlers": ["default"], "level": "INFO", "propagate": False}},
}
