"""A strict parser of the Prometheus text format (0.0.4), for the tests of ``/metrics``.

Why our own: prometheus_client is no dependency of gturret, and promtool is a system
program that only some runs have. This one follows the format's grammar and fails
on anything it does not allow (a bad escape, an unquoted value, a raw newline in a
label that splits a sample, bytes that are not UTF-8), so a test that parses with
it proves the exposition well-formed, not merely readable.
"""

from __future__ import annotations

import math
import re

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}

Sample = tuple[str, tuple[tuple[str, str], ...], float]


def _label_value(line: str, at: int) -> tuple[str, int]:
    """The value of a quoted label starting at ``line[at]`` (the opening quote), and
    where it ends; ValueError on an unknown escape or a missing closing quote."""
    if line[at : at + 1] != '"':
        raise ValueError(f"a label value must be quoted: {line!r}")
    value, at = [], at + 1
    while at < len(line):
        char = line[at]
        if char == '"':
            return "".join(value), at + 1
        if char == "\\":
            escaped = line[at + 1 : at + 2]
            if escaped not in _ESCAPES:
                raise ValueError(f"unknown escape \\{escaped} in {line!r}")
            value.append(_ESCAPES[escaped])
            at += 2
        else:
            value.append(char)
            at += 1
    raise ValueError(f"unterminated label value: {line!r}")


def _sample(line: str) -> Sample:
    name = _NAME.match(line)
    if name is None:
        raise ValueError(f"not a sample line: {line!r}")
    at, labels = name.end(), []
    if line[at : at + 1] == "{":
        at += 1
        while line[at : at + 1] != "}":
            label = _LABEL.match(line, at)
            if label is None or line[label.end() : label.end() + 1] != "=":
                raise ValueError(f"bad label at {at} in {line!r}")
            value, at = _label_value(line, label.end() + 1)
            labels.append((label.group(), value))
            if line[at : at + 1] == ",":
                at += 1
            elif line[at : at + 1] != "}":
                raise ValueError(f"expected , or }} at {at} in {line!r}")
        at += 1
    if line[at : at + 1] != " ":
        raise ValueError(f"expected a space before the value in {line!r}")
    value = float(line[at + 1 :].split(" ")[0])
    if math.isnan(value) and "NaN" not in line[at + 1 :]:
        raise ValueError(f"bad value in {line!r}")
    return name.group(), tuple(labels), value


def parse(body: bytes) -> list[Sample]:
    """Every sample of an exposition; ValueError (or UnicodeDecodeError) if malformed."""
    text = body.decode("utf-8")
    if text and not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    samples = []
    for line in text.split("\n")[:-1]:
        if line.strip() and not line.startswith("#"):  # comments and blank lines are allowed
            samples.append(_sample(line))
    return samples
