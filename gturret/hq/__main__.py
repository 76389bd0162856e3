"""``python -m gturret.hq``: the same as the ``gturret-hq`` console script."""

from gturret.hq.cli import main

raise SystemExit(main())
