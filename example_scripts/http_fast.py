"""A shop visit with ``gturret.http``: one Client per canon, timed with ``name=``.

The same flow as ``http_requests.py``, side by side. ``Client(transaction=self)``
lets each request record its own time into ``custom_timers`` with ``name=``;
relative URLs are joined onto the base URL; connections and cookies stay with the
canon across runs.
"""

from __future__ import annotations

from typing import Any

import gturret.http
from gturret import Transaction as Base


class Transaction(Base):
    def __init__(self, config: dict[str, Any], context: Any = None) -> None:
        super().__init__(config, context)
        target = str(self.config.get("target", "http://127.0.0.1:8089"))
        self.http = gturret.http.Client(target, transaction=self, timeout=30)

    def setup(self) -> None:
        """Nothing per run: the Client and its connections live as long as the canon."""

    def run(self) -> None:
        self.http.get("/", name="home").raise_for_status()
        self.http.get("/", params={"q": "turret"}, name="search").raise_for_status()
        self.http.post("/", json={"item": 42}, name="order")

    def tear_down(self) -> None:
        """Nothing per run; closing the Client here would drop its connections."""
