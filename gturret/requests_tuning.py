"""Plain ``requests`` inside canons: safe with gevent, and as fast as it gets.

Why it exists: many OCT scripts use ``requests`` and will keep doing so. Two things
decide how well that goes in a turret.

1. **urllib3's pool queue under gevent.** urllib3 (1.26.16 and later) keeps idle
   connections in a ``queue.LifoQueue`` and drains it from a ``weakref.finalize``
   callback when a pool is garbage-collected. With the standard library's queue,
   whose lock monkey-patching turns into a gevent lock, that callback can run in
   any greenlet at any allocation and block on the lock forever: the deadlock of
   gevent issue 1957 and urllib3 issue 3289, which Locust works around by setting
   ``urllib3.connectionpool.ConnectionPool.QueueCls = gevent.queue.LifoQueue``
   (Locust issue 2812). gevent 25.4.1 and later patch ``queue.LifoQueue`` itself,
   and urllib3 2.x looks ``queue.LifoQueue`` up when it makes a pool, so with
   those versions the pools are already gevent queues and there is nothing to
   fix. ``patch_urllib3_pool_queue`` checks what urllib3 actually builds and
   applies Locust's fix only when the pools would still get the standard queue.

2. **One Session per canon, without environment look-ups.** ``requests.get()``
   builds a Session, a pool and a connection per call. A Session made once per
   Transaction keeps its connections alive; ``trust_env=False`` also skips the
   proxy and ``.netrc`` look-ups that requests makes on every request.
   ``new_session`` builds that Session.

What this module must never do: patch anything before gevent has monkey-patched
threading (the standard queue is the right one without gevent), or change
``requests`` behaviour beyond the two points above.
"""

from __future__ import annotations

import requests
import requests.adapters


def patch_urllib3_pool_queue() -> bool:
    """Give urllib3's connection pools gevent's LifoQueue if they would not get it.

    Call once at start-up, after ``gevent.monkey.patch_all()``. Returns True when
    the fix had to be applied, False when there was nothing to do (gevent did not
    patch threading, or urllib3 already builds pools on a gevent queue).
    """
    from gevent import monkey

    if not monkey.is_module_patched("threading"):
        return False
    import gevent.queue
    import urllib3.connectionpool

    probe = urllib3.connectionpool.HTTPConnectionPool("localhost", maxsize=1)
    try:
        already_green = type(probe.pool).__module__.startswith("gevent")
    finally:
        probe.close()
    if already_green:
        return False
    urllib3.connectionpool.ConnectionPool.QueueCls = gevent.queue.LifoQueue
    return True


def new_session(pool_maxsize: int = 10, *, trust_env: bool = False) -> requests.Session:
    """A ``requests.Session`` for one canon: keep-alive pools, no per-request env look-ups.

    Make it in the Transaction's ``__init__`` and reuse it in every run.
    ``pool_maxsize`` is the connections kept per host (more only matter if the
    script runs requests in greenlets of its own). ``trust_env=True`` restores
    requests' reading of ``HTTP(S)_PROXY``, ``NO_PROXY`` and ``~/.netrc``.
    """
    session = requests.Session()
    session.trust_env = trust_env
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
