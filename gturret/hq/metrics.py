"""Live metrics of a running test in the Prometheus text format (version 0.0.4).

Why it exists: dashboards (Grafana over Prometheus, or anything that scrapes
OpenMetrics) watch a load test while it runs, not only its report afterwards.
Every number comes from the HQ's own :class:`~gturret.hq.stats.Stats` and
:class:`~gturret.hq.roster.Roster`, so per-result and aggregated runs expose the
same series. The families (``turret`` is the turret's name, ``uuid`` its uuid):

- ``gturret_transactions_total{turret}``, ``gturret_transaction_errors_total{turret}``:
  counters of the results received;
- ``gturret_transaction_duration_seconds``: a summary of every transaction so far
  (quantiles 0.5, 0.9, 0.95, 0.99, 0.999 from the HdrHistogram, with ``_sum`` and
  ``_count``), ``gturret_turret_transaction_duration_seconds{turret}`` the same by
  turret name (the first 100 names), and ``gturret_timer_duration_seconds{timer}``
  for custom timers;
- ``gturret_canons_active`` (all turrets) and ``gturret_turret_canons_active{turret,uuid}``;
- ``gturret_loop_lag_p99_seconds`` / ``gturret_loop_lag_max_seconds`` (all turrets,
  the whole run so far) and their ``gturret_turret_…{turret,uuid}`` twins;
- ``gturret_results_dropped_total{turret}``: results a turret dropped itself (its
  outbox full); ``gturret_results_lost{turret}``: produced but not received (in
  flight while the test runs, lost once it has drained); turrets that send no
  counters (the reference turret) have neither;
- ``gturret_turrets{state}``: turrets by their last reported state.

Quantiles cover the whole run so far, as the report's do. It must never change
what it reads: rendering is a pure function of the stats and the roster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from gturret.hq.roster import Roster
from gturret.hq.stats import PERCENTILES, LatencyRecorder, Stats
from gturret.hq.verdict import turret_label
from gturret.text import valid_unicode

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[str, dict[str, str], float]


def _escape(value: str) -> str:
    """A label value as the text format wants it: valid UTF-8 (a lone surrogate from
    the wire would make the whole page fail to encode), ``\\``, ``"`` and newline escaped."""
    text = valid_unicode(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _samples(samples: Iterable[Sample]) -> str:
    lines = []
    for sample, labels, value in samples:
        text = ",".join(f'{key}="{_escape(label)}"' for key, label in labels.items())
        lines.append(
            f"{sample}{{{text}}} {_number(value)}" if text else f"{sample} {_number(value)}"
        )
    return "".join(line + "\n" for line in lines)


def _family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n" + _samples(samples)


def _summary(name: str, recorder: LatencyRecorder, labels: dict[str, str]) -> list[Sample]:
    samples: list[Sample] = [
        (name, {**labels, "quantile": f"{percentile / 100:g}"}, value / 1000.0)
        for percentile, value in recorder.percentiles_ms(PERCENTILES).items()
    ]
    samples.append((f"{name}_sum", labels, recorder.sum_s))
    samples.append((f"{name}_count", labels, recorder.count))
    return samples


def exposition(stats: Stats, roster: Roster) -> Iterator[str]:
    """The exposition text of everything the HQ knows now, in pieces: a family, or
    one custom timer's summary, at a time. Each summary walks its HdrHistogram once
    (about a millisecond), so the endpoint lets the collector run between pieces."""
    received = stats.results_by_turret()
    failed = stats.errors_by_turret()
    records = roster.records()
    yield _family(
        "gturret_transactions_total",
        "counter",
        "Transactions received by the HQ, by turret name.",
        (("gturret_transactions_total", {"turret": n}, c) for n, c in sorted(received.items())),
    )
    yield _family(
        "gturret_transaction_errors_total",
        "counter",
        "Failed transactions received by the HQ, by turret name.",
        (
            ("gturret_transaction_errors_total", {"turret": name}, failed.get(name, 0))
            for name in sorted(received)
        ),
    )
    name = "gturret_transaction_duration_seconds"
    yield _family(
        name,
        "summary",
        "Transaction times, all turrets, whole run.",
        _summary(name, stats.transaction, {}),
    )
    name = "gturret_timer_duration_seconds"
    yield _family(name, "summary", "Custom timer times, all turrets, whole run.", ())
    for timer, recorder in sorted(stats.timers.items()):
        yield _samples(_summary(name, recorder, {"timer": timer}))
    name = "gturret_turret_transaction_duration_seconds"
    yield _family(name, "summary", "Transaction times, by turret name, whole run.", ())
    for turret, recorder in sorted((stats.transaction_by_turret or {}).items()):
        yield _samples(_summary(name, recorder, {"turret": turret}))
    active = roster.canons_active()
    yield _family(
        "gturret_canons_active",
        "gauge",
        "Canons running a transaction loop, all turrets (absent when a turret does not say).",
        [] if active is None else [("gturret_canons_active", {}, active)],
    )
    yield _family(
        "gturret_turret_canons_active",
        "gauge",
        "Canons running a transaction loop, by turret.",
        (
            ("gturret_turret_canons_active", {"turret": r.name, "uuid": r.uuid}, count)
            for r in records
            if (count := r.active_canons()) is not None
        ),
    )
    yield from _loop_lag(stats, roster)
    yield from _delivery(stats, roster)
    states = Counter(record.state for record in records)
    yield _family(
        "gturret_turrets",
        "gauge",
        "Turrets by their last reported state.",
        (("gturret_turrets", {"state": s}, c) for s, c in sorted(states.items())),
    )


def _loop_lag(stats: Stats, roster: Roster) -> Iterator[str]:
    overall = stats.loop_lag
    for figure, percentile in (("p99", 99.0), ("max", 100.0)):
        name = f"gturret_loop_lag_{figure}_seconds"
        what = "p99" if figure == "p99" else "maximum"
        samples: list[Sample] = []
        if overall.get_total_count():
            samples.append((name, {}, overall.get_value_at_percentile(percentile) / 1_000_000))
        yield _family(name, "gauge", f"Loop lag {what}, all turrets, whole run.", samples)
        turret_name = f"gturret_turret_loop_lag_{figure}_seconds"
        turret_samples: list[Sample] = []
        for record in roster.records():
            histogram = stats.loop_lag_by_turret.get(turret_label(record))
            if histogram is not None:
                labels = {"turret": record.name, "uuid": record.uuid}
                value = histogram.get_value_at_percentile(percentile) / 1_000_000
                turret_samples.append((turret_name, labels, value))
        yield _family(
            turret_name, "gauge", f"Loop lag {what}, by turret, whole run.", turret_samples
        )


def _delivery(stats: Stats, roster: Roster) -> Iterator[str]:
    rows = [row for row in roster.delivery(stats.results_by_turret()) if row.produced is not None]
    yield _family(
        "gturret_results_dropped_total",
        "counter",
        "Results a turret dropped itself (its outbox full), by turret name.",
        (("gturret_results_dropped_total", {"turret": r.name}, r.dropped or 0) for r in rows),
    )
    yield _family(
        "gturret_results_lost",
        "gauge",
        "Results produced but not received: in flight while the test runs, lost after it.",
        (("gturret_results_lost", {"turret": r.name}, r.lost or 0) for r in rows),
    )
