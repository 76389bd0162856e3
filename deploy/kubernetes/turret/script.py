"""The demo virtual user of deploy/: a GET of the demo target, then a short think.

The target is the demo target (the same image, running Python's http.server): the
config's ``target``, or ``TARGET_URL`` from the environment where the orchestrator
names it otherwise (Kubernetes: the ``gturret-target`` Service). Point either at your
own server to load it.
"""

from __future__ import annotations

import os
import random
import time

from gturret import CustomTimer
from gturret import Transaction as Base
from gturret.requests_tuning import new_session


class Transaction(Base):
    def setup(self) -> None:
        self.session = new_session()
        self.url = os.environ.get("TARGET_URL") or str(self.config["target"])
        self.think = float(self.config.get("think_time", 0.5))

    def run(self) -> None:
        with CustomTimer(self, "home"):
            self.session.get(self.url, timeout=10).raise_for_status()

    def tear_down(self) -> None:
        time.sleep(random.uniform(0.5, 1.5) * self.think)
