"""A shop visit with plain ``requests``: one Session per canon, timed with CustomTimer.

The same flow as ``http_fast.py``, side by side. The Session is made once, in
``__init__``, so each canon keeps its connections alive and its cookies across
runs; ``gturret.requests_tuning.new_session`` also turns off requests' proxy and
``.netrc`` look-ups, which it would otherwise make on every request.
"""

from __future__ import annotations

from typing import Any

from gturret import CustomTimer
from gturret import Transaction as Base
from gturret.requests_tuning import new_session


class Transaction(Base):
    def __init__(self, config: dict[str, Any], context: Any = None) -> None:
        super().__init__(config, context)
        self.base_url = str(self.config.get("target", "http://127.0.0.1:8089")).rstrip("/")
        self.session = new_session()

    def setup(self) -> None:
        """Nothing per run: the Session and its connections live as long as the canon."""

    def run(self) -> None:
        with CustomTimer(self, "home"):
            self.session.get(self.base_url + "/", timeout=30).raise_for_status()
        with CustomTimer(self, "search"):
            r = self.session.get(self.base_url + "/", params={"q": "turret"}, timeout=30)
            r.raise_for_status()
        with CustomTimer(self, "order"):
            self.session.post(self.base_url + "/", json={"item": 42}, timeout=30)

    def tear_down(self) -> None:
        """Nothing per run; closing the Session here would drop its connections."""
