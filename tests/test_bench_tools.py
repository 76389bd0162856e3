"""The bench's single-purpose tools still run against today's HQ.

``bench.console_frame`` and ``bench.hq_replay`` drive the HQ's own classes, so a
change of their signatures breaks them silently until somebody needs a figure
(``console_frame`` had been broken that way by the journal's merge). Each runs
here, small, as a real process, and its figure line is read back.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_console_frame_prints_the_cost_of_a_frame():
    out = _run("bench.console_frame", "--turrets", "3", "--frames", "2")
    assert re.search(
        r"^3 turrets: [\d.]+ ms CPU a frame \([\d,]+ bytes\); one a second would take [\d.]+ %",
        out,
        re.MULTILINE,
    ), out


def test_hq_replay_prints_the_hqs_share_of_a_core():
    out = _run("bench.hq_replay", "--turrets", "2", "--seconds", "2")
    assert re.search(
        r"^2 turrets replayed for 2 s: median [\d.]+ % of a core", out, re.MULTILINE
    ), out
