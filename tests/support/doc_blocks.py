"""The fenced blocks of the Markdown docs, and the shell commands in their ``sh`` blocks.

Why: the README's commands drifted from what runs; ``tests/test_docs_commands.py``
runs each command it can and lists the rest, and needs every command as a reader
would type it: continuation lines joined, comments and ``host$`` prompts dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^```(?P<lang>\S*)\s*$")
_PROMPT = re.compile(r"^[\w.-]+\$\s+")
_COMMENT = re.compile(r"(?:^|\s+)#(?:\s.*)?$")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: its file, the line of its opening fence, its language and text."""

    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` (a fence that is never closed is an error)."""
    blocks: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fence = _FENCE.match(line)
        if opened is None and fence:
            opened, body = (number, fence["lang"]), []
        elif opened is not None and line.strip() == "```":
            blocks.append(Block(path, opened[0], opened[1], "\n".join(body)))
            opened = None
        elif opened is not None:
            body.append(line)
    assert opened is None, f"{path.name}:{opened[0]}: a fence never closed"
    return blocks


def shell_commands(text: str) -> list[str]:
    """The commands of a shell block, one string each, whitespace collapsed."""
    commands: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = _COMMENT.sub("", _PROMPT.sub("", raw.strip()))
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        command = " ".join((pending + line).split())
        pending = ""
        if command:
            commands.append(command)
    return commands
