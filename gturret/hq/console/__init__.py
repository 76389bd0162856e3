"""The live console (``--web PORT``): watch a test and steer it from a browser.

Why it exists: a person would rather look at a load test than read one; Locust's
users pick it for its web UI, above all for changing the load of a running test.
The console shows the figures of the report while the test runs (the same
document, :mod:`gturret.hq.console.feed`), starts and stops the test and changes
its arrival rate and our turrets' canons through the session
(:mod:`gturret.hq.session`), every change an event in the reports. The page is one
file with its script beside it (``static/``) and the vendored uPlot: no CDN, no build.

This package must never be imported by a turret, and never slow the HQ when no one
watches: no frame is built without a client.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gturret.hq.console.feed import Feed, Gather
from gturret.hq.console.guard import needs_token, new_token
from gturret.hq.console.server import ConsoleServer
from gturret.hq.options import HQOptions
from gturret.hq.roster import Roster
from gturret.hq.session import Session

__all__ = ["Console"]

log = logging.getLogger(__name__)


class Console:
    """One test's console: its feed and its server."""

    def __init__(
        self, options: HQOptions, session: Session, roster: Roster, gather: Gather
    ) -> None:
        assert options.web_port is not None
        token = options.web_token
        self.generated_token = token is None and needs_token(options.web_bind)
        if self.generated_token:
            token = new_token()
        self.token = token
        self.feed = Feed(session, roster, gather)
        self.server = ConsoleServer(options.web_bind, options.web_port, session, self.feed, token)

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        """Serve; say where, once (with the token, if one was generated: nowhere else)."""
        self.server.start()
        url = self.server.url
        if self.generated_token:
            log.warning("console on %s#token=%s (the token is shown only here)", url, self.token)
        else:
            log.info("console on %s%s", url, " (needs --web-token)" if self.token else "")

    def finish(self, document: dict[str, Any], reports: dict[str, Path]) -> None:
        """The test is over: show ``document`` (the reports') and serve ``reports``."""
        self.server.reports = dict(reports)
        self.feed.finish(document, {kind: str(path) for kind, path in reports.items()})

    def stop(self) -> None:
        self.server.stop()
