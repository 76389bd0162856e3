"""The JUnit XML report (``--junit``): the verdict in the form CI systems read.

Why it exists: Jenkins, GitLab, GitHub Actions reporters and most dashboards show
JUnit XML as a list of tests, so a load test shows there as one testsuite: one
testcase per threshold and one per rule of :mod:`gturret.hq.verdict` (a rule that
did not apply, such as failed transactions under an ``error_rate`` threshold, is
``skipped`` with the reason). A failed testcase carries a ``failure`` element with
the measured value and the limit, so the CI page says what broke without the
JSON. The summary's numbers go in ``properties``. The file follows the Jenkins
xUnit ``junit-10.xsd`` schema (``tests/data``).

It is rendered from the report document only, so a verdict here can never differ
from the JSON's; it must never compute or judge anything itself. Every text and
attribute is :func:`gturret.text.xml_text`, so a turret name or an error text can
never make the file ill-formed (and CI lose the verdict).
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from gturret.figures import format_number
from gturret.hq.reportfile import write_report
from gturret.text import xml_text

SUITE = "gturret load test"
#: The summary's numbers, as ``(property name, key of the transaction metric)``.
TRANSACTION_PROPERTIES = (
    ("transactions", "count"),
    ("errors", "errors"),
    ("error_rate_pct", "error_rate_pct"),
    ("tx_per_s", "tx_per_s"),
    ("min_ms", "min_ms"),
    ("mean_ms", "mean_ms"),
    ("p50_ms", "p50_ms"),
    ("p90_ms", "p90_ms"),
    ("p95_ms", "p95_ms"),
    ("p99_ms", "p99_ms"),
    ("p99_9_ms", "p99_9_ms"),
    ("max_ms", "max_ms"),
)


def _text(value: Any) -> str:
    """A number as a property value: ``-`` when unknown, floats to 3 places."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _properties(document: dict[str, Any]) -> ET.Element:
    properties = ET.Element("properties")
    transaction = document["transaction"]
    lost = [row["lost"] for row in document["delivery"] if row["lost"] is not None]
    pairs = [(name, transaction[key]) for name, key in TRANSACTION_PROPERTIES]
    pairs += [
        ("duration_s", document["test"]["duration_s"]),
        ("turrets", len(document["turrets"])),
        ("canons", document["canons"]["total"]),
        ("results_lost", sum(lost) if lost else None),
        ("error_kinds", document["errors"]["kinds"]),
        ("exit_status", document["verdict"]["exit_status"]),
        ("verdict", document["verdict"]["reason"]),
    ]
    for name, value in pairs:
        ET.SubElement(properties, "property", name=name, value=_text(value))
    return properties


def _threshold_case(threshold: dict[str, Any]) -> ET.Element:
    case = ET.Element("testcase", classname="gturret.thresholds", name=threshold["expression"])
    case.set("time", "0")
    if not threshold["passed"]:
        unit = threshold["unit"]
        actual = threshold["actual"]
        measured = "no data" if actual is None else f"{actual:.3f} {unit}"
        failure = ET.SubElement(case, "failure", type="threshold", message=threshold["detail"])
        limit = format_number(threshold["limit"])
        failure.text = f"measured: {measured}\nlimit: {threshold['op']} {limit} {unit}"
        if threshold["stopped_test_at_s"] is not None:
            failure.text += f"\nstopped the test at {threshold['stopped_test_at_s']:.1f}s"
    return case


def _check_case(check: dict[str, Any]) -> ET.Element:
    case = ET.Element("testcase", classname="gturret.verdict", name=check["title"])
    case.set("time", "0")
    if check["waived"]:
        ET.SubElement(case, "skipped", message=check["waived"])
    elif not check["passed"]:
        problems = check["problems"]
        failure = ET.SubElement(case, "failure", type=check["key"], message=problems[0])
        failure.text = "".join(f"measured: {problem}\n" for problem in problems)
        failure.text += f"limit: {check['limit']}"
    return case


def render_junit(document: dict[str, Any], hostname: str | None = None) -> str:
    """The JUnit XML text of one report document (``gturret.hq.document``)."""
    cases = [_check_case(check) for check in document["verdict"]["checks"]]
    cases += [_threshold_case(threshold) for threshold in document["thresholds"]]
    failures = sum(case.find("failure") is not None for case in cases)
    skipped = sum(case.find("skipped") is not None for case in cases)
    duration = f"{document['test']['duration_s']:.3f}"
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0"}
    suites = ET.Element("testsuites", {"name": "gturret", "time": duration, **counts})
    suite = ET.SubElement(
        suites, "testsuite", {"name": SUITE, "time": duration, **counts, "skipped": str(skipped)}
    )
    if document["test"]["started_at"]:
        suite.set("timestamp", document["test"]["started_at"].removesuffix("Z"))
    suite.set("hostname", hostname or socket.gethostname())
    suite.append(_properties(document))
    suite.extend(cases)
    for element in suites.iter():
        element.text = None if element.text is None else xml_text(element.text)
        for key, value in element.attrib.items():
            element.set(key, xml_text(value))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, document: dict[str, Any]) -> None:
    """Write the JUnit XML file; OSError if the path cannot be written."""
    write_report(path, render_junit(document))
