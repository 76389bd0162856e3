"""The demo virtual user (``make run``): browse, search, order, then think.

One ``requests`` Session per canon (made once, in ``__init__``), so connections
stay alive across runs. Each step is a custom timer; the think time sits in
``tear_down`` so it is not part of the transaction's time, like Locust's
``wait_time``.
"""

from __future__ import annotations

import random
import time
from typing import Any

from gturret import CustomTimer
from gturret import Transaction as Base
from gturret.requests_tuning import new_session


class Transaction(Base):
    def __init__(self, config: dict[str, Any], context: Any = None) -> None:
        super().__init__(config, context)
        self.base_url = str(self.config["target"]).rstrip("/")
        self.think = float(self.config.get("think_time", 1.0))
        self.session = new_session()

    def run(self) -> None:
        with CustomTimer(self, "browse"):
            self.session.get(self.base_url + "/", timeout=10).raise_for_status()
        with CustomTimer(self, "search"):
            self.session.get(self.base_url + "/", params={"q": "turret"}, timeout=10)
        with CustomTimer(self, "order"):
            reply = self.session.post(self.base_url + "/", json={"item": 42}, timeout=10)
            reply.raise_for_status()

    def tear_down(self) -> None:
        time.sleep(random.uniform(0.5, 1.5) * self.think)
