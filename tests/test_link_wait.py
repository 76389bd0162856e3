"""The turret's wait for a command: cooperative, and ended by the command itself.

An idle turret used to look at its command socket every 5 ms (200 wake-ups a
second, about 2 % of a core per idle turret here, which starved a hundred turrets
on one machine); it now waits on the socket's FD. These tests hold the two
properties that wait must keep, on real ZeroMQ sockets on 127.0.0.1: the gevent
loop goes on serving other greenlets while it waits (a plain ``zmq.poll`` would
hold it), and a frame that arrives ends the wait without its timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from time import monotonic

import gevent
import pytest
import zmq

from gturret.link import command_socket, receive_within


@pytest.fixture
def pub_sub() -> Iterator[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]]:
    context: zmq.Context[bytes] = zmq.Context()
    pub = context.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = command_socket(context, f"tcp://127.0.0.1:{port}", None)
    try:
        yield pub, sub
    finally:
        pub.close(linger=0)
        sub.close()
        context.term()


def test_other_greenlets_run_while_a_command_is_awaited(
    pub_sub: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    _, sub = pub_sub
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        while True:
            gevent.sleep(0.01)
            ticks += 1

    ticker = gevent.spawn(tick)
    try:
        assert receive_within(sub, 0.5) is None
    finally:
        ticker.kill()
    assert ticks >= 5, f"the loop ran {ticks} other turns during a 0.5 s wait: the wait held it"


def test_a_frame_ends_the_wait_before_its_timeout(
    pub_sub: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    pub, sub = pub_sub

    def publish_until_stopped() -> None:
        """PUB drops frames until the subscription has arrived: send until read."""
        while True:
            gevent.sleep(0.05)
            pub.send(b"frame")

    publisher = gevent.spawn(publish_until_stopped)
    began = monotonic()
    try:
        frame = receive_within(sub, 60.0)
    finally:
        publisher.kill()
    assert frame == b"frame"
    assert monotonic() - began < 30.0, "the wait ran to its timeout though frames came"


def test_frames_already_queued_are_read_one_a_call_in_order(
    pub_sub: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    pub, sub = pub_sub
    deadline = monotonic() + 30.0
    while receive_within(sub, 0.05) is None:
        assert monotonic() < deadline, "the subscription never arrived"
        pub.send(b"joining")
    while receive_within(sub, 0.2) is not None:
        pass
    for frame in (b"second", b"third"):
        pub.send(frame)
    assert [receive_within(sub, 5.0), receive_within(sub, 5.0)] == [b"second", b"third"]
    assert receive_within(sub, 0.1) is None
