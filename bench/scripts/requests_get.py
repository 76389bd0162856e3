"""gturret: one GET of ``config["url"]`` per transaction through a requests Session.

Written as a user would, and doing exactly what the bare gevent+requests loop and
Locust's HttpUser do per request: a Session per canon, keep-alive, ``trust_env`` off
(no proxy lookup in the environment on every request, as HttpUser sets it), check
the status.
"""

import requests

import gturret


class Transaction(gturret.Transaction):
    def __init__(self, config: dict, context: dict | None = None) -> None:
        super().__init__(config, context)
        self.url = self.config["url"]
        self.session = requests.Session()
        self.session.trust_env = False

    def run(self) -> None:
        response = self.session.get(self.url)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
