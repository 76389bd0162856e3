"""Every command's ``--help``, ``--version`` and no-argument usage, and the docs, agree.

Run through the real console scripts (and ``python -m``), as a newcomer meets them:
the version comes from the package metadata, a missing input is named, and the
options, threshold metrics and verdict rules the help shows are the ones the docs
document (the verdict and the thresholds in docs/hq.md, the options anywhere in
README.md and docs/) and the code enforces (``gturret.hq.verdict.RULES``,
``gturret.hq.thresholds.METRICS``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from gturret.hq.thresholds import METRICS
from gturret.hq.verdict import RULES
from tests.support.peers import ROOT

BIN = Path(sys.executable).parent
HQ_PAGE = (ROOT / "docs" / "hq.md").read_text()
DOCS = "\n".join(path.read_text() for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

#: Each command as it is typed, and the name its ``--version`` gives.
COMMANDS = {
    "gturret": [str(BIN / "gturret")],
    "gturret-hq": [str(BIN / "gturret-hq")],
    "gturret-keys": [str(BIN / "gturret-keys")],
    "gturret pack": [str(BIN / "gturret"), "pack"],
}

#: The words that name each rule of the verdict, the same in both --help texts and in
#: docs/hq.md's "The verdict"; a rule added to ``RULES`` without its words here fails.
RULE_WORDS = {
    "interrupted": "the test was interrupted",
    "transactions": "no transaction was recorded",
    "turrets": "a turret died",
    "delivery": "results were lost",
    "canons": "canons starved",
    "schedule": "the schedule was not kept",
    "errors": "a transaction failed",
    "messages": "messages were rejected",
    "journal": "the journal does not hold the whole run",
    "thresholds": "a threshold failed",
}


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def flat(text: str) -> str:
    """Text with markup and line breaks gone, for phrases wrapped across lines."""
    return " ".join(text.replace("**", "").split())


def help_of(name: str) -> str:
    done = run([*COMMANDS[name], "--help"])
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    "name, command",
    [
        *COMMANDS.items(),
        ("gturret", [sys.executable, "-m", "gturret"]),
        ("gturret-hq", [sys.executable, "-m", "gturret.hq"]),
    ],
)
def test_every_command_gives_its_version_from_the_package_metadata(name, command):
    done = run([*command, "--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{name} {version('gturret')}\n"


def test_gturret_without_an_input_says_what_to_give():
    done = run(COMMANDS["gturret"])
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "gturret: error: give a config file (gturret config.json) or --tar ARCHIVE"
        " (gturret --tar turret.tar.gz); gturret --help says more"
    )
    done = run([*COMMANDS["gturret"], "config.json", "--tar", "turret.tar.gz"])
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "gturret: error: give a config file or --tar ARCHIVE, not both"
    )


@pytest.mark.parametrize("name, missing", [("gturret-keys", "name"), ("gturret pack", "config")])
def test_the_other_commands_without_an_argument_name_it(name, missing):
    done = run(COMMANDS[name])
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith(f"the following arguments are required: {missing}")


def test_the_rule_words_cover_every_rule_of_the_verdict():
    assert set(RULE_WORDS) == {key for key, _, _ in RULES} | {"thresholds"}


@pytest.mark.parametrize("name", ["gturret", "gturret-hq"])
def test_exit_status_help_names_every_rule_of_the_verdict(name):
    text = flat(help_of(name))
    exit_status = text[text.index("exit status:") :]
    for rule, words in RULE_WORDS.items():
        assert words in exit_status, f"{name} --help leaves out the {rule} rule"


def test_the_docs_verdict_names_every_rule():
    verdict = flat(HQ_PAGE[HQ_PAGE.index("## The verdict") : HQ_PAGE.index("## Outputs")])
    for rule, words in RULE_WORDS.items():
        assert words in verdict.lower(), f"docs/hq.md's verdict leaves out the {rule} rule"


@pytest.mark.parametrize("name", ["gturret", "gturret-hq"])
def test_help_names_every_threshold_metric(name):
    text = flat(help_of(name))
    thresholds = text[text.index("thresholds (--threshold") : text.index("exit status:")]
    for metric in METRICS:
        assert re.search(rf"(?<![\w.]){re.escape(metric)}(?![\w.])", thresholds), metric


def test_the_docs_threshold_list_names_every_metric():
    line = flat(HQ_PAGE[HQ_PAGE.index("- **Thresholds**") : HQ_PAGE.index("- **`--json`**")])
    for metric in METRICS:
        assert re.search(rf"(?<![\w.]){re.escape(metric)}(?![\w.])", line), metric


def test_no_help_sends_the_reader_to_itself():
    for name in COMMANDS:
        assert f"{name} --help" not in help_of(name)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_option_of_every_command_is_in_the_docs(name):
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", help_of(name))) - {"--help"}
    missing = sorted(
        option for option in options if not re.search(rf"(?<![\w-]){option}(?![\w-])", DOCS)
    )
    assert not missing, f"{name} options neither README nor docs/ names: {missing}"
