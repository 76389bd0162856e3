"""What the console shows, built once a second while someone watches, and who watches.

Why it exists: the console must tell the same truth as the reports, so each frame
holds the report document (:func:`gturret.hq.document.build_document`) of the
findings so far, gathered by the same function as the final ones
(``gather``: :mod:`gturret.hq.run`), plus what only a live view has: the phase, the
events, each turret's last heard and tx/s, each error text's last seen. At the end
the frame holds the very document the JSON report was written from.

Building a frame walks histograms, so it happens once a second, in one greenlet,
only while at least one client listens, and is shared by all of them: ten browsers
cost one build. A running frame carries only the sections of the document the page
shows and a row per turret (about 30 KB at 100 turrets; the whole document is about
100 KB), and reads each turret's loop-lag p99, a walk of its histogram, every
``LAG_REFRESH_S``; a client's first frame, ``/api/state`` and the last frame hold
the whole document. Where a frame still costs more than ``CPU_BUDGET`` of a core at
one a second, frames skip whole seconds until it does not: the console never takes
the HQ's time from its collector. Each client is a bounded queue; a client too slow
to take its frames is let go rather than kept growing. A client that goes away ends
its request, which takes its queue out; the last one out ends the greenlet. It must
never write to the statistics nor send a command.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import gevent
from gevent.queue import Full, Queue

from gturret.hq.document import build_document, time_series
from gturret.hq.findings import Findings
from gturret.hq.roster import Roster
from gturret.hq.session import Phase, Session
from gturret.text import valid_unicode

log = logging.getLogger(__name__)

#: Seconds between two frames.
PERIOD_S = 1.0
#: While the test runs, frames go out this long after each whole second of it: the
#: session closes a second of the series within its 0.1 s wake-up, so each frame
#: carries the second that just ended (a change shows a second sooner).
SETTLE_S = 0.15
#: The share of one core the frames may take (their building, measured each time).
CPU_BUDGET = 0.015
#: Frames a client may have waiting before it counts as gone.
CLIENT_BACKLOG = 5
#: The last points of the time series each frame repeats (the open second changes
#: until it closes; a closed one never does).
TAIL_POINTS = 3
#: Seconds a running frame's loop-lag p99 of each turret is kept before it is read
#: again: over the run so far it moves slowly, and each is a walk of a histogram (a
#: hundred turrets: most of a frame's build). The report's figures are read fresh.
LAG_REFRESH_S = 5.0
#: The sections of the report document a running frame carries: what the page shows.
#: The rest (each turret's record, the delivery, the loop lag and the results by
#: turret, the whole time series) grows with the fleet and the run, and is in the
#: first frame, the last and ``/api/state``; the turrets' rows come in ``turrets_live``.
LIVE_SECTIONS = frozenset(
    {"test", "events", "verdict", "canons", "transaction", "transaction_uncorrected",
     "pacing", "timers", "errors", "thresholds"}
)  # fmt: skip


class Gather(Protocol):
    """The findings of the run so far (``gturret.hq.run``); ``lag_by_turret=False``
    leaves each turret's loop-lag figures out."""

    def __call__(self, *, lag_by_turret: bool = True) -> Findings: ...


def until_next_frame(elapsed: float | None, cost: float) -> float:
    """Seconds from now to the next frame, the last having cost ``cost`` CPU seconds.

    While the test runs (``elapsed``: seconds into it), ``SETTLE_S`` past a whole
    second of it, so each frame carries the second that just ended; otherwise a
    ``PERIOD_S`` later. Whole seconds more while one frame a second would cost more
    than ``CPU_BUDGET`` of a core.
    """
    skip = max(0, math.ceil(cost / CPU_BUDGET / PERIOD_S) - 1)
    if elapsed is None:
        return PERIOD_S * (1 + skip)
    return math.floor(elapsed - SETTLE_S) + 1 + SETTLE_S - elapsed + skip * PERIOD_S


