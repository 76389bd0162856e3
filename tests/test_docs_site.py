"""README is the front door to the docs/ pages, and its links work where it is read.

Why: ``mkdocs build --strict`` (``make lint``) checks the links between docs/ pages,
but README.md is outside the site and is read on GitHub: nothing else checks that
its links reach a page and a heading there, that every page can be reached from
it, or that it stays short. docs/index.md, the site's home, repeats README's table
of where to read on; the two must not drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.peers import ROOT

README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\((?!https?:)([^)#\s]+)(?:#([^)\s]+))?\)")
TABLE = re.compile(r"^\| to … \| read \|\n(?:^\|.*\|\n)+", re.M)


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to ``-``."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    headings = re.findall(
        r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S), re.M
    )
    return {github_anchor(heading) for heading in headings}


def test_readme_is_short_and_shows_make_run_and_make_test_first():
    lines = README.splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines"
    first_screen = "\n".join(lines[:40])
    assert "make run" in first_screen and "make test" in first_screen


def test_every_readme_link_reaches_a_file_and_its_heading():
    links = LINK.findall(README)
    assert any(path.startswith("docs/") for path, _ in links)
    for path, anchor in links:
        target = ROOT / path
        assert target.is_file(), f"README links to {path}, which does not exist"
        if anchor:
            assert anchor in anchors(target), f"README links to {path}#{anchor}: no such heading"


def test_every_docs_page_is_reachable_from_readme():
    linked = {path for path, _ in LINK.findall(README)}
    pages = {f"docs/{page.name}" for page in DOCS.glob("*.md")} - {"docs/index.md"}
    assert not pages - linked, f"pages README does not link to: {sorted(pages - linked)}"


def test_the_site_home_has_readmes_table_of_where_to_read_on():
    readme_table = TABLE.search(README)
    index_table = TABLE.search((DOCS / "index.md").read_text())
    assert readme_table and index_table
    assert index_table[0] == readme_table[0].replace("](docs/", "](")
