"""Charts of a test over time, as inline SVG text for the HTML report.

Why matplotlib: it is the most widely used and best kept Python plotting library,
renders without a display (``Figure`` + the SVG canvas, no pyplot global state),
and writes SVG with the text drawn as paths, so the report needs no font, script
or network to show its charts. It is imported only when an HTML report is asked
for. This module must never read files or sockets: series in, SVG text out.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gturret.hq.stats import SecondPoint

_SIZE = (10.0, 3.4)
_STYLE: dict[Any, Any] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "gturret-hq",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _empty(axes: Any, what: str) -> None:
    axes.text(
        0.5,
        0.5,
        f"no {what} recorded",
        ha="center",
        va="center",
        transform=axes.transAxes,
        color="#666666",
    )


def _time_axis(axes: Any, stop_s: float) -> None:
    """Whole seconds on x, and a dotted line where stop was sent."""
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.axvline(stop_s, color="#555555", linestyle=":", linewidth=1, label="stop sent")
    axes.set_xlabel("seconds since start")
    axes.set_xlim(left=0)


def _headroom(axes: Any, top: float) -> None:
    """Room above the data for a one-row legend."""
    axes.set_ylim(0, max(top, 1.0) * 1.3)


def throughput_svg(points: Sequence[SecondPoint], stop_s: float) -> str:
    """Transactions and errors per second; active canons on a second axis when known."""
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=_SIZE)
        axes = figure.add_subplot()
        edges = [point.second for point in points] + [points[-1].second + 1] if points else []
        handles: list[Any] = []
        if any(point.tx for point in points):
            handles.append(
                axes.stairs([p.tx for p in points], edges, color="#1f77b4", label="transactions/s")
            )
            handles.append(
                axes.stairs([p.errors for p in points], edges, color="#d62728", label="errors/s")
            )
            _headroom(axes, max(point.tx for point in points))
        else:
            _empty(axes, "transactions")
        axes.set_ylabel("per second")
        _time_axis(axes, stop_s)
        handles += axes.get_lines()
        canons = [point.canons_active for point in points]
        if any(value is not None for value in canons):
            twin = axes.twinx()
            known = [float("nan") if v is None else float(v) for v in canons]
            handles.append(
                twin.stairs(known, edges, color="#2ca02c", linestyle="--", label="active canons")
            )
            twin.set_ylabel("active canons")
            twin.yaxis.set_major_locator(MaxNLocator(integer=True))
            _headroom(twin, max((v for v in canons if v is not None), default=1))
            twin.grid(False)
        axes.legend(handles=handles, loc="upper left", ncols=len(handles), frameon=False)
        axes.set_title("Throughput")
        return _svg(figure)


def latency_svg(points: Sequence[SecondPoint], stop_s: float) -> str:
    """The p50 and p95 of the transaction time, second by second (at mid-second), in ms;
    in a paced run also the p95 of ``run()`` alone (uncorrected)."""
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=_SIZE)
        axes = figure.add_subplot()
        middles = [point.second + 0.5 for point in points]
        p95s = [point.p95_ms for point in points if point.p95_ms is not None]
        lines = [
            ("p50", "#1f77b4", [point.p50_ms for point in points]),
            ("p95", "#ff7f0e", [point.p95_ms for point in points]),
        ]
        if any(point.p95_uncorrected_ms is not None for point in points):
            # A paced run: p95 counts from when transactions were due; this one does not.
            lines.append(
                ("p95 uncorrected", "#2ca02c", [point.p95_uncorrected_ms for point in points])
            )
        if p95s:
            for label, color, values in lines:
                axes.plot(
                    middles,
                    [float("nan") if v is None else v for v in values],
                    color=color,
                    label=label,
                    marker=".",
                    markersize=4,
                )
            _headroom(axes, max(p95s))
        else:
            _empty(axes, "transactions")
        axes.set_ylabel("transaction time (ms)")
        _time_axis(axes, stop_s)
        axes.legend(loc="upper left", ncols=3, frameon=False)
        axes.set_title("Latency percentiles")
        return _svg(figure)
