"""``python -m gturret``: the same entry point as the ``gturret`` command."""

from gturret.cli import main

raise SystemExit(main())
