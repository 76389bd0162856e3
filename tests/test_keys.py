"""Key files: ``gturret-keys`` makes them, and every bad one is refused in one line.

Real processes for the commands (``gturret-keys``, ``gturret``, ``gturret-hq``);
``load_config`` directly for the config's checks.
"""

from __future__ import annotations

import argparse
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq
import zmq.auth

from gturret.config import load_config
from gturret.errors import ConfigError, UsageError
from gturret.hq.options import OPTIONS, add_arguments, options_from_args
from gturret.keys import VAGUE_FAILURE_WAIT
from tests.support.curve import Keys
from tests.support.fake_hq import FakeHQ
from tests.support.peers import free_ports
from tests.support.turret_process import run_cli, write_turret

KEYS = Path(sys.executable).with_name("gturret-keys")
HQ = Path(sys.executable).with_name("gturret-hq")
SCRIPT = "from gturret import Transaction\n"


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=30
    )


def test_gturret_keys_writes_a_pair_only_its_owner_can_read(tmp_path: Path) -> None:
    done = _run(KEYS, "hq", "--dir", tmp_path)
    assert done.returncode == 0, done.stderr
    public, secret = zmq.auth.load_certificate(tmp_path / "hq.key_secret")
    assert secret is not None and zmq.curve_public(secret) == public
    assert zmq.auth.load_certificate(tmp_path / "hq.key") == (public, None)
    assert stat.S_IMODE((tmp_path / "hq.key_secret").stat().st_mode) == 0o600


def test_gturret_keys_never_overwrites_a_key(tmp_path: Path) -> None:
    assert _run(KEYS, "hq", "--dir", tmp_path).returncode == 0
    before = (tmp_path / "hq.key_secret").read_bytes()
    done = _run(KEYS, "hq", "--dir", tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"gturret-keys: error: {tmp_path / 'hq.key'}: already exists; not overwriting a key"
    ]
    assert (tmp_path / "hq.key_secret").read_bytes() == before


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys.create(tmp_path / "keys")


def test_a_secret_key_others_can_read_stops_the_turret(tmp_path: Path, keys: Keys) -> None:
    keys.secret("turret").chmod(0o640)
    config = write_turret(tmp_path, SCRIPT, **keys.turret_config())
    done = run_cli([str(config)], tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"gturret: error: {config}: {keys.secret('turret')}: a secret key readable or"
        f" writable by others (mode 0640); run chmod 600 {keys.secret('turret')}"
    ]


def test_a_secret_key_others_can_read_stops_the_hq(keys: Keys) -> None:
    keys.secret("hq").chmod(0o604)
    done = _run(HQ, *keys.hq_args())
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("gturret-hq: error: ") and "(mode 0604); run chmod 600" in line


def _bad_secret(keys: Keys, text: str) -> list[str]:
    path = keys.folder / "bad.key_secret"
    path.write_text(text)
    path.chmod(0o600)
    return ["--secret-key", str(path), "--turret-keys", str(keys.accepted)]


def _public_as_secret(keys: Keys) -> list[str]:
    keys.public("hq").chmod(0o600)
    return ["--secret-key", str(keys.public("hq")), "--turret-keys", str(keys.accepted)]


def _empty_folder(keys: Keys) -> list[str]:
    (keys.folder / "empty").mkdir()
    return ["--secret-key", str(keys.secret("hq")), "--turret-keys", str(keys.folder / "empty")]


def _mixed_pair(keys: Keys) -> list[str]:
    hq, rogue = (keys.secret(name).read_text() for name in ("hq", "rogue"))
    secret_line = next(line for line in rogue.splitlines() if "secret-key" in line)
    mixed = [secret_line if "secret-key" in line else line for line in hq.splitlines()]
    return _bad_secret(keys, "\n".join(mixed))


