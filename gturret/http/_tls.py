"""The TLS contexts of every ``gturret.http`` client in the process, one per ``verify``.

Why its own module: a context holds the parsed CA bundle (hundreds of KiB), so one
per client would cost that much per canon; and it is the one place that says what
``verify`` means. The contexts are gevent's, so handshakes and TLS reads yield to
the loop like any socket. This module must never open a connection.
"""

from __future__ import annotations

import gevent.ssl

_CONTEXTS: dict[tuple[bool | str, tuple[str, ...]], gevent.ssl.SSLContext] = {}


def shared_context(verify: bool | str, alpn: tuple[str, ...] = ()) -> gevent.ssl.SSLContext:
    """The context for ``verify``: True checks certificates against the system's CAs,
    False checks nothing, a path checks them against that CA bundle. ``alpn`` are the
    protocols it offers in the handshake (HTTP/2 clients offer ``h2``), none by default:
    a client that speaks only HTTP/1.1 must not be answered in h2."""
    context = _CONTEXTS.get((verify, alpn))
    if context is None:
        # gevent.ssl.create_default_context is the standard library's, and so are the
        # contexts it makes: their sockets would block the whole turret in every read.
        made = gevent.ssl.SSLContext(gevent.ssl.PROTOCOL_TLS_CLIENT)
        if verify is False:
            made.check_hostname = False
            made.verify_mode = gevent.ssl.CERT_NONE
        elif isinstance(verify, str):
            made.load_verify_locations(cafile=verify)
        else:
            made.load_default_certs()
        if alpn:
            made.set_alpn_protocols(list(alpn))
        context = _CONTEXTS[verify, alpn] = made
    return context
