"""What a turret process sets up once, after monkey-patching and before the script loads.

Why its own module: the ``gturret`` command and each ``--processes`` worker are
processes that run canons, and both need the same three things before the first
canon connects anywhere: the shared resolver (:mod:`gturret.resolver`), an
open-files limit raised for their canons (:mod:`gturret.limits`), and urllib3's
pools on gevent's queue (:mod:`gturret.requests_tuning`). It must run after
``gevent.monkey.patch_all()`` and never import the HQ.
"""

from __future__ import annotations

import logging

from gturret.limits import raise_open_files_limit
from gturret.requests_tuning import patch_urllib3_pool_queue
from gturret.resolver import install_shared_resolver

log = logging.getLogger(__name__)


def prepare_process(canons: int) -> None:
    """Set this process up to run ``canons`` canons (see the module docstring)."""
    install_shared_resolver()
    raise_open_files_limit(canons)
    if patch_urllib3_pool_queue():
        log.info("urllib3 pools now use gevent's LifoQueue (this gevent does not patch it)")
