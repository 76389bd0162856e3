"""The bench's counting HQ: which results count for the measured window.

It binds real ZeroMQ sockets on 127.0.0.1 and is fed the result messages a turret
sends, as decoded, so its counting is tested without a turret.
"""

from __future__ import annotations

from bench.sink import _Sink


def test_the_sink_counts_results_by_when_they_ended_not_when_they_came():
    """A sink behind on a loaded machine receives the warm-up's results in the window:
    those must not count, nor those that ended after it, and one from after the window
    tells it the window's results are all in."""
    sink = _Sink()
    try:
        sink.window = (100.0, 102.0)
        result = {"turret_name": "t", "elapsed": 1.0, "scriptrun_time": 0.001, "error": ""}
        sink.latencies = []
        for epoch in (99.9, 100.0, 101.5, 101.999):
            sink._handle({**result, "epoch": epoch})
        assert (sink.in_window, sink.past_window, len(sink.latencies)) == (3, False, 3)
        sink._handle({**result, "epoch": 102.0})
        assert (sink.in_window, sink.past_window, sink.results) == (3, True, 5)
    finally:
        sink.close()
