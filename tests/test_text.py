"""Hostile text from a script and from the wire, through every output of a real run.

A real turret, named with a hostile name, runs a real script whose transactions
raise hostile error texts and time a custom timer with a hostile name; a real
gturret-hq collects them, serves ``/metrics``, and writes every report. Each
output is then read back by a real parser: the exposition by a strict parser of
the text format, the JSON by ``json``, the JUnit file by ``xmlschema`` against
Jenkins' schema, the CSV by ``csv``, the page by ``html.parser``; the terminal
(standard output and standard error) must hold no raw escape or control
character and no forged log line.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import unicodedata
import urllib.request
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import xmlschema

from gturret.text import csv_cell, display, valid_unicode, xml_text
from tests.support import exposition
from tests.support.hq_process import HQProcess
from tests.support.turret_process import TurretProcess, write_turret
from tests.support.waiting import wait_until
from tests.test_hq_metrics import SERVED

SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit-10.xsd")
#: What a log line of ours starts with; a line that does not is forged or broken.
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
FORGED = "2026-01-01 00:00:00,000 ERROR gturret.hq.run: FORGED"
HOSTILE = (
    "lone surrogates \udcff and \ud800, as os.listdir gives for undecodable bytes",
    "escapes \x1b[2J\x1b[H\x1b[31mred\x1b]0;title\x07 clear the screen",
    "NUL \x00, C0 \x01\x08\x0b\x0c\x1f, DEL \x7f and C1 \x85\x9b controls",
    f"two lines\n{FORGED} in an error\rand a carriage return",
    '=HYPERLINK("http://x","y")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\tcmd",
    "</script><script>alert(1)</script>",
    "right-to-left \u202etxt.exe",
    "long " + "x" * 5000,
)
TURRET_NAME = (
    f'evil\x1b[2J\x00\x0b\udcff\ufffe\u202e\n{FORGED} by a name =cmd|" /C calc"!A0 </script>'
)
TIMER = "timer\x1b[31m\n</script>=1+1\udcff"
SCRIPT = """
    import itertools, json, time
    from pathlib import Path
    from gturret import Transaction as Base

    HOSTILE = json.loads((Path(__file__).parent / "hostile.json").read_text())
    COUNT = itertools.count()

    class Transaction(Base):
        def run(self):
            time.sleep(0.005)
            self.custom_timers[HOSTILE["timer"]] = 0.001
            raise RuntimeError(HOSTILE["errors"][next(COUNT) % len(HOSTILE["errors"])])
