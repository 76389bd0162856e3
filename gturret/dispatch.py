"""Reading the HQ's command frames: decode, keep ours, find the handler, count the rest.

Why its own module: the turret and the parent of a fleet (``--processes``) read the
same frames under the same rules of docs/protocol.md: a broadcast or a direct order to
our uuid runs its command's handler; any other channel is not for us; a frame that
does not decode or names no command we know is logged a few times, counted in the
status, and ignored. It must never act on a command itself, and never let a bad
frame raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gturret import wire
from gturret.errors import WireError

log = logging.getLogger(__name__)

#: Bad frames logged one by one before the rest are only counted.
BAD_FRAMES_LOGGED = 5


class CommandReader:
    """Mixin: ``handle_frame`` for a class with ``uuid``, ``_handlers`` and ``frames_ignored``."""

    uuid: str
    frames_ignored: int
    _handlers: dict[str, Callable[[Any], None]]

    def handle_frame(self, frame: bytes) -> None:
        """Decode one frame and run its command; bad frames are counted and ignored."""
        try:
            command = wire.decode_command(frame)
        except WireError as exc:
            self._ignore(f"malformed frame ignored: {exc}")
            return
        if command.channel and command.channel != self.uuid:
            return
        handler = self._handlers.get(command.name)
        if handler is None:
            self._ignore(f"unknown command {command.name[:80]!r} ignored")
            return
        handler(command.msg)

    def _ignore(self, why: str) -> None:
        self.frames_ignored += 1
        if self.frames_ignored <= BAD_FRAMES_LOGGED:
            log.warning(why)
            if self.frames_ignored == BAD_FRAMES_LOGGED:
                log.warning("further bad frames are counted in the status, not logged")
