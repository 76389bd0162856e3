"""The shared resolver, in a monkey-patched process, behind gevent's real thread resolver.

Each check runs a small program under ``gevent.monkey.patch_all()`` (the test process
itself is never patched) that installs :func:`gturret.resolver.install_shared_resolver`
in front of gevent's thread resolver, counts the lookups that reach the thread pool,
and prints what it saw as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PROGRAM = """
    from gevent import monkey
    monkey.patch_all()

    import json, socket, time
    import gevent
    from gevent import get_hub
    from gturret import resolver

    asked = []

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def getaddrinfo(self, *args):
            asked.append(args[0])
            gevent.sleep(0.05)
            return self.inner.getaddrinfo(*args)

        def gethostbyname(self, name):
            asked.append(name)
            return self.inner.gethostbyname(name)

    get_hub().resolver = Counting(get_hub().resolver)
    shared = resolver.install_shared_resolver({{"GTURRET_DNS_TTL": "{ttl}"}})
    out = {{}}

    def ask(host):
        try:
            return socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            return "error: " + type(exc).__name__

    {body}
    print(json.dumps(out))
"""


def run(body: str, ttl: float = 10) -> dict:
    source = textwrap.dedent(PROGRAM).format(body="{body}", ttl=ttl)
    source = source.replace("{body}", textwrap.dedent(body).strip())
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_ip_literals_are_answered_without_a_lookup():
    out = run(
        """
        answers = [ask("127.0.0.1") for _ in range(100)]
        out["answers"] = [answers[0][0][4], answers[-1][0][4]]
        out["v6"] = socket.getaddrinfo("::1", 80)[0][4][:2]
        out["byname"] = socket.gethostbyname("127.0.0.1")
        out["asked"] = asked
        """
    )
    assert out["answers"] == [["127.0.0.1", 80], ["127.0.0.1", 80]]
    assert out["v6"] == ["::1", 80]
    assert out["byname"] == "127.0.0.1"
    assert out["asked"] == []


def test_concurrent_askers_share_one_lookup_and_its_answer():
    out = run(
        """
        greenlets = [gevent.spawn(ask, "localhost") for _ in range(2000)]
        gevent.joinall(greenlets)
        plain = shared.inner.inner.getaddrinfo(
            "localhost", 80, socket.AF_INET, socket.SOCK_STREAM, 0, 0
        )
        out["same"] = all(g.value == plain for g in greenlets)
        out["asked"] = asked
        out["lookups"] = shared.lookups
        """
    )
    assert out == {"same": True, "asked": ["localhost"], "lookups": 1}


def test_answers_expire_and_errors_are_never_kept():
    out = run(
        """
        greenlets = [gevent.spawn(ask, "no-such-host.invalid") for _ in range(50)]
        gevent.joinall(greenlets)
        out["errors"] = sorted({g.value for g in greenlets})
        ask("no-such-host.invalid")
        ask("localhost")
        time.sleep(0.3)
        ask("localhost")
        out["asked"] = asked
        """,
        ttl=0.2,
    )
    assert out["errors"] == ["error: gaierror"]
    assert out["asked"] == ["no-such-host.invalid"] * 2 + ["localhost"] * 2


def test_it_can_be_turned_off():
    program = (
        "from gevent import monkey; monkey.patch_all()\n"
        "from gevent import get_hub\n"
        "from gturret import resolver\n"
        "inner = get_hub().resolver\n"
        "print(resolver.install_shared_resolver({'GTURRET_RESOLVER': 'off'}) is None,"
        " get_hub().resolver is inner)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.stdout.split() == ["True", "True"], done.stderr
