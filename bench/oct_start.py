"""Start an oct-turrets 0.2.8 turret from a config file, as its CLI should have.

``oct-turrets-start --config-file c.json`` is broken in 0.2.8: ``start()`` reads
``args.config`` (argparse stores ``config_file``), and without ``--tar`` it would then
hit an unbound ``dir_name``. Its Python API works on Python 3.11 as it is (``imp`` is
deprecated there, removed only in 3.12), so this calls ``from_config`` and ``Turret``
directly and patches nothing in oct-turrets itself.
"""

from __future__ import annotations

import sys

from oct_turrets.start_turret import from_config
from oct_turrets.turret import Turret


def main() -> None:
    module, config = from_config(sys.argv[1])
    Turret(config, module).start()


if __name__ == "__main__":
    main()
