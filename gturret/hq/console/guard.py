"""Who may change a test through the console: the token and the same-origin check.

Why it exists: the console starts, stops and steers a load test, so a request that
changes something must come from the person who ran ``gturret-hq --web``, never from
another web page their browser has open, nor from the network. Three checks, each a
pure function of the request's headers (tested on their own, and through a real
server):

- the ``Host`` a request names must be this console's (127.0.0.1, localhost or the
  bound address, with its port): a page of another site whose name was made to
  resolve to 127.0.0.1 (DNS rebinding) names its own host, and is refused;
- a browser's ``Origin`` (sent with every POST a page makes), when present, must be
  this console's own ``http://HOST``: another site's script is refused. A client
  that is not a browser sends none, and is judged by the token alone;
- the token, when the console has one (always for a ``--web-bind`` other than
  127.0.0.1): ``Authorization: Bearer TOKEN``, or ``?token=`` for the event stream,
  which a browser's EventSource cannot give headers. Compared in constant time.

The page gets the token from the address printed once (``#token=…``: a fragment,
never sent to the server nor kept in its logs) and keeps it for the tab only. This
module must never log a token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs

LOCAL_BINDS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Bytes of randomness in a generated token (printed as 43 URL-safe characters).
TOKEN_BYTES = 32


def new_token() -> str:
    """A token nobody can guess, for a console bound beyond this machine."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def needs_token(bind: str) -> bool:
    """True when a console on ``bind`` is reachable from other machines."""
    return bind not in LOCAL_BINDS


class Guard:
    """The checks of one console, bound to ``bind``:``port``, with ``token`` or none."""

    def __init__(self, bind: str, port: int, token: str | None) -> None:
        self.token = token
        host = f"[{bind}]" if ":" in bind else bind
        names = {"127.0.0.1", "localhost", "[::1]"} | ({host} if needs_token(bind) else set())
        self.hosts = frozenset(f"{name}:{port}" for name in names)

    def refusal(self, environ: Mapping[str, object], *, changes: bool) -> tuple[str, str] | None:
        """Why this request may not go on (an HTTP status and a one-line reason), or
        None if it may. ``changes``: it would change the test (a POST)."""
        host = str(environ.get("HTTP_HOST", ""))
        if self.token is None and host not in self.hosts:
            return "403 Forbidden", f"this console answers to {sorted(self.hosts)[0]} only"
        origin = environ.get("HTTP_ORIGIN")
        if changes and origin is not None and origin != f"http://{host}":
            return "403 Forbidden", "a request from another origin changes nothing"
        if self.token is not None and not self._has_token(environ, changes=changes):
            return "401 Unauthorized", "this console needs its token (Authorization: Bearer …)"
        return None

    def _has_token(self, environ: Mapping[str, object], *, changes: bool) -> bool:
        assert self.token is not None
        given = str(environ.get("HTTP_AUTHORIZATION", "")).removeprefix("Bearer ").strip()
        if not given and not changes:
            query = parse_qs(str(environ.get("QUERY_STRING", "")))
            given = (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())
