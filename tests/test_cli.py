"""The gturret command itself: entry points, usage errors, monkey-patching first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.turret_process import run_cli, write_turret


def test_console_script_and_module_both_show_help(tmp_path):
    gturret = Path(sys.executable).parent / "gturret"
    for command in ([str(gturret), "--help"], [sys.executable, "-m", "gturret", "--help"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0
        assert "--tar" in done.stdout and "exit status:" in done.stdout


def test_neither_or_both_inputs_is_a_usage_error(tmp_path):
    done = run_cli([], tmp_path)
    assert done.returncode == 2
    assert "give a config file (gturret config.json) or --tar" in done.stderr
    done = run_cli(["config.json", "--tar", "x.tar"], tmp_path)
    assert done.returncode == 2


def test_unknown_option_is_a_usage_error(tmp_path):
    assert run_cli(["--no-such-flag"], tmp_path).returncode == 2


def test_scripts_run_monkey_patched_and_requests_concurrently(hq, spawn_turret, tmp_path):
    """Plain time.sleep and plain requests, in 20 canons, overlap in time."""
    server = subprocess.Popen(
        [sys.executable, "-c", SLOW_SERVER], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline())
        script = f"""
            import socket, threading, time
            import requests
            from gevent import monkey
            from gturret import Transaction as Base

            MODULES = ("socket", "ssl", "threading", "time")
            PATCHED = all(monkey.is_module_patched(m) for m in MODULES)

            class Transaction(Base):
                def run(self):
                    began = time.time()
                    requests.get("http://127.0.0.1:{port}/", timeout=5).raise_for_status()
                    self.custom_timers["began"] = began
                    self.custom_timers["patched"] = float(PATCHED)
                    time.sleep(0.2)
        """
        spawn_turret(str(write_turret(tmp_path, script, hq, canons=20)))
        hq.register()
        hq.send("start", "open fire")
        hq.collect_until(lambda hq: len(hq.results) >= 20, "20 results", timeout=60)
        for result in hq.results:
            assert result["error"] == ""
            assert result["custom_timers"]["patched"] == 1.0
        # Each request takes 0.5 s on the server: run one after another, no two
        # transactions would overlap in time. Overlapping, most of the first 20 are
        # under way at one same instant, however slow the machine.
        spans = [(r["custom_timers"]["began"], r["epoch"]) for r in hq.results[:20]]
        most = max(sum(began <= end <= ended for began, ended in spans) for _, end in spans)
        assert most >= 15, f"at most {most} of 20 transactions overlapped"
    finally:
        server.kill()
        server.wait()


SLOW_SERVER = """
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Slow(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.5)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    request_queue_size = 128

server = Server(("127.0.0.1", 0), Slow)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
