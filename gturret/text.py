"""Text from the wire or from a script, made safe for each output it reaches.

Why it exists: turret names, timer names and error texts are whatever a turret
sent or a script raised: lone surrogates (an undecodable file name, as
``os.listdir`` gives), terminal escape sequences, NUL and other controls, a
newline that forges a log line, a spreadsheet formula, a right-to-left override.
Each output needs its own defence; they sit here side by side so that none is
forgotten, and each writer calls the one it needs:

- :func:`display` for the terminal and the logs (through :class:`DisplayFormatter`);
- :func:`valid_unicode` / :func:`valid_data` for anything encoded to UTF-8 (the
  JSON report, and the HTML, JUnit and CSV rendered from it; Prometheus labels);
- :func:`xml_text` for XML 1.0 (the JUnit report);
- :func:`csv_cell` for spreadsheets (the CSV reports).

It must never drop text silently: what cannot pass is shown as a visible escape
(``\\x1b``, ``\\udcff``), so the reader still sees that something was there.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

#: The format of every log line of gturret's commands.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: What starts a cell a spreadsheet would run as a formula (OWASP, "CSV Injection");
#: the tab and the carriage return OWASP names too never start a :func:`display` text.
FORMULA_STARTS = ("=", "+", "-", "@")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Characters XML 1.0 does not allow anywhere in a document, even as a reference.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape(char: str) -> str:
    """``char`` as Python would write it in a string literal: ``\\n``, ``\\x1b``, …"""
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def display(text: str) -> str:
    """``text`` for a terminal or a log line: every character that is not printable
    (controls, escape sequences, newlines, lone surrogates, format characters such
    as U+202E) as its visible escape, so it can neither drive the terminal nor
    start a line of its own."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def valid_unicode(text: str) -> str:
    """``text`` that encodes to UTF-8: each lone surrogate as its escape (``\\udcff``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def valid_data(value: Any) -> Any:
    """JSON data (dicts, lists, scalars) with every string, key included, made
    :func:`valid_unicode`; dicts and lists are copied, the rest returned as it is."""
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, dict):
        return {valid_data(key): valid_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [valid_data(item) for item in value]
    return value


def xml_text(text: str) -> str:
    """``text`` for XML 1.0: the characters it forbids (most C0 controls, lone
    surrogates, U+FFFE, U+FFFF) as their visible escapes; tabs and newlines stay."""
    return _NOT_XML.sub(lambda match: _escape(match.group()), text)


def csv_cell(value: Any) -> Any:
    """A CSV cell: text as :func:`display` shows it, with a quote before a formula's
    first character so spreadsheets show it rather than run it; numbers unchanged."""
    if not isinstance(value, str):
        return value
    text = display(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class DisplayFormatter(logging.Formatter):
    """Log lines whose message and traceback are :func:`display` text, line by line:
    a turret name or an error text in a message can neither forge a line of its
    own nor send escape sequences to the terminal."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = display(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return "\n".join(display(line) for line in super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(display(line) for line in super().formatStack(stack_info).splitlines())


def log_to_stderr(level: int | str, form: str = LOG_FORMAT) -> None:
    """Send the process's logs to standard error, one display-safe line a record."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DisplayFormatter(form))
    logging.basicConfig(level=level, handlers=[handler])
