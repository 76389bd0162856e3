"""The fake turret of tests/support/fake_turret.py, checked against raw sockets."""

from __future__ import annotations

import time

import ujson
import zmq

from tests.support.fake_turret import FakeTurret
from tests.support.waiting import wait_until


def test_fake_turret_answers_a_status_request_and_runs_until_stop() -> None:
    context = zmq.Context()
    pub, pull = context.socket(zmq.PUB), context.socket(zmq.PULL)
    pub_port = pub.bind_to_random_port("tcp://127.0.0.1")
    rc_port = pull.bind_to_random_port("tcp://127.0.0.1")
    turret = FakeTurret(pub_port, rc_port, max_results=7).start()
    try:
        deadline = time.monotonic() + 10
        while not pull.poll(100) and time.monotonic() < deadline:
            pub.send(b' {"command": "status_request", "msg": null}')
        status = ujson.loads(pull.recv())
        assert status["uuid"] == turret.uuid and status["status"] == "ready"
        pub.send(b' {"command": "start", "msg": "open fire"}')
        results = []
        while len(results) < 7 and time.monotonic() < deadline:
            if pull.poll(100):
                message = ujson.loads(pull.recv())
                if "scriptrun_time" in message:
                    results.append(message)
        # The fake counts a result after its send returns: the HQ side may read it first.
        wait_until(lambda: turret.sent >= 7, "the fake to count 7 results sent")
        assert len(results) == 7 == turret.sent
    finally:
        turret.close()
        pub.close(linger=0)
        pull.close(linger=0)
        context.term()
