"""The ``oct_turrets`` package as a test script sees it, served by gturret.

Why it exists: scripts written for OCT import from ``oct_turrets`` (oct-turrets
0.2.8): ``base.BaseTransaction`` and ``tools.CustomTimer`` above all, and sometimes
its ``config``, ``exceptions`` or ``utils``. :func:`gturret.script.install_oct_aliases`
registers these modules under the ``oct_turrets`` names, whether or not the real
package is installed, so every script gets gturret's one implementation. The
reference turret's own engine (the modules ``turret``, ``cannon`` and
``start_turret``, and ``base``'s ``BaseTurret`` and ``BaseCannon``: threads and
sockets that run a script) has no place inside gturret and is not served;
``tests/test_oct_hq.py`` checks this list against the real package. Nothing here
may import gevent, zmq or the turret.
"""

from __future__ import annotations

#: The oct-turrets release whose script-facing API these modules reproduce.
__version__ = "0.2.8"

#: The modules served under ``oct_turrets.<name>``.
MODULES = ("base", "tools", "config", "exceptions", "utils")
