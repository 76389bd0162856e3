"""gturret: one GET of ``config["url"]`` through a requests Session, then a think time.

The requests script of the added-latency rows: as ``requests_get.py`` (a Session per
canon, keep-alive, ``trust_env`` off), then ``config["sleep"]`` seconds of think time
in ``tear_down``, so ``scriptrun_time`` (the time of ``run()``) is the request alone,
as Locust times its request apart from its ``wait_time``.
"""

import time

import requests

import gturret


class Transaction(gturret.Transaction):
    def __init__(self, config: dict, context: dict | None = None) -> None:
        super().__init__(config, context)
        self.url = self.config["url"]
        self.think = self.config["sleep"]
        self.session = requests.Session()
        self.session.trust_env = False

    def run(self) -> None:
        response = self.session.get(self.url)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")

    def tear_down(self) -> None:
        time.sleep(self.think)
