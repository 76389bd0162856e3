"""docs/architecture.md matches the code, and entry points import downward only."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gturret"


def test_every_module_is_in_the_architecture_document():
    document = (ROOT / "docs" / "architecture.md").read_text()
    modules = sorted(
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if path.parent.name != "octcompat"
    )
    missing = [module for module in modules if f"`{module}`" not in document]
    assert not missing, f"docs/architecture.md does not name {missing}"
    assert "`gturret/octcompat/`" in document


#: The kinds of change "Where a change goes" must give a row, as the rows begin.
CHANGES = (
    "config key",
    "HQ command-line option",
    "turret command",
    "verdict rule",
    "output",
    "counter in a status",
    "threshold metric",
)


def where_a_change_goes() -> dict[str, str]:
    """The rows of docs/architecture.md's "Where a change goes": kind of change, files."""
    document = (ROOT / "docs" / "architecture.md").read_text()
    section = document[document.index("## Where a change goes") :]
    return dict(re.findall(r"^\| (.+?) \| (.+) \|$", section, re.M)[2:])


def test_where_a_change_goes_has_a_row_for_each_kind_of_change():
    assert list(where_a_change_goes()) == list(CHANGES)


def test_every_file_where_a_change_goes_exists():
    """A file renamed or split leaves the table pointing nowhere: it fails here."""
    named = {
        path
        for files in where_a_change_goes().values()
        for path in re.findall(r"`((?:gturret|tests|docs)/[\w/.]+\.(?:py|md))`", files)
    }
    assert len(named) >= 20, sorted(named)
    missing = sorted(path for path in named if not (ROOT / path).is_file())
    assert not missing, f"docs/architecture.md's 'Where a change goes' names {missing}"


def loaded_after(module: str) -> list[str]:
    """The gturret.hq modules (and the HQ's report libraries) a fresh, patched process
    loads. HdrHistogram is not one of them: a turret measures its loop lag with it."""
    program = (
        "from gevent import monkey; monkey.patch_all()\n"
        f"import sys, importlib; importlib.import_module({module!r})\n"
        "print(' '.join(sorted(m for m in sys.modules"
        " if m.startswith(('gturret.hq', 'jinja2', 'matplotlib')))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_a_worker_loads_nothing_of_the_hq():
    assert loaded_after("gturret.worker") == []


def test_a_plain_turret_loads_only_the_hq_options_it_parses():
    assert loaded_after("gturret.cli") == [
        "gturret.hq",
        "gturret.hq.options",
        "gturret.hq.reportfile",
        "gturret.hq.thresholds",
    ]


def test_nothing_below_the_entry_points_imports_them():
    entry_points = ("gturret.cli", "gturret.worker", "gturret.hq.cli", "gturret.keygen")
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__main__.py":  # ``python -m``: an entry point itself
            continue
        source = path.read_text()
        for entry in entry_points:
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if module != entry:
                assert f"import {entry}" not in source and f"from {entry} " not in source, (
                    f"{module} imports the entry point {entry}"
                )


def imported_by(module: str) -> set[str]:
    """The gturret modules ``module`` imports anywhere (TYPE_CHECKING blocks too)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_battery_imports_its_canons_and_never_the_other_way():
    assert "gturret.canon" in imported_by("battery")
    assert "gturret.battery" not in imported_by("canon")


def test_the_hq_imports_nothing_of_the_turrets_aggregation():
    """The interval message's constants are the wire's: the HQ reads the message and
    never reaches into the turret-side code that writes it."""
    for path in (PACKAGE / "hq").rglob("*.py"):
        module = path.relative_to(PACKAGE).with_suffix("").as_posix()
        assert "gturret.aggregate" not in imported_by(module), f"{path} imports it"