class Feed:
    """The frames of one console and the queues of its clients."""

    def __init__(
        self,
        session: Session,
        roster: Roster,
        gather: Gather,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._roster = roster
        self._gather = gather
        self._clock = clock
        self._clients: set[Queue[str | None]] = set()
        self._pusher: gevent.Greenlet | None = None
        self._final: dict[str, Any] | None = None
        self._reports: dict[str, str] = {}
        self._last_counts: tuple[float, dict[str, int]] | None = None
        self._turret_rates: dict[str, float] = {}
        self._error_counts: dict[str, int] = {}
        self._error_seen: dict[str, float] = {}
        self._lag_p99: dict[str, float] = {}
        self._lag_read_at = -math.inf
        self.frames_pushed = 0

    @property
    def clients(self) -> int:
        """Clients listening now."""
        return len(self._clients)

    @property
    def pushing(self) -> bool:
        """True while the greenlet that builds frames runs."""
        return self._pusher is not None and not self._pusher.dead

    def subscribe(self) -> Queue[str | None]:
        """A new client's queue, its first frame (the whole series) already in it."""
        queue: Queue[str | None] = Queue(CLIENT_BACKLOG)
        queue.put(self.frame_text(whole=True))
        self._clients.add(queue)
        if not self.pushing:
            self._pusher = gevent.spawn(self._push)
        return queue

    def listening(self, queue: Queue[str | None]) -> bool:
        """False once ``queue``'s client was let go (too slow) or left."""
        return queue in self._clients

    def unsubscribe(self, queue: Queue[str | None]) -> None:
        """A client went away: its queue goes (the pusher ends with the last one)."""
        self._clients.discard(queue)

    def finish(self, document: dict[str, Any], reports: dict[str, str]) -> None:
        """The test is over: every later frame holds ``document``, the one the reports
        were written from, and ``reports`` (kind → path); pushed to every client now."""
        self._final = document
        self._reports = reports
        self._broadcast(self.frame_text(whole=True))

    def close(self) -> None:
        """End every client's stream (the HQ is leaving)."""
        for queue in list(self._clients):
            with contextlib.suppress(Full):
                queue.put_nowait(None)
        if self._pusher is not None:
            self._pusher.kill(block=False)

    def _push(self) -> None:
        while self._clients:
            cost = 0.0
            if self._final is None:
                began = time.thread_time()
                text = self.frame_text(whole=False)
                cost = time.thread_time() - began
                self._broadcast(text)
                self.frames_pushed += 1
            running = self._session.phase == Phase.RUNNING
            gevent.sleep(until_next_frame(self._session.elapsed() if running else None, cost))

    def _broadcast(self, text: str) -> None:
        for queue in list(self._clients):
            try:
                queue.put_nowait(text)
            except Full:
                log.info("a console client took no frame for %d s: let go", CLIENT_BACKLOG)
                self._clients.discard(queue)

    def frame_text(self, *, whole: bool) -> str:
        """One frame as JSON text: ``whole`` with every point of the series."""
        return json.dumps(self.frame(whole=whole), allow_nan=False, ensure_ascii=False)

    def frame(self, *, whole: bool) -> dict[str, Any]:
        """What the console shows now (the module docstring says what it holds)."""
        session = self._session
        if self._final is not None:
            document = dict(self._final)
            points = document.pop("time_series")
            elapsed = document["test"]["duration_s"]
            findings = None
        else:
            now = self._clock()
            fresh_lag = whole or now >= self._lag_read_at + LAG_REFRESH_S
            findings = self._gather(lag_by_turret=fresh_lag)
            if fresh_lag:
                self._lag_read_at = now
                loop_lag = findings.summary.loop_lag
                self._lag_p99 = {
                    name: figures.p99_ms
                    for name, figures in (loop_lag.turrets.items() if loop_lag else ())
                }
            sections = None if whole else LIVE_SECTIONS
            document = build_document(findings, now=time.time(), sections=sections)
            if whole:
                points = document.pop("time_series")
            else:
                points = time_series(findings.summary, TAIL_POINTS)
            elapsed = session.elapsed()
        frame = {
            "phase": session.phase,
            "elapsed_s": elapsed,
            "arrival_rate": session.options.arrival_rate,
            "events": [
                {"at_s": e.at_s, "kind": e.kind, "detail": e.detail} for e in session.outcome.events
            ],
            "points": points,
            "turrets_live": self._turrets(findings, document, elapsed),
            "errors_seen": self._errors(document, elapsed),
            "reports": self._reports,
            "listeners": len(self._clients),
            "frames_pushed": self.frames_pushed,
            "document": document,
        }
        if whole or self._final is not None:
            document["time_series"] = points
        return frame

    def _turrets(
        self, findings: Findings | None, document: dict[str, Any], elapsed: float
    ) -> list[dict[str, Any]]:
        """Each turret's row: the roster's, with its last heard and its name's tx/s."""
        now = self._clock()
        if findings is None:
            received = document["results_by_turret"]
            turret_lag = (document["loop_lag"] or {}).get("turrets", {})
            lag = {name: figures["p99_ms"] for name, figures in turret_lag.items()}
            delivery = {row["name"]: row for row in document["delivery"]}
        else:
            received = findings.summary.results_by_turret
            lag = self._lag_p99
            delivery = {
                row.name: {
                    "produced": row.produced,
                    "received": row.received,
                    "dropped": row.dropped,
                    "lost": row.lost,
                }
                for row in findings.delivery
            }
        if self._session.phase == Phase.RUNNING:
            if self._last_counts is not None and elapsed > self._last_counts[0]:
                since, counts = self._last_counts
                self._turret_rates = {
                    name: (count - counts.get(name, 0)) / (elapsed - since)
                    for name, count in received.items()
                }
            self._last_counts = (elapsed, dict(received))
        rows = []
        for record in self._roster.records():
            row = delivery.get(record.name, {})
            rows.append(
                {
                    "uuid": valid_unicode(record.uuid),
                    "name": valid_unicode(record.name),
                    "state": valid_unicode(record.state),
                    "canons": record.canons,
                    "canons_active": record.canons_active,
                    "ours": record.speaks_gturret,
                    "last_heard_s": round(max(0.0, now - record.last_seen), 1),
                    "tx_per_s": round(self._turret_rates.get(record.name, 0.0), 1),
                    "loop_lag_p99_ms": lag.get(f"{record.name} ({record.uuid[:8]})"),
                    "produced": row.get("produced"),
                    "received": row.get("received"),
                    "dropped": row.get("dropped"),
                    "lost": row.get("lost"),
                }
            )
        return rows

    def _errors(self, document: dict[str, Any], elapsed: float) -> dict[str, float]:
        """Seconds into the test each error text of the top ten last grew (while watched)."""
        for entry in document["errors"]["top"]:
            text, count = entry["error"], entry["count"]
            if count != self._error_counts.get(text):
                self._error_counts[text] = count
                self._error_seen[text] = round(elapsed, 1)
        return {
            entry["error"]: self._error_seen[entry["error"]] for entry in document["errors"]["top"]
        }
