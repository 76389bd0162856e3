"""The CSV reports (``--csv PREFIX``): four plain tables for spreadsheets and dashboards.

Why it exists: CSV is what every spreadsheet, pandas and most dashboards read
without a schema, and Locust users know the three-file layout. The files, their
columns and units (times in ms; decimals to 3 places; empty cells where a value is
unknown):

``PREFIX_stats.csv``, one row per metric (the transaction, in a paced run the
transaction uncorrected, then each custom timer as ``timer NAME``)
    ``name, count, errors, error_rate_pct, tx_per_s, min_ms, mean_ms, p50_ms, p90_ms,
    p95_ms, p99_ms, p99_9_ms, max_ms``

``PREFIX_history.csv``, one row per second of the test (``second`` covers
[second, second+1) after the start; the last row may cover less)
    ``second, tx_per_s, errors_per_s, p50_ms, p95_ms, p99_ms, canons_active,
    loop_lag_p99_ms``

``PREFIX_errors.csv``, one row per distinct error text (the 1,000 most frequent
texts are kept; the rest count under ``(other errors)``), the most frequent first
    ``error, count``

``PREFIX_feeders.csv``, one row per feeder (:mod:`gturret.feeders`; none without),
the fleet's rows served and left (empty: a mode that never runs out), how often a
process ran out of rows and when first (UTC), whether that ended the test
    ``feeder, served, left, exhausted, first_exhausted_at, stop_test``

``--csv FOLDER`` (or a path ending in ``/``) writes ``gturret_stats.csv`` and so on
inside the folder. Text cells (timer names, error texts) are
:func:`gturret.text.csv_cell` text: controls as visible escapes, and a quote before a
leading ``= + - @`` so a spreadsheet shows a formula rather than runs it.

It writes what the report document and the HQ's statistics hold; it must never
compute a number of its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from gturret.hq.reportfile import csv_paths, write_report
from gturret.hq.stats import MetricSummary
from gturret.text import csv_cell

#: The fields of a metric, in the order of the JSON report's (``MetricSummary``).
STATS_COLUMNS = tuple(field.name for field in fields(MetricSummary))
#: History columns, each with the key of the document's time series it comes from.
HISTORY_COLUMNS = (
    ("second", "second"),
    ("tx_per_s", "tx"),
    ("errors_per_s", "errors"),
    ("p50_ms", "p50_ms"),
    ("p95_ms", "p95_ms"),
    ("p99_ms", "p99_ms"),
    ("canons_active", "canons_active"),
    ("loop_lag_p99_ms", "loop_lag_p99_ms"),
)
ERRORS_COLUMNS = ("error", "count")
FEEDERS_COLUMNS = ("feeder", "served", "left", "exhausted", "first_exhausted_at", "stop_test")


def _cell(value: Any) -> Any:
    """Empty for unknown; floats to 3 places (a microsecond, for times in ms)."""
    if value is None:
        return ""
    return round(value, 3) if isinstance(value, float) else csv_cell(value)


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    write_report(path, text.getvalue())


def write_csv(prefix: Path, document: dict[str, Any], errors: Sequence[tuple[str, int]]) -> None:
    """Write the four files for ``prefix``; ``errors`` is every error text with its
    count (``Summary.errors``). OSError if one cannot be written."""
    stats_path, history_path, errors_path, feeders_path = csv_paths(prefix)
    metrics = [("transaction", document["transaction"])]
    if document["transaction_uncorrected"]:
        metrics.append(("transaction (uncorrected)", document["transaction_uncorrected"]))
    metrics += [(f"timer {name}", metric) for name, metric in document["timers"].items()]
    _write(
        stats_path,
        STATS_COLUMNS,
        ([name, *(metric[key] for key in STATS_COLUMNS[1:])] for name, metric in metrics),
    )
    _write(
        history_path,
        [column for column, _ in HISTORY_COLUMNS],
        ([point.get(key) for _, key in HISTORY_COLUMNS] for point in document["time_series"]),
    )
    _write(errors_path, ERRORS_COLUMNS, errors)
    feeders = (document["feeders"] or {}).get("by_name", {})
    _write(
        feeders_path,
        FEEDERS_COLUMNS,
        (
            [
                name,
                feeder["served"],
                feeder["left"],
                feeder["exhausted"],
                feeder["exhausted_at"][0]["at"] if feeder["exhausted_at"] else None,
                str(feeder["stop_test"]).lower(),
            ]
            for name, feeder in feeders.items()
        ),
    )