"""


def test_display_text_escapes_what_a_terminal_would_obey() -> None:
    assert display("plain text, accents é and emoji 🎯") == "plain text, accents é and emoji 🎯"
    assert display("a\x1b[2J\nb\r\t\x00\x85\u202e\udcff") == (
        "a\\x1b[2J\\nb\\r\\t\\x00\\x85\\u202e\\udcff"
    )


def test_each_format_gets_its_own_defence() -> None:
    assert valid_unicode("a\udcffb") == "a\\udcffb"
    assert xml_text("a\x00\x1b\n\t\ufffe\udcffz") == "a\\x00\\x1b\n\t\\ufffe\\udcffz"
    for formula in ('=HYPERLINK("http://x")', "+1", "-1", "@A1"):
        assert csv_cell(formula) == "'" + formula
    assert csv_cell("\tx") == "\\tx" and csv_cell("\r=1") == "\\r=1"
    assert csv_cell("HTTP 503") == "HTTP 503" and csv_cell(-1.5) == -1.5


def test_hostile_texts_never_break_an_output(tmp_path: Path, turrets: list[TurretProcess]) -> None:
    report, page, junit, prefix = (tmp_path / name for name in ("r.json", "r.html", "j.xml", "run"))
    hq = HQProcess(
        "--run-time", "60", "--drain-timeout", "1", "--metrics-port", "0",
        "--json", str(report), "--html", str(page), "--junit", str(junit), "--csv", str(prefix),
    )  # fmt: skip
    try:
        (tmp_path / "hostile.json").write_text(json.dumps({"errors": HOSTILE, "timer": TIMER}))
        config = write_turret(tmp_path, SCRIPT, hq.ports(), name=TURRET_NAME)
        turrets.append(TurretProcess([str(config)], tmp_path))
        hq.wait_for("metrics served on")
        match = SERVED.search(b"".join(hq.stderr).decode())
        assert match is not None
        port = int(match[1])

        def errors() -> float:
            samples = _scrape(port)
            return sum(v for n, _, v in samples if n == "gturret_transaction_errors_total")

        wait_until(lambda: errors() >= 3 * len(HOSTILE), "every hostile text a few times")
        samples = _scrape(port)  # still 200 and well-formed after the hostile texts
        labels = [dict(pairs) for _, pairs, _ in samples]
        assert valid_unicode(TURRET_NAME) in {label.get("turret") for label in labels}
        assert valid_unicode(TIMER) in {label.get("timer") for label in labels}

        turrets[0].signal(signal.SIGKILL)  # it never comes back: its name lands in a failure
        hq.process.send_signal(signal.SIGINT)
        code, out, err = hq.finish()  # decoded as strict UTF-8
    finally:
        hq.process.kill()
    assert code == 1, err

    _check_terminal(out, err)
    document = _check_json(report)
    _check_junit(junit)
    _check_csv(prefix, document)
    _check_html(page)


def _scrape(port: int) -> list[exposition.Sample]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return exposition.parse(response.read())


def _raw_controls(text: str) -> set[str]:
    """Characters a terminal would obey or hide text with: controls but the newline,
    format characters (U+202E), surrogates."""
    return {
        char for char in text if char != "\n" and unicodedata.category(char) in ("Cc", "Cf", "Cs")
    }


def _check_terminal(out: str, err: str) -> None:
    assert not _raw_controls(out), sorted(_raw_controls(out))
    assert not _raw_controls(err), sorted(_raw_controls(err))
    forged = [line for line in (out + err).splitlines() if "FORGED" in line]
    assert forged, "the texts were not shown at all"
    for line in forged:
        assert not line.startswith(FORGED), "a text started a line of its own"
    for line in err.splitlines():
        assert "FORGED" not in line or LOG_LINE.match(line), f"a log line was split: {line!r}"
    assert "\\x1b[2J" in out, "the summary shows error texts with visible escapes"
    assert display(TURRET_NAME) in err, "the log names the turret with visible escapes"


def _check_json(path: Path) -> dict[str, object]:
    document = json.loads(path.read_bytes().decode("utf-8"))
    assert document["turrets"][0]["name"] == valid_unicode(TURRET_NAME)
    expected = {valid_unicode(text)[:300] for text in HOSTILE}
    for error in document["errors"]["top"]:
        assert error["error"].removesuffix("…") in expected
    assert valid_unicode(TIMER) in document["timers"]
    assert any(valid_unicode(TURRET_NAME) in problem for problem in document["verdict"]["problems"])
    return document  # type: ignore[no-any-return]


def _check_junit(path: Path) -> None:
    SCHEMA.validate(str(path))
    messages = [failure.attrib["message"] for failure in ET.parse(path).getroot().iter("failure")]
    assert any(xml_text(valid_unicode(TURRET_NAME)) in message for message in messages)


def _check_csv(prefix: Path, document: dict[str, object]) -> None:
    for kind in ("stats", "history", "errors"):
        with prefix.with_name(f"{prefix.name}_{kind}.csv").open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        for row in rows:
            for cell in row:
                assert not cell or cell[0] not in "=+-@\t\r" or _number(cell), cell
                assert not _raw_controls(cell), cell
        if kind == "errors":
            assert ["'" + display('=HYPERLINK("http://x","y")')] == [
                row[0] for row in rows if "HYPERLINK" in row[0]
            ]
            assert len(rows) - 1 == len(HOSTILE)
        if kind == "stats":
            assert "timer " + display(valid_unicode(TIMER)) in [row[0] for row in rows]


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.ends = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self.ends += tag == "script"


def _check_html(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    tags = _Tags()
    tags.feed(text)
    tags.close()
    assert tags.scripts == tags.ends == 3, "the data, uPlot and our charts: nothing injected"
    data = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', text, re.S)
    assert data is not None
    json.loads(data[1])
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in text
