"""A pure-Python wheel written by hand, for the tests that install requirements offline."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def probe_wheel(folder: Path) -> Path:
    """A wheel of ``gturret-probe-dep`` 1.0 (its module's ``WORD`` is "kumquat")."""
    files = {
        "gturret_probe_dep/__init__.py": b'WORD = "kumquat"\n',
        "gturret_probe_dep-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: gturret-probe-dep\nVersion: 1.0\n"
        ),
        "gturret_probe_dep-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: gturret-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("gturret_probe_dep-1.0.dist-info/RECORD,,")
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "gturret_probe_dep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("gturret_probe_dep-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel
