"""gturret: a transaction that only waits ``config["sleep"]`` seconds (a think time).

``time.sleep`` is what a user writes; the turret's gevent monkey-patching turns it into
a cooperative wait, which is what the scale rows measure.
"""

import time

import gturret


class Transaction(gturret.Transaction):
    def run(self) -> None:
        time.sleep(self.config["sleep"])
