"""The HTML report: one self-contained file rendered from the report document.

Why Jinja2: the standard Python template engine (Flask, Ansible, Sphinx), kept
up to date, with autoescaping on, so error texts and turret names from the wire
can never inject markup. The page holds its own CSS, and its interactive charts
(:mod:`gturret.hq.charts`) inline with their data: no CDN, no font or image to
fetch, so it opens offline and can be attached to a CI run. It must never embed
anything from outside the document and the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined, select_autoescape

from gturret.hq.charts import assets, chart_data, script_json
from gturret.hq.reportfile import write_report

COLUMNS = (
    ("count", "count", None),
    ("errors", "errors", None),
    ("tx/s", "tx_per_s", 1),
    ("min", "min_ms", 2),
    ("mean", "mean_ms", 2),
    ("p50", "p50_ms", 2),
    ("p90", "p90_ms", 2),
    ("p95", "p95_ms", 2),
    ("p99", "p99_ms", 2),
    ("p99.9", "p99_9_ms", 2),
    ("max", "max_ms", 2),
)


def _number(value: Any, places: int | None) -> str:
    if value is None:
        return "-"
    return str(value) if places is None else f"{value:,.{places}f}"


def render_html(document: dict[str, Any]) -> str:
    """The page for one document (see ``gturret.hq.document``)."""
    environment = Environment(
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = _number
    source = resources.files("gturret.hq").joinpath("templates/report.html.j2")
    template = environment.from_string(source.read_text(encoding="utf-8"))
    rows = [("transaction", document["transaction"])]
    if document["transaction_uncorrected"]:
        rows.append(("transaction (uncorrected)", document["transaction_uncorrected"]))
    rows += [(f"timer {name}", metric) for name, metric in document["timers"].items()]
    return template.render(
        doc=document,
        rows=rows,
        columns=COLUMNS,
        chart_data=script_json(chart_data(document)),
        assets=assets(),
    )


def write_html(path: Path, document: dict[str, Any]) -> None:
    """Render and write the page; OSError if the path cannot be written."""
    write_report(path, render_html(document))
