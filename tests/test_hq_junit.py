"""``--junit``: the verdict as JUnit XML, through the real CLIs, valid against the
Jenkins xUnit schema (tests/data/junit-10.xsd) that CI tools accept."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import xmlschema

from tests.support.demo_target import demo_target
from tests.support.fake_turret import FakeTurret
from tests.support.hq_process import HQProcess, run_hq_cli
from tests.support.turret_process import run_cli
from tests.test_standalone import demo_config

SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit-10.xsd")


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with demo_target() as port:
        yield f"http://127.0.0.1:{port}"


def cases(path: Path) -> dict[str, ET.Element]:
    """The testcases of a valid JUnit file, by name."""
    SCHEMA.validate(str(path))
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return {case.attrib["name"]: case for case in suite.iter("testcase")}


def properties(path: Path) -> dict[str, str]:
    return {p.attrib["name"]: p.attrib["value"] for p in ET.parse(path).getroot().iter("property")}


def test_a_dead_turret_failed_transactions_and_a_threshold_are_failures(tmp_path: Path) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    hq = HQProcess(
        "--run-time", "1", "--drain-timeout", "1", "--threshold", "p50<0.001ms",
        "--threshold", "p99<60s", "--junit", str(junit), "--json", str(report),
    )  # fmt: skip
    fake = FakeTurret(*hq.ports(), error=lambda i: "HTTP 503" if i % 4 == 0 else "").start()
    deadline = time.monotonic() + 10
    while fake.sent < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    fake.close()  # the turret dies mid-run: no status, never ready again
    code, _, err = hq.finish()
    assert code == 1, err
    found = cases(junit)
    document = json.loads(report.read_text())
    assert len(found) == len(document["verdict"]["checks"]) + 2
    died = found["no turret died"].find("failure")
    assert died is not None and "did not come back to ready" in died.attrib["message"]
    assert (died.text or "").endswith("ready again")
    errors = found["no transaction failed (without an error_rate threshold)"].find("failure")
    failed = document["transaction"]["errors"]
    assert errors is not None and f"{failed} of " in errors.attrib["message"]
    threshold = found["p50<0.001ms"].find("failure")
    assert threshold is not None and threshold.text is not None
    measured = document["thresholds"][0]["actual"]
    assert f"measured: {measured:.3f} ms" in threshold.text
    assert "limit: < 0.001 ms" in threshold.text
    assert found["p99<60s"].find("failure") is None
    assert found["transactions were recorded"].find("failure") is None
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.attrib["failures"] == "3"
    assert properties(junit)["transactions"] == str(document["transaction"]["count"])
    assert properties(junit)["exit_status"] == "1"


def test_an_error_rate_threshold_waives_the_failed_transactions_rule(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    code, _, err, fake = run_hq_cli(
        "--threshold", "error_rate<50%", "--junit", str(junit),
        error=lambda i: "HTTP 503" if i % 10 == 0 else "",
    )  # fmt: skip
    assert code == 0, err
    found = cases(junit)
    assert all(case.find("failure") is None for case in found.values())
    skipped = found["no transaction failed (without an error_rate threshold)"].find("skipped")
    assert skipped is not None and "error_rate<50%" in skipped.attrib["message"]
    assert properties(junit)["transactions"] == str(fake.sent)


def test_standalone_writes_a_valid_file(tmp_path: Path, target: str) -> None:
    config = demo_config(tmp_path, target)
    args = [str(config), "--standalone", "--run-time", "1s", "--junit", "junit.xml"]
    done = run_cli([*args, "--threshold", "p95<10s", "--no-progress"], tmp_path)
    assert done.returncode in (0, 1), done.stderr
    found = cases(tmp_path / "junit.xml")
    assert "p95<10s" in found and "no results were lost" in found
