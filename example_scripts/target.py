"""A small HTTP target for the demo load test (``make run``) and the standalone tests.

Serves on 127.0.0.1 only, with gevent's WSGI server so hundreds of canons can keep
connections open at once. ``GET /`` answers a little JSON after a short think time
(2-8 ms), ``POST /`` answers 201. Prints the port it listens on, then serves until
killed. ``--stall-for S --stall-every P`` makes it stall: every P seconds, for S
seconds, it answers nothing (requests wait for the stall to end), as a server does
in a garbage-collection pause; the open model's tests and examples need one.

A port already taken is refused in one line (exit status 2) before anything serves,
never a traceback: with ``make run`` a connection to the port would otherwise reach
whatever holds it, and the demo would load the wrong server. ``--check-free PORT``
refuses the same way when another port the demo needs (its metrics port) is taken.

    python example_scripts/target.py --port 8089
    python example_scripts/target.py --port 8089 --stall-for 0.5 --stall-every 2
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402

Start = Callable[[str, list[tuple[str, str]]], Any]


STALL = {"for": 0.0, "every": 0.0}


def application(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
    if STALL["for"]:
        into = time.monotonic() % STALL["every"]
        if into < STALL["for"]:
            gevent.sleep(STALL["for"] - into)
    gevent.sleep(random.uniform(0.002, 0.008))
    if environ["REQUEST_METHOD"] == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(size)
        status, body = "201 Created", {"ordered": True}
    else:
        status, body = "200 OK", {"hello": "turret", "query": environ.get("QUERY_STRING", "")}
    payload = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]


class NoDelayHandler(WSGIHandler):
    """Sends each response at once: without TCP_NODELAY, a response written in two
    pieces waits for the client's delayed ACK (about 40 ms on Linux)."""

    def handle(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()


def taken(port: int) -> bool:
    """Whether another program listens on 127.0.0.1:``port`` (bound as a server binds it)."""
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", port))
    except OSError:
        return True
    finally:
        probe.close()
    return False


def refuse(port: int, what: str) -> None:
    print(
        f"target.py: 127.0.0.1:{port} ({what}) is already in use by another program;"
        " stop it and run again",
        file=sys.stderr,
    )
    raise SystemExit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description="demo HTTP target on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="port (0: any free one)")
    parser.add_argument("--stall-for", type=float, default=0.0, metavar="S", help="stall S s")
    parser.add_argument("--stall-every", type=float, default=2.0, metavar="P", help="every P s")
    parser.add_argument(
        "--check-free",
        type=int,
        action="append",
        default=[],
        metavar="PORT",
        help="refuse to start when this port is taken too (make run: the metrics port)",
    )
    args = parser.parse_args()
    STALL.update({"for": args.stall_for, "every": args.stall_every})
    for port in args.check_free:
        if taken(port):
            refuse(port, "the metrics port")
    server = WSGIServer(
        ("127.0.0.1", args.port), application, log=None, backlog=1024, handler_class=NoDelayHandler
    )
    try:
        server.init_socket()
    except OSError:
        refuse(args.port, "the demo target's port")
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
