"""gturret: one GET of ``config["url"]`` per transaction through ``gturret.http``.

The fast path: a ``gturret.http.Client`` per canon (keep-alive), checking the
status, as the bare geventhttpclient loop and Locust's FastHttpUser do per request.
"""

import gturret
import gturret.http


class Transaction(gturret.Transaction):
    def __init__(self, config: dict, context: dict | None = None) -> None:
        super().__init__(config, context)
        self.http = gturret.http.Client(self.config["url"])

    def run(self) -> None:
        response = self.http.get("/")
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
