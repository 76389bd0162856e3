"""The HTML report: one self-contained file whose charts render in headless Chromium.

Chromium is Debian's ``chromium`` package (``make browser`` installs it); where it
is absent the browser test fails under CI and is skipped, saying so, elsewhere.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from gturret.hq.htmlreport import render_html
from tests.support.hq_process import run_hq_cli
from tests.support.peers import system_program

PLOT_COLOURS = {"p95 line": (0xFF, 0x7F, 0x0E), "transactions/s line": (0x1F, 0x77, 0xB4)}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    html = tmp_path_factory.mktemp("html") / "report.html"
    code, _, err, _ = run_hq_cli(
        "--run-time",
        "2",
        "--html",
        str(html),
        "--threshold",
        "p95<1s",
        "--threshold",
        "p50<1ms",
        error=lambda i: "HTTP status 503" if i % 7 == 0 else "",
    )
    assert code == 1, err
    return html


def test_the_page_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert page.count("<svg") == 2
    assert "Throughput" in page and "Latency percentiles" in page
    assert "p95&lt;1s" in page and "✗ FAIL" in page and "✓ PASS" in page
    assert "HTTP status 503" in page


def test_text_from_the_wire_is_escaped() -> None:
    document = _document_with_error("<img src=x onerror=alert(1)>")
    page = render_html(document)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.system
def test_the_charts_render_in_headless_chromium(report: Path) -> None:
    chromium = system_program("chromium", "make browser")
    screenshot = report.with_suffix(".png")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                str(chromium),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--screenshot={screenshot}",
                "--window-size=1200,2000",
                report.as_uri(),
            ],
            capture_output=True,
            timeout=60,
            check=True,
        )
    with Image.open(screenshot) as image:
        assert image.size == (1200, 2000)
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, "the screenshot is nearly blank"
    present = {rgb for _, rgb in colours}
    for name, rgb in PLOT_COLOURS.items():
        assert rgb in present, f"the {name} is not drawn"


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
