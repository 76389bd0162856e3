"""The process limit on open files, raised to what thousands of canons need.

Why it exists: every canon with an HTTP connection holds a socket, and the common
soft limit of 1,024 open files is far below what 3,000 canons need: past it, each
new connection fails with ``[Errno 24] Too many open files``. A process may raise its
soft limit up to its hard limit without privileges, so the turret does so at
start-up (Locust does the same) and says so; when even the hard limit is below what
the canons may need, it warns with the command that raises it. It must never lower
a limit, nor fail the start-up if the limit cannot be changed.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

#: Open files a process needs before its canons open any: ZeroMQ, logs, the script.
BASE_FILES = 64
#: Sockets one canon may hold (a connection or two of its own, one being replaced).
FILES_PER_CANON = 2


def files_needed(canons: int) -> int:
    """Open files ``canons`` canons may need at once, with a connection or two each."""
    return BASE_FILES + FILES_PER_CANON * canons


def raise_open_files_limit(canons: int) -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; log it; the (soft, hard) now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, files_needed(canons))
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d to %d: %s", soft, target, exc)
        else:
            log.info("open-files limit raised from %d to %d (the hard limit)", soft, target)
            soft = target
    needed = files_needed(canons)
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "%d canons may need %d open files but this process may open %d: connections"
            " past that fail with 'Too many open files'; raise the hard limit (ulimit -Hn,"
            " or LimitNOFILE= in a systemd unit) or use fewer canons per process",
            canons,
            needed,
            soft,
        )
    return soft, hard
