"""``gturret-keys NAME``: create a CurveZMQ key pair for an HQ or a turret.

Why a command of its own: a key pair is made once per machine role, not per run,
and neither ``gturret`` nor ``gturret-hq`` should create files as a side effect. It
writes ``NAME.key`` (the public key, to hand out) and ``NAME.key_secret`` (both keys,
mode 0600, to keep) in ZeroMQ's certificate format (:func:`gturret.keys.create_key_pair`)
and never overwrites a key. Exit status 0, or 2 with one line on what is wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gturret.errors import ExitStatus, KeyFileError
from gturret.keys import create_key_pair
from gturret.version import version_line


def main(argv: Sequence[str] | None = None) -> int:
    """Create the key pair; print where the two files went."""
    parser = argparse.ArgumentParser(
        prog="gturret-keys",
        description="Create a CurveZMQ key pair: NAME.key (public) and NAME.key_secret"
        " (secret, mode 600). The HQ gets --secret-key hq.key_secret and a --turret-keys"
        " folder holding each turret's NAME.key; a turret config names hq_public_key"
        " (the HQ's .key) and turret_secret_key (its own .key_secret).",
        epilog="exit status: 0 both files written; 2 a bad name, no such folder, or a key"
        " file of that name already there (never overwritten).",
    )
    parser.add_argument("name", help="base name of the two files, e.g. hq or turret-eu-1")
    parser.add_argument(
        "--dir", type=Path, default=Path("."), help="folder to write them in (default: .)"
    )
    parser.add_argument("--version", action="version", version=version_line("gturret-keys"))
    args = parser.parse_args(argv)
    try:
        public, secret = create_key_pair(args.dir, args.name)
    except KeyFileError as exc:
        print(f"gturret-keys: error: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    print(f"public key: {public} (hand it out)")
    print(f"secret key: {secret} (keep it; mode 600)")
    return ExitStatus.OK


if __name__ == "__main__":
    raise SystemExit(main())
