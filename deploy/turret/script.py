"""The demo virtual user of deploy/: a GET of the demo target, then a short think.

The target is the `target` service (the same image, running Python's http.server);
point ``target`` in the config elsewhere to load your own server.
"""

from __future__ import annotations

import random
import time

from gturret import CustomTimer
from gturret import Transaction as Base
from gturret.requests_tuning import new_session


class Transaction(Base):
    def setup(self) -> None:
        self.session = new_session()
        self.url = str(self.config["target"])
        self.think = float(self.config.get("think_time", 0.5))

    def run(self) -> None:
        with CustomTimer(self, "home"):
            self.session.get(self.url, timeout=10).raise_for_status()

    def tear_down(self) -> None:
        time.sleep(random.uniform(0.5, 1.5) * self.think)
