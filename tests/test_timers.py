"""Custom timer values from scripts: converted, or named in the error, never fatal."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from gturret import wire
from gturret.timers import clean_timers
from tests.support.turret_process import write_turret


def test_plain_float_timers_pass_through_untouched():
    timers = {"login": 0.25, "zero": 0.0}
    clean, error = clean_timers(timers)
    assert clean is timers and error == ""


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (timedelta(milliseconds=250), 0.25),
        (2, 2.0),
        (Decimal("0.5"), 0.5),
        (Fraction(1, 4), 0.25),
    ],
)
def test_values_with_one_plain_meaning_are_converted(value, seconds):
    assert clean_timers({"t": value}) == ({"t": seconds}, "")


@pytest.mark.parametrize(
    "value", ["0.5", None, True, math.nan, math.inf, -1.0, timedelta(seconds=-1), [1], 10**400]
)
def test_other_values_are_left_out_and_named_in_the_error(value):
    clean, error = clean_timers({"good": 0.1, "bad": value})
    assert clean == {"good": 0.1}
    assert error.startswith("custom timer 'bad' is ") and error.endswith("not seconds >= 0")


def test_names_become_text_and_a_timers_object_that_is_no_dict_is_an_error():
    assert clean_timers({7: 0.5}) == ({"7": 0.5}, "")
    assert clean_timers(None) == ({}, "")
    clean, error = clean_timers([("a", 1.0)])
    assert (
        clean == {}
        and error == "custom_timers is [('a', 1.0)] (list), not a dict of name to seconds"
    )


EDGY = """
    import time
    from datetime import timedelta
    from gturret import Transaction as Base

    class Transaction(Base):
        def __init__(self, config, context=None):
            super().__init__(config, context)
            self.runs = 0

        def run(self):
            self.runs += 1
            time.sleep(0.005)
            kind = self.runs % 4
            if kind == 0:
                self.custom_timers["elapsed"] = timedelta(milliseconds=20)
            elif kind == 1:
                self.custom_timers["weird"] = float("nan")
                self.custom_timers["fine"] = 0.01
            elif kind == 2:
                self.custom_timers = {"assigned": 0.03, "st" + "atus check": 0.02}
            else:
                self.custom_timers["text"] = "fast"
                raise ValueError("HTTP st" + "atus 503")
"""


def test_a_real_turret_survives_every_kind_of_timer_value(hq, spawn_turret, tmp_path):
    turret = spawn_turret(str(write_turret(tmp_path, EDGY, hq, canons=4)))
    hq.register()
    ready = hq.fire_for(0.5)
    assert turret.proc.poll() is None, turret.log
    assert ready["results_produced"] == ready["results_sent"] == len(hq.results) > 40
    seen = {tuple(sorted(r["custom_timers"])): r for r in hq.results}
    assert seen[("elapsed",)]["custom_timers"] == {"elapsed": 0.02}
    assert seen[("elapsed",)]["error"] == ""
    assert seen[("fine",)]["error"] == "custom timer 'weird' is nan (float), not seconds >= 0"
    assert seen[("assigned", "status check")]["custom_timers"]["assigned"] == 0.03
    assert seen[()]["error"] == (
        "HTTP status 503; custom timer 'text' is 'fast' (str), not seconds >= 0"
    )
    for raw in hq.raw:
        if b'"turret_name"' in raw:
            assert b"status" not in raw
    assert all(set(r) == set(wire.RESULT_KEYS) for r in hq.results)
