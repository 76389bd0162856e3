"""The package's public surface is exactly what ``__all__`` says."""

from __future__ import annotations

import subprocess
import sys

import gturret


def test_every_name_in_all_resolves():
    for name in gturret.__all__:
        assert getattr(gturret, name) is not None


def test_dir_is_all():
    assert sorted(dir(gturret)) == sorted(gturret.__all__)


def test_unknown_names_raise_attribute_error():
    try:
        gturret.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("gturret.NoSuchThing resolved")


def test_importing_gturret_touches_no_socket_or_threading():
    code = "import sys, gturret; print(sorted({'socket','ssl','threading'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
