"""Loading scripts: both spellings work; each broken script is one line and exit 2."""

from __future__ import annotations

import pytest

from gturret import CustomTimer, Transaction
from gturret.script import load_transaction_class, transaction_factory
from tests.support.turret_process import run_cli, write_turret

OCT_SCRIPT = """
    import time
    from oct_turrets.base import BaseTransaction
    from oct_turrets.tools import CustomTimer

    class Transaction(BaseTransaction):
        def __init__(self, config, context=None):
            super().__init__(config, context)

        def run(self):
            with CustomTimer(self, "oct"):
                time.sleep(0.005)
"""


def test_oct_spellings_resolve_to_gturret_classes(tmp_path):
    write_turret(tmp_path, OCT_SCRIPT)
    cls = load_transaction_class(tmp_path / "script.py")
    assert issubclass(cls, Transaction)
    import oct_turrets.tools

    assert oct_turrets.tools.CustomTimer is CustomTimer


def test_oct_script_runs_against_an_hq(hq, spawn_turret, tmp_path):
    spawn_turret(str(write_turret(tmp_path, OCT_SCRIPT, hq)))
    hq.open_fire()
    hq.collect_until(lambda hq: hq.results, "a result")
    assert all(set(r["custom_timers"]) == {"oct"} for r in hq.results)
    assert all(r["error"] == "" for r in hq.results)


EVERY_OCT_MODULE = """
    import oct_turrets
    from oct_turrets import base, tools, config, exceptions, utils
    from oct_turrets.exceptions import InvalidConfiguration, InvalidTarTurret
    from oct_turrets.config import REQUIRED_CONFIG_KEYS
    from oct_turrets.utils import validate_conf

    class Transaction(base.BaseTransaction):
        def run(self):
            with tools.CustomTimer(self, oct_turrets.__version__):
                if "cannons" not in REQUIRED_CONFIG_KEYS:
                    raise InvalidTarTurret("no cannons")
                try:
                    validate_conf("/no/such/config.json")
                except InvalidConfiguration as exc:
                    raise ValueError(str(exc))
"""


def test_every_script_facing_oct_module_resolves(hq, spawn_turret, tmp_path):
    spawn_turret(str(write_turret(tmp_path, EVERY_OCT_MODULE, hq)))
    hq.open_fire()
    hq.collect_until(lambda hq: hq.results, "a result")
    for result in hq.results:
        assert result["error"] == "The given configuration file does not exist"
        assert set(result["custom_timers"]) == {"0.2.8"}


@pytest.mark.parametrize(
    ("init", "expected"),
    [
        ("def __init__(self): self.got = ()", ()),
        ("def __init__(self, config): self.got = (config,)", ({"k": 1},)),
        (
            "def __init__(self, config, context=None): self.got = (config, context)",
            ({"k": 1}, {"c": 2}),
        ),
        ("def __init__(self, *args): self.got = args", ({"k": 1}, {"c": 2})),
    ],
)
def test_factory_adapts_to_old_and_new_constructors(tmp_path, init, expected):
    (tmp_path / "script.py").write_text(
        f"class Transaction:\n    {init}\n"
        "    def setup(self): pass\n"
        "    def run(self): pass\n"
        "    def tear_down(self): pass\n"
    )
    cls = load_transaction_class(tmp_path / "script.py")
    assert transaction_factory(cls)({"k": 1}, {"c": 2}).got == expected


BAD_SCRIPTS = [
    ("def broken(:\n", "script.py:1: syntax error"),
    ("import no_such_module_here\n", "import failed: No module named 'no_such_module_here'"),
    ("x = 1\n", "defines no 'Transaction' class"),
    ("Transaction = 42\n", "'Transaction' is a int, not a class"),
    ("class Transaction:\n    pass\n", "'Transaction' has no setup() method"),
    ("raise RuntimeError('boom')\n", "script.py:1: raised RuntimeError: boom on import"),
    (
        "from gturret import Transaction as B\n"
        "class Transaction(B):\n"
        "    def __init__(self, config, context=None):\n"
        "        raise ValueError('needs a token')\n",
        "script.py:4: Transaction() raised ValueError: needs a token",
    ),
]


@pytest.mark.parametrize(("source", "message"), BAD_SCRIPTS)
def test_bad_script_exits_2_with_one_line(tmp_path, source, message):
    config = write_turret(tmp_path, source)
    done = run_cli([str(config)], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr
