"""CurveZMQ keys: create, load and check them, and put them on a socket.

Why it exists: with keys, a turret and our HQ encrypt their links and the HQ takes
commands' readers and results' senders only from turret keys it was given (see the
docs/security.md, "Keys"). Keys are ZeroMQ certificate files, as
``zmq.auth.create_certificates`` writes them: ``NAME.key`` holds the public key,
``NAME.key_secret`` both keys and must be readable by its owner only. Every check of
a key file lives here, once, and each failure is one KeyFileError line naming the
file; the only places where CURVE options are put on a socket are
:func:`curve_client` (turrets, fleets, watchdogs) and :func:`curve_server` (our HQ).

:class:`HandshakeWatch` reads socket monitor events: ZeroMQ retries a refused
handshake silently, so each side learns of a mismatch (one side keyed, the other
not; a key the HQ does not accept) from these events and says so in one line.

It must never import the HQ (a worker loads it) and never log a secret key.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from typing import Any

import zmq
import zmq.auth
from zmq.utils import z85
from zmq.utils.monitor import parse_monitor_message

from gturret.errors import KeyFileError

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
#: The ZAP domain our HQ's sockets name; its handler answers for this one.
ZAP_DOMAIN = b"gturret"
KEY_LENGTH = 40
#: Seconds a handshake failure without detail waits for a detailed one to explain it.
VAGUE_FAILURE_WAIT = 0.5
#: Failures without detail in a row on one endpoint (no handshake succeeding between)
#: that make one to report: a peer that refuses us does so at each retry, while an HQ
#: killed during a handshake (its run then resumed: docs/journal.md) closes it once.
VAGUE_FAILURES = 2


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A public key and its secret key (both Z85 text), and the file they came from."""

    public: bytes
    secret: bytes
    path: Path

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public.decode()!r}, path={str(self.path)!r})"


@dataclass(frozen=True, slots=True)
class TurretKeys:
    """What a turret (or fleet) needs to reach a keyed HQ: its key pair, the HQ's public key."""

    own: KeyPair
    hq_public: bytes
    hq_public_path: Path


@dataclass(frozen=True, slots=True)
class TurretKeyFolder:
    """The turret public keys an HQ accepts: each key and the file it came from."""

    folder: Path
    keys: dict[bytes, Path]


@dataclass(frozen=True, slots=True)
class HQKeys:
    """Our HQ's key pair and the turret public keys it accepts."""

    own: KeyPair
    turrets: TurretKeyFolder


def create_key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """Write ``folder/NAME.key`` and ``folder/NAME.key_secret`` (mode 0600); never overwrite.

    The secret file is created with mode 0600 before a byte is written into it, so
    it is never readable by others, even for an instant.
    """
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"{name!r} is not a key name: use letters, digits, '-' or '_'")
    if not folder.is_dir():
        raise KeyFileError(f"{folder}: no such folder for the keys")
    public, secret = folder / f"{name}{PUBLIC_SUFFIX}", folder / f"{name}{SECRET_SUFFIX}"
    for path in (public, secret):
        if path.exists():
            raise KeyFileError(f"{path}: already exists; not overwriting a key")
    os.close(os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    written = zmq.auth.create_certificates(folder, name)
    return Path(written[0]), Path(written[1])


def read_public_key(path: Path) -> bytes:
    """The public key in a certificate file (``.key`` or ``.key_secret``)."""
    public, _ = _read_certificate(path)
    return public


def read_key_pair(path: Path) -> KeyPair:
    """The key pair in a ``.key_secret`` file that only its owner may read or write."""
    _check_private(path)
    public, secret = _read_certificate(path)
    if secret is None:
        raise KeyFileError(
            f"{path}: holds no secret key; give the {SECRET_SUFFIX} file, not the"
            f" {PUBLIC_SUFFIX} one"
        )
    if zmq.curve_public(secret) != public:
        raise KeyFileError(f"{path}: its public and secret keys do not belong together")
    return KeyPair(public, secret, path)


def read_turret_keys(folder: Path) -> TurretKeyFolder:
    """Every public key in ``folder``'s ``*.key`` files; at least one."""
    if not folder.is_dir():
        raise KeyFileError(f"{folder}: no such folder of turret public keys")
    keys = {read_public_key(path): path for path in sorted(folder.glob(f"*{PUBLIC_SUFFIX}"))}
    if not keys:
        raise KeyFileError(f"{folder}: holds no turret public key (*{PUBLIC_SUFFIX} file)")
    return TurretKeyFolder(folder, keys)


def _check_private(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: a secret key readable or writable by others"
            f" (mode {stat.S_IMODE(mode):04o}); run chmod 600 {path}"
        )


def _read_certificate(path: Path) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise KeyFileError(f"{path}: no such key file")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc})") from None
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{path}: not a ZeroMQ certificate (no public-key line)") from None
    for kind, key in (("public", public), ("secret", secret)):
        if key is not None and not _is_key(key):
            raise KeyFileError(f"{path}: its {kind} key is not a 40-character Z85 CURVE key")
    return public, secret


def _is_key(key: bytes) -> bool:
    if len(key) != KEY_LENGTH:
        return False
    try:
        z85.decode(key)
    except (ValueError, KeyError):
        return False
    return True


def curve_client(socket: zmq.Socket[Any], keys: TurretKeys) -> None:
    """Make ``socket`` (not yet connected) a CURVE client of the HQ: the turret side."""
    socket.setsockopt(zmq.CURVE_SERVERKEY, keys.hq_public)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, keys.own.public)
    socket.setsockopt(zmq.CURVE_SECRETKEY, keys.own.secret)


def curve_server(socket: zmq.Socket[Any], keys: HQKeys) -> None:
    """Make ``socket`` (not yet bound) a CURVE server whose peers our ZAP handler vets."""
    socket.setsockopt(zmq.CURVE_SERVER, 1)
    socket.setsockopt(zmq.CURVE_SECRETKEY, keys.own.secret)
    socket.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)


@dataclass(frozen=True, slots=True)
class HandshakeFailure:
    """A failed handshake on one of our sockets: the event, its detail, our endpoint."""

    event: int
    value: int
    endpoint: str

    @property
    def detailed(self) -> bool:
        """False for a connection closed mid-handshake: the peer's side knows why."""
        return self.event != zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL

    @property
    def mechanism_mismatch(self) -> bool:
        """One side uses CURVE and the other does not."""
        return (
            self.event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            and self.value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
        )

    @property
    def refused_key(self) -> bool:
        """The server's ZAP handler refused the client's key."""
        return self.event == zmq.EVENT_HANDSHAKE_FAILED_AUTH

    @property
    def cryptographic(self) -> bool:
        """The server could not open the client's hello: not sealed for its key."""
        return (
            self.event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            and self.value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
        )


_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


class HandshakeWatch:
    """The failed handshakes of some sockets, read without ever waiting.

    Works with plain and ``zmq.green`` sockets: each gets a monitor (an inproc PAIR)
    for the handshake failure events only, read with ``NOBLOCK``.
    """

    def __init__(self, sockets: list[zmq.Socket[Any]]) -> None:
        self._sockets = sockets
        watched = _FAILED | zmq.EVENT_HANDSHAKE_SUCCEEDED
        self._monitors = [socket.get_monitor_socket(watched) for socket in sockets]
        self._vague: tuple[float, HandshakeFailure] | None = None
        self._vague_counts: dict[str, int] = {}

    def settled(self) -> HandshakeFailure | None:
        """The failure to report, if any: a detailed one at once; one without detail
        (a peer that closed mid-handshake, as when a turret's key is not the one the
        HQ expects) once it happened ``VAGUE_FAILURES`` times in a row and
        ``VAGUE_FAILURE_WAIT`` passed with nothing better."""
        failures = self.failures()
        detailed = [failure for failure in failures if failure.detailed]
        if detailed:
            return detailed[0]
        now = monotonic()
        if failures and self._vague is None:
            self._vague = (now, failures[0])
        for failure in failures:
            self._vague_counts[failure.endpoint] = self._vague_counts.get(failure.endpoint, 0) + 1
        if (
            self._vague is not None
            and max(self._vague_counts.values(), default=0) >= VAGUE_FAILURES
            and now - self._vague[0] >= VAGUE_FAILURE_WAIT
        ):
            return self._vague[1]
        return None

    def failures(self) -> list[HandshakeFailure]:
        """The failures since the last call; a handshake that succeeds (on any of the
        sockets) forgets the failures without detail before it."""
        found: list[HandshakeFailure] = []
        for monitor in self._monitors:
            while True:
                try:
                    frames = monitor.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                event = parse_monitor_message(frames)
                if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    found = [failure for failure in found if failure.detailed]
                    self._vague, self._vague_counts = None, {}
                    continue
                endpoint = event["endpoint"]
                found.append(
                    HandshakeFailure(
                        int(event["event"]),
                        int(event["value"]),
                        endpoint.decode() if isinstance(endpoint, bytes) else str(endpoint),
                    )
                )
        return found

    def close(self) -> None:
        """Stop monitoring; call it before the sockets are closed."""
        for socket, monitor in zip(self._sockets, self._monitors, strict=True):
            socket.disable_monitor()
            monitor.close(linger=0)