BAD_KEYS = {
    "secret key alone": (
        lambda keys: ["--secret-key", str(keys.secret("hq"))],
        "--secret-key and --turret-keys go together",
    ),
    "missing file": (
        lambda keys: ["--secret-key", "nope", "--turret-keys", str(keys.accepted)],
        "nope: no such key file",
    ),
    "not a certificate": (lambda keys: _bad_secret(keys, "hello\n"), "not a ZeroMQ certificate"),
    "short key": (
        lambda keys: _bad_secret(keys, 'curve\n    public-key = "abc"\n'),
        "its public key is not a 40-character Z85 CURVE key",
    ),
    "public key file": (_public_as_secret, "holds no secret key; give the .key_secret file"),
    "keys of two pairs": (_mixed_pair, "its public and secret keys do not belong together"),
    "no turret key": (_empty_folder, "holds no turret public key (*.key file)"),
}


@pytest.mark.parametrize("case", list(BAD_KEYS))
def test_the_hq_refuses_bad_keys_in_one_line(keys: Keys, case: str) -> None:
    """Parsed as gturret-hq parses them (its one-line output: the test above)."""
    make_args, problem = BAD_KEYS[case]
    parser = argparse.ArgumentParser()
    add_arguments(parser, OPTIONS)
    with pytest.raises(UsageError) as raised:
        options_from_args(parser.parse_args(make_args(keys)), OPTIONS)
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_a_config_names_both_key_files_or_neither(tmp_path: Path, keys: Keys) -> None:
    config = write_turret(tmp_path, SCRIPT, hq_public_key=str(keys.public("hq")))
    with pytest.raises(ConfigError, match="'hq_public_key' needs 'turret_secret_key' too"):
        load_config(config)


def test_key_paths_are_relative_to_the_config_file(tmp_path: Path, keys: Keys) -> None:
    config = write_turret(
        tmp_path, SCRIPT, hq_public_key="keys/hq.key", turret_secret_key="keys/turret.key_secret"
    )
    loaded = load_config(config)
    assert loaded.curve is not None
    assert loaded.curve.hq_public == zmq.auth.load_certificate(keys.public("hq"))[0]
    assert loaded.curve.own.path == tmp_path / "keys" / "turret.key_secret"
    with pytest.raises(ConfigError, match=r"keys/none\.key: no such key file"):
        load_config(
            write_turret(
                tmp_path, SCRIPT, **{**keys.turret_config(), "hq_public_key": "keys/none.key"}
            )
        )


#: A ZMTP 3.0 greeting of the NULL mechanism (rfc.zeromq.org/spec/23): the HQ's side
#: of a handshake, cut there as by a SIGKILL.
ZMTP_GREETING = b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32


def _listen(port: int) -> socket.socket:
    """A plain TCP server on ``port``, to take one connection and close it mid-handshake."""
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(30)
    return server


def test_an_hq_that_dies_during_one_handshake_does_not_stop_the_turret(
    tmp_path: Path, spawn_turret
) -> None:
    """An HQ killed mid-handshake (then resumed: docs/journal.md) closes one handshake;
    the turret must wait for the next HQ, not take it for a refusal of its keys."""
    pub_port, rc_port = free_ports(2)
    servers = [_listen(port) for port in (pub_port, rc_port)]
    turret = spawn_turret(str(write_turret(tmp_path, SCRIPT, (pub_port, rc_port))))
    for server in servers:
        peer, _ = server.accept()
        peer.sendall(ZMTP_GREETING)
        received = b""
        while len(received) < len(ZMTP_GREETING):
            received += peer.recv(64)
        peer.close()
        server.close()
    hq = FakeHQ(pub_port, rc_port)
    try:
        hq.register(timeout=20)
        hq.collect(2 * VAGUE_FAILURE_WAIT)  # the window in which a refusal would settle
        before = len(hq.statuses)
        hq.send("status_request")
        hq.wait_status("ready")
        assert len(hq.statuses) > before
        assert turret.proc.poll() is None, turret.log
        assert "during the handshake" not in turret.log
    finally:
        hq.close()
