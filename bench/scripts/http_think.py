"""gturret: one GET of ``config["url"]`` through ``gturret.http``, then a think time.

The fast-path script of the added-latency rows: a ``gturret.http.Client`` per canon
made on the URL's origin and asked for its path (the client's own way to name a
request), then ``config["sleep"]`` seconds of think time in ``tear_down``, so
``scriptrun_time`` (the time of ``run()``) is the request alone, as Locust times
its request apart from its ``wait_time``.
"""

import time
from urllib.parse import urlsplit

import gturret
import gturret.http


class Transaction(gturret.Transaction):
    def __init__(self, config: dict, context: dict | None = None) -> None:
        super().__init__(config, context)
        url = urlsplit(self.config["url"])
        self.http = gturret.http.Client(f"{url.scheme}://{url.netloc}")
        self.path = url.path or "/"
        self.think = self.config["sleep"]

    def run(self) -> None:
        response = self.http.get(self.path)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")

    def tear_down(self) -> None:
        time.sleep(self.think)
