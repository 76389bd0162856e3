"""The HTML report: one self-contained file whose interactive charts draw, show the
value under the mouse and zoom, in headless Chromium driven like a reader would.

Chromium is Debian's ``chromium`` package (``make browser`` installs it), driven
over its DevTools pipe (tests/support/browser.py); where it is absent the browser
test fails under CI and is skipped, saying so, elsewhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gturret.hq.charts import script_json
from gturret.hq.htmlreport import render_html
from tests.support.browser import Browser
from tests.support.hq_process import run_hq_cli
from tests.support.peers import system_program

#: Counts the opaque pixels of about one colour (lines are antialiased) on a chart's canvas.
PIXELS = """(() => {
  const u = window.gturretCharts[%s], [r, g, b] = %s;
  const d = u.ctx.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    n += d[i+3] > 200 && Math.abs(d[i] - r) + Math.abs(d[i+1] - g) + Math.abs(d[i+2] - b) < 60;
  }
  return n > 50 && n;
})()"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    html = tmp_path_factory.mktemp("html") / "report.html"
    code, _, err, _ = run_hq_cli(
        "--run-time",
        "3",
        "--html",
        str(html),
        "--json",
        str(html.with_suffix(".json")),
        "--threshold",
        "p95<1s",
        "--threshold",
        "p50<1ms",
        error=lambda i: "HTTP status 503" if i % 7 == 0 else "",
        scriptrun_time=lambda i: 0.002 + (i % 10) / 1000,
    )
    assert code == 1, err
    return html


def test_the_page_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert page.count("<script") == 3  # the data, uPlot, our charts
    assert "https://github.com/leeoniya/uPlot (v1.6.32)" in page
    assert 'id="throughput"' in page and 'id="latency"' in page
    assert "p95&lt;1s" in page and "✗ FAIL" in page and "✓ PASS" in page
    assert "HTTP status 503" in page


def test_text_from_the_wire_is_escaped() -> None:
    document = _document_with_error("<img src=x onerror=alert(1)>")
    page = render_html(document)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_chart_data_cannot_close_its_script() -> None:
    data = {"name": "</script><script>alert(1)</script>&"}
    text = script_json(data)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == data


@pytest.mark.system
def test_the_charts_draw_show_values_on_hover_and_zoom(report: Path) -> None:
    chromium = system_program("chromium", "make browser")
    document = json.loads(report.with_suffix(".json").read_text())
    with Browser(chromium) as page:
        page.open(report.as_uri())
        page.wait_for("window.gturretCharts && Object.keys(window.gturretCharts).length === 2")
        page.wait_for(PIXELS % ('"latency"', "[0xd6, 0x27, 0x28]"))  # the p99 line, on top
        page.wait_for(PIXELS % ('"throughput"', "[0x1f, 0x77, 0xb4]"))  # transactions/s

        box = page.evaluate(
            "(() => { const o = document.querySelector('#latency .u-over');"
            " o.scrollIntoView(); const r = o.getBoundingClientRect();"
            " return {left: r.left, top: r.top, width: r.width, height: r.height}; })()"
        )
        second = 1
        x = box["left"] + page.evaluate(f"window.gturretCharts.latency.valToPos({second}, 'x')")
        page.mouse("mouseMoved", x, box["top"] + box["height"] / 2)
        index = page.wait_for("window.gturretCharts.latency.cursor.idx")
        shown = _legend(page, "latency", "p95")
        expected = document["time_series"][index]["p95_ms"]
        assert shown.endswith(" ms") and float(shown[:-3]) == pytest.approx(expected, abs=0.006)
        tx = _legend(page, "throughput", "transactions/s")  # the cursor is synced
        assert int(tx) == document["time_series"][index]["tx"]

        top = box["top"] + box["height"] / 2
        page.mouse("mousePressed", box["left"] + box["width"] * 0.25, top, "left")
        page.mouse("mouseMoved", box["left"] + box["width"] * 0.6, top, "left")
        page.mouse("mouseReleased", box["left"] + box["width"] * 0.6, top, "left")
        scales = (
            "['latency', 'throughput'].map(n => {const s = window.gturretCharts[n]"
            ".scales.x; return [s.min, s.max];})"
        )
        zoomed = page.wait_for(
            f"(() => {{ const z = {scales}; return z[0][1] - z[0][0] <"
            f" {document['time_series'][-1]['second']} * 0.5 && z; }})()"
        )
        assert zoomed[0] == pytest.approx(zoomed[1]), "the other chart did not follow the zoom"


def _legend(page: Browser, chart: str, label: str) -> Any:
    """The value shown in a chart's legend for the series named ``label``."""
    return page.evaluate(
        f"[...document.querySelectorAll('#{chart} .u-legend .u-series')]"
        f".find(r => r.querySelector('.u-label').textContent === {label!r})"
        ".querySelector('.u-value').textContent"
    )


def _document_with_error(error: str) -> dict[str, object]:
    metric = {
        "name": "transaction",
        "count": 1,
        "errors": 1,
        "error_rate_pct": 100.0,
        "tx_per_s": 1.0,
        "min_ms": 1.0,
        "mean_ms": 1.0,
        "p50_ms": 1.0,
        "p90_ms": 1.0,
        "p95_ms": 1.0,
        "p99_ms": 1.0,
        "p99_9_ms": 1.0,
        "max_ms": 1.0,
    }
    return {
        "generated_at": "2026-01-01T00:00:00Z",
        "test": {"started_at": None, "run_time_s": 1.0, "duration_s": 1.0, "interrupted": False},
        "verdict": {
            "passed": False,
            "exit_status": 1,
            "reason": error,
            "problems": [error, error],
        },
        "turrets": [
            {
                "uuid": "u",
                "name": error,
                "state": "ready",
                "canons": 1,
                "joined_late": False,
                "results_produced": 1,
                "results_dropped": 0,
            }
        ],
        "unsettled_turrets": [],
        "delivery": [
            {"name": error, "turrets": 1, "produced": 1, "received": 1, "dropped": 0, "lost": 0}
        ],
        "canons": {
            "total": 1,
            "spawned": 1,
            "started": 1,
            "never_completed": 1,
            "never_started": 0,
            "killed_at_stop": {error: {"count": 1, "longest_s": 2.0}},
        },
        "transaction": metric,
        "transaction_uncorrected": None,
        "pacing": None,
        "loop_lag": None,
        "timers": {error: dict(metric, name=error)},
        "errors": {"kinds": 1, "top": [{"error": error, "count": 1}]},
        "results_by_turret": {error: 1},
        "time_series": [
            {"second": 0, "tx": 1, "errors": 1, "p50_ms": 1.0, "p95_ms": 1.0, "canons_active": None}
        ],
        "thresholds": [],
        "messages": {
            "results": 1,
            "statuses": 1,
            "intervals": 0,
            "unknown": 0,
            "stray_results": 0,
            "unnamed_results": 0,
            "late_starts": 0,
        },
    }
