"""The TLS contexts of every ``gturret.http`` client in the process, one per ``verify``.

Why its own module: a context holds the parsed CA bundle (hundreds of KiB), so one
per client would cost that much per canon; and it is the one place that says what
``verify`` means. The contexts are gevent's, so handshakes and TLS reads yield to
the loop like any socket. This module must never open a connection.
"""

from __future__ import annotations

from typing import cast

import gevent.ssl

_CONTEXTS: dict[bool | str, gevent.ssl.SSLContext] = {}


def shared_context(verify: bool | str) -> gevent.ssl.SSLContext:
    """The context for ``verify``: True checks certificates against the system's CAs,
    False checks nothing, a path checks them against that CA bundle."""
    context = _CONTEXTS.get(verify)
    if context is None:
        made = gevent.ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        if verify is False:
            made.check_hostname = False
            made.verify_mode = gevent.ssl.CERT_NONE
        context = _CONTEXTS[verify] = cast(gevent.ssl.SSLContext, made)
    return context
