"""``gturret pack``: one archive that carries a turret to another machine.

Why: OCT's packs hold ``config.json`` and the script, and a script that reads a data
file or imports a package that is not installed on the turret's machine fails there,
canon after canon. A pack built here holds what the config declares: the config,
the script, the feeders' data files and the ``files`` the script uses (kept at their
places next to the config) and its ``requirements`` (as ``requirements.txt``), and
``gturret --tar`` on the other machine checks it as any tar, installs the
requirements into a venv of their own (:mod:`gturret.requirements`) and runs it.
It is a plain gzip tar with ``config.json`` at its top, so OCT's own packs and
ours are read the same way.

The pack is checked before it is written: the config must load (script present,
every declared file inside the config's folder) and the script must compile, so a
mistake shows here and not on a turret far away.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from gturret.config import TurretConfig, load_config
from gturret.errors import ConfigError, ExitStatus, UsageError
from gturret.tarball import CONFIG_NAME
from gturret.version import version_line

#: The name the requirements take inside a pack.
REQUIREMENTS_NAME = "requirements.txt"


def build_pack(config_path: Path, output: Path) -> list[str]:
    """Write the pack of the config at ``config_path`` to ``output``; its member names."""
    config = load_config(config_path)
    _check_script(config)
    folder = config.source.parent.resolve()
    raw = dict(config.raw)
    raw["script"] = config.script.relative_to(folder).as_posix()
    raw["files"] = [path.relative_to(folder).as_posix() for path in config.files]
    if config.feeders:
        raw["feeders"] = {
            spec.name: {
                **raw["feeders"][spec.name],
                "file": spec.file.relative_to(folder).as_posix(),
            }
            for spec in config.feeders
        }
    if config.requirements:
        raw["requirements"] = REQUIREMENTS_NAME
    else:
        raw.pop("requirements", None)
    members = [CONFIG_NAME]
    output.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(output, "w:gz") as tar:
        _add_bytes(tar, CONFIG_NAME, (json.dumps(raw, indent=2) + "\n").encode())
        if config.requirements:
            _add_bytes(
                tar, REQUIREMENTS_NAME, "".join(f"{r}\n" for r in config.requirements).encode()
            )
            members.append(REQUIREMENTS_NAME)
        for path in _files_of(config, folder):
            name = path.relative_to(folder).as_posix()
            if name in members:
                continue
            tar.add(path, arcname=name, recursive=False, filter=_plain)
            members.append(name)
    return members


def _check_script(config: TurretConfig) -> None:
    """The script must at least compile (importing it may need the requirements)."""
    try:
        compile(config.script.read_bytes(), str(config.script), "exec")
    except SyntaxError as exc:
        raise ConfigError(f"{config.script}:{exc.lineno}: syntax error: {exc.msg}") from None


def _files_of(config: TurretConfig, folder: Path) -> Iterator[Path]:
    """The script, each feeder's file, then each declared file, and the files under
    each declared folder."""
    yield config.script
    for spec in config.feeders:
        yield spec.file
    for path in config.files:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and _inside(p, folder))
        else:
            yield path


def _inside(path: Path, folder: Path) -> bool:
    """False for what a link inside a declared folder points at outside the config's."""
    return path.resolve().is_relative_to(folder)


def _file_name(name: str) -> str:
    """A turret's name as a file name (what is not a letter, digit, ``.`` or ``-``: ``-``)."""
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "turret"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A member as any machine can unpack it: no owner, a regular file's mode."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="gturret pack",
        description="Build one archive (config, script, declared files, requirements) for"
        " `gturret --tar` on another machine.",
        epilog="exit status: 0 the archive written; 2 a bad config or script, or an archive"
        " that cannot be written.",
    )
    parser.add_argument("config", help="turret config file (JSON)")
    parser.add_argument(
        "-o", "--output", type=Path, help="the archive to write (default: NAME.tar.gz)"
    )
    parser.add_argument("--version", action="version", version=version_line("gturret pack"))
    args = parser.parse_args(argv)
    config_path = Path(args.config)
    output = args.output
    partial = None
    try:
        output = output or Path(_file_name(load_config(config_path).name) + ".tar.gz")
        # Built beside its place and renamed whole: an interrupted or failed pack
        # leaves the previous archive or none, never half of one.
        partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
        members = build_pack(config_path, partial)
        os.replace(partial, output)
    except (UsageError, OSError) as exc:
        print(f"gturret pack: error: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    print(f"wrote {output}: {len(members)} files ({', '.join(members[:6])}"
          f"{', …' if len(members) > 6 else ''})")  # fmt: skip
    return ExitStatus.OK
