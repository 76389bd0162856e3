"""What one test found, gathered once and handed to every output.

Why it exists: the terminal summary and every report (JSON, and the HTML, JUnit and
CSV rendered from the same document) show one test; gathered here by
:mod:`gturret.hq.run`, they cannot disagree, and a new figure is added to one
object that each output reads. It holds values only: it must never compute a
statistic, decide a verdict (``stats``, ``roster`` and ``verdict`` do) or format.
"""

from __future__ import annotations

from dataclasses import dataclass

from gturret.hq.messages import Pacing
from gturret.hq.options import HQOptions
from gturret.hq.roster import CanonSummary, DeliveryRow, FeederSummary, TurretRecord
from gturret.hq.session import Outcome
from gturret.hq.stats import Summary
from gturret.hq.thresholds import Verdict
from gturret.hq.verdict import TestVerdict


@dataclass(frozen=True, slots=True)
class Findings:
    """One test's figures and verdict, as each output needs them.

    ``summary`` holds the statistics and the turrets' memory; ``verdicts`` are the
    thresholds' and ``verdict`` the whole test's; ``canons_total`` the configured
    canons (None: a turret did not say) and ``canons`` the counts of those that send
    them; ``pacing`` is None unless a turret was paced; ``outcome`` holds the times,
    the unsettled turrets and the message counts; ``options`` and ``ports`` (PUB, PULL)
    what the test was run with; ``feeders`` the fleet's feeders (None: no turret had one).
    """

    summary: Summary
    verdicts: tuple[Verdict, ...]
    verdict: TestVerdict
    turrets: tuple[TurretRecord, ...]
    delivery: tuple[DeliveryRow, ...]
    canons_total: int | None
    canons: CanonSummary
    pacing: Pacing | None
    outcome: Outcome
    options: HQOptions
    ports: tuple[int, int]
    feeders: FeederSummary | None = None
