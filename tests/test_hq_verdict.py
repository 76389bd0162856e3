"""The verdict rules of gturret/hq/verdict.py, each alone and together."""

from __future__ import annotations

from gturret.hq.fleet import DeliveryRow, TurretRecord
from gturret.hq.messages import Delivery
from gturret.hq.thresholds import evaluate, evaluate_all, parse_threshold, parse_thresholds
from gturret.hq.verdict import judge
from tests.support.summaries import summary_of

UUID = "d7b8a1cc-639a-405c-9b16-62ce5cd66f36"


def record(
    state: str, *, name: str = "nav", uuid: str = UUID, last_seen: float = 9.0
) -> TurretRecord:
    return TurretRecord(
        uuid=uuid,
        name=name,
        state=state,
        canons=10,
        canons_active=0,
        script="s.py",
        rampup=0,
        first_seen=0.0,
        last_seen=last_seen,
        delivery=Delivery(100, 100, 0, 0),
    )


def test_thresholds_alone_decide_a_clean_run() -> None:
    summary = summary_of([5.0, 6.0])
    assert judge(summary, ()).exit_status == 0
    assert judge(summary, ()).reason == "transactions recorded, none failed; no thresholds were set"
    passed = evaluate_all(parse_thresholds(["p95<1s", "max<1s"]), summary)
    assert judge(summary, passed).reason == "all 2 thresholds passed"
    failed = (*passed, evaluate(parse_threshold("p50<1ms"), summary))
    verdict = judge(summary, failed)
    assert verdict.exit_status == 1
    assert verdict.reason == "1 of 3 thresholds failed: p50<1ms"
    assert verdict.problems == ("1 of 3 thresholds failed: p50<1ms",)


def test_no_transactions_fail_even_without_thresholds() -> None:
    verdict = judge(summary_of([]), ())
    assert verdict.exit_status == 1
    assert "no transactions" in verdict.reason


def test_a_failed_transaction_fails_the_run_unless_an_error_rate_threshold_allows_it() -> None:
    summary = summary_of([5.0] * 10, errors=10)
    verdict = judge(summary, ())
    assert verdict.exit_status == 1
    assert verdict.reason.startswith("10 of 10 transactions failed (100.00 %)")
    assert "no error_rate threshold" in verdict.reason
    allowed = evaluate_all(parse_thresholds(["error_rate<=100%"]), summary)
    assert judge(summary, allowed).passed
    timer_rule = evaluate_all(parse_thresholds(["timer:login:error_rate<=100%"]), summary)
    assert not judge(summary, timer_rule).passed, "a timer's error rate does not replace the rule"


def test_killed_aborted_and_silent_turrets_fail_the_run_by_name() -> None:
    summary = summary_of([5.0])
    killed = record("killed", name="alpha", uuid="aaaaaaaa-1")
    aborted = record("aborted", name="beta", uuid="bbbbbbbb-2")
    gone = record("running", name="gamma", uuid="cccccccc-3", last_seen=2.0)
    fine = record("ready", name="delta", uuid="dddddddd-4")
    verdict = judge(
        summary, (), turrets=[killed, aborted, gone, fine], unsettled=[gone], ended_at=12.0
    )
    assert verdict.exit_status == 1
    assert verdict.problems == (
        "turret alpha (aaaaaaaa) was killed during the test",
        "turret beta (bbbbbbbb) aborted during the test (see the turret's log)",
        "turret gamma (cccccccc) did not come back to ready after the stop (last status "
        "'running', 10.0s before the end): it died, hung or lost its link",
    )
    assert verdict.reason == "turret alpha (aaaaaaaa) was killed during the test (and 2 more)"


def test_lost_results_fail_the_run_and_say_where_they_went() -> None:
    summary = summary_of([5.0])
    dropped = DeliveryRow("nav", 1, produced=1000, received=100, dropped=850, lost=900)
    verdict = judge(summary, (), delivery=[dropped])
    assert verdict.problems == (
        "turret nav: 900 of 1000 results lost (850 dropped by the turret: its outbox was full;"
        " 50 sent but never received)",
    )
    unknown = DeliveryRow("ref", 2, produced=None, received=7, dropped=None, lost=None)
    whole = DeliveryRow("nav", 1, produced=1, received=1, dropped=0, lost=0)
    assert judge(summary, (), delivery=[unknown, whole]).passed
