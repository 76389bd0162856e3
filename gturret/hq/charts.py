"""The report's interactive charts: their data, and the script that draws them.

Why uPlot: readers of a load test report want to hover a second for its numbers
and zoom into the minute that went wrong; static images cannot do either. uPlot
(MIT, 51 KB minified, no dependencies) draws tens of thousands of points on a
canvas, shows the values under the cursor in its legend, zooms on a drag and
resets on a double click, and syncs the cursor across charts. It is vendored
(``gturret/hq/vendor/``) and embedded inline, so the report stays one file that
opens offline; it replaced matplotlib, which with numpy and pillow was the
heaviest part of an install. Our own drawing code is ``templates/charts.js``.

This module must never read anything but the report document and the package's
own files: document in, text for the page out.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from markupsafe import Markup


def chart_data(document: dict[str, Any]) -> dict[str, Any]:
    """The series of the two charts, one value per second of the time series
    (``None`` where nothing was measured), when the stop was sent, and the events
    (changes made in the console: a dashed line each)."""
    points = document["time_series"]

    def column(key: str) -> list[Any]:
        return [point.get(key) for point in points]

    def known(key: str) -> bool:
        return any(point.get(key) is not None for point in points)

    throughput = {"transactions/s": column("tx"), "errors/s": column("errors")}
    latency = {"p50": column("p50_ms"), "p95": column("p95_ms"), "p99": column("p99_ms")}
    if known("p95_uncorrected_ms"):
        latency["p95 uncorrected"] = column("p95_uncorrected_ms")
    if known("loop_lag_p99_ms"):
        latency["loop lag p99"] = column("loop_lag_p99_ms")
    return {
        "seconds": column("second"),
        "stop_s": document["test"]["duration_s"],
        "events": [
            {"at_s": event["at_s"], "kind": event["kind"]} for event in document.get("events", [])
        ],
        "throughput": throughput,
        "canons": column("canons_active") if known("canons_active") else None,
        "latency": latency,
    }


def script_json(data: Any) -> Markup:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` can
    close it or open markup, whatever a turret name or an error text holds."""
    text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return Markup(text)


#: The files inlined in the page, each as ``(path in gturret/hq, element it goes in)``.
ASSETS = {
    "uplot_css": ("vendor/uPlot.min.css", "style"),
    "uplot_js": ("vendor/uPlot.iife.min.js", "script"),
    "charts_js": ("templates/charts.js", "script"),
}


def assets() -> dict[str, Markup]:
    """The text of each of ``ASSETS``, checked to hold no end tag of its element (which
    would end it early); ValueError if one does."""
    texts = {}
    for key, (path, element) in ASSETS.items():
        text = resources.files("gturret.hq").joinpath(path).read_text(encoding="utf-8")
        if f"</{element}" in text.lower():
            raise ValueError(f"{path} holds </{element}: it cannot be inlined as it is")
        texts[key] = Markup(text)
    return texts
