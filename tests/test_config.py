"""Config and tar validation: each bad input is one line naming file and key, exit 2."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from gturret.config import KEY_SETTINGS, SETTINGS, load_config
from gturret.errors import ConfigError, TarError
from gturret.tarball import ExtractedTar
from tests.support.turret_process import run_cli

GOOD = {
    "name": "nav",
    "canons": 3,
    "rampup": 2,
    "script": "v_user.py",
    "hq_address": "127.0.0.1",
    "hq_publisher": 5000,
    "hq_rc": 5001,
}
SCRIPT = "from gturret import Transaction\n"


def write(folder: Path, config: object, name: str = "config.json") -> Path:
    (folder / "v_user.py").write_text(SCRIPT)
    path = folder / name
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return path


def test_good_config_loads_typed_and_keeps_extras(tmp_path):
    config = load_config(write(tmp_path, {**GOOD, "target": "http://x"}))
    assert config.name == "nav" and config.canons == 3 and config.rampup == 2.0
    assert config.script == (tmp_path / "v_user.py").resolve()
    assert config.publisher_endpoint == "tcp://127.0.0.1:5000"
    assert config.collector_endpoint == "tcp://127.0.0.1:5001"
    assert config.raw["target"] == "http://x"
    assert config.outbox_limit == 100_000 and config.stop_grace == 0.5


def test_script_is_relative_to_the_config_folder(tmp_path, monkeypatch):
    sub = tmp_path / "turret"
    sub.mkdir()
    write(sub, GOOD)
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("turret/config.json")).script == (sub / "v_user.py").resolve()


def test_oct_spelling_cannons_and_both_when_equal(tmp_path):
    oct_style = {k: v for k, v in GOOD.items() if k != "canons"} | {"cannons": 7}
    assert load_config(write(tmp_path, oct_style)).canons == 7
    assert load_config(write(tmp_path, {**GOOD, "cannons": 3})).canons == 3


def test_rampup_defaults_to_zero(tmp_path):
    config = {k: v for k, v in GOOD.items() if k != "rampup"}
    assert load_config(write(tmp_path, config)).rampup == 0


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "config.json"
    (tmp_path / "v_user.py").write_text(SCRIPT)
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert load_config(path).name == "nav"


BAD_CONFIGS = [
    ({k: v for k, v in GOOD.items() if k != "name"}, "missing required key 'name'"),
    ({k: v for k, v in GOOD.items() if k != "canons"}, "missing required key 'canons'"),
    ({k: v for k, v in GOOD.items() if k != "hq_rc"}, "missing required key 'hq_rc'"),
    ({k: v for k, v in GOOD.items() if k != "script"}, "missing required key 'script'"),
    ({**GOOD, "cannons": 4}, "'canons' (3) and 'cannons' (4) differ"),
    ({**GOOD, "canons": 0}, "'canons' must be between 1 and"),
    ({**GOOD, "canons": -5}, "'canons' must be between 1 and"),
    ({**GOOD, "canons": 2.5}, "'canons' must be a whole number, not 2.5"),
    ({**GOOD, "canons": "10"}, "'canons' must be a whole number, not \"10\""),
    ({**GOOD, "canons": True}, "'canons' must be a whole number, not true"),
    ({**GOOD, "canons": 10**30}, "'canons' must be between 1 and"),
    ({**GOOD, "rampup": -1}, "'rampup' must be between 0 and"),
    ({**GOOD, "rampup": "fast"}, "'rampup' must be a number, not \"fast\""),
    ({**GOOD, "rampup": 1e308}, "'rampup' must be between 0 and"),
    ({**GOOD, "hq_publisher": 0}, "'hq_publisher' must be a port between 1 and 65535"),
    ({**GOOD, "hq_rc": 70000}, "'hq_rc' must be a port between 1 and 65535"),
    ({**GOOD, "hq_rc": "5001"}, "'hq_rc' must be a port number, not \"5001\""),
    ({**GOOD, "hq_address": ""}, "'hq_address' must be a non-empty string, not \"\""),
    ({**GOOD, "name": "  "}, "'name' must be a non-empty string, not \"  \""),
    ({**GOOD, "name": ["a"]}, "'name' must be a non-empty string, not [\"a\"]"),
    ({**GOOD, "files": ["a", 3]}, "'files' must be a list of paths, not [\"a\", 3]"),
    ({**GOOD, "arrival": None}, "'arrival' must be one of constant, poisson, not null"),
    (
        {**GOOD, "arrival_stages": [{"duration": 0, "target": 5}]},
        "'arrival_stages[0].duration' must be more than 0, not 0",
    ),
    (
        {**GOOD, "arrival_stages": [{"durration": 5, "target": 5}]},
        'not {"durration": 5, "target": 5}',
    ),
    (
        {k: v for k, v in GOOD.items() if k != "hq_address"} | {"hq_adress": "127.0.0.1"},
        "missing required key 'hq_address' (is 'hq_adress' a typo of it?)",
    ),
    (
        {k: v for k, v in GOOD.items() if k != "canons"} | {"canon": 3},
        "missing required key 'canons' (or 'cannons') (is 'canon' a typo of it?)",
    ),
    ({**GOOD, "name": None}, "'name' must be a non-empty string, not null"),
    ({**GOOD, "script": "missing.py"}, "'script' 'missing.py' is not a file"),
    ({**GOOD, "script": "."}, "'script' '.' is not a file"),
    ({**GOOD, "outbox_limit": 0}, "'outbox_limit' must be between 1 and 10000000"),
    ({**GOOD, "outbox_limit": 1.5}, "'outbox_limit' must be a whole number"),
    ({**GOOD, "stop_grace": -1}, "'stop_grace' must be between 0 and 3600"),
    ([GOOD], 'must hold a JSON object, not [{"name": "nav"'),
    ('{"name": "nav",', "invalid JSON at line 1"),
    ('{"canons": NaN}', "NaN is not a number JSON allows"),
    ("", "invalid JSON at line 1 column 1"),
]


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS)
def test_bad_config_raises_one_clear_line(tmp_path, config, message):
    path = write(tmp_path, config)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert message in text
    assert text.startswith(str(path))
    assert "\n" not in text


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.json")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    (tmp_path / "latin1.json").write_bytes(b'{"name": "\xe9"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "latin1.json")


#: 400-digit integers, infinities and rates no process can keep: refused before
#: anything starts, in one line, never a traceback (an overflow) or a turret that
#: freezes later (tried through the CLI below).
ABSURD_NUMBERS = [
    ({**GOOD, "rampup": 10**400}, "'rampup' must be between 0 and 604800, not a 401-digit number"),
    (
        json.dumps(GOOD)[:-1] + ', "rampup": 1e400}',
        "'rampup' must be between 0 and 604800, not inf",
    ),
    ({**GOOD, "canons": 10**400}, "'canons' must be between 1 and 1000000, not a 401-digit"),
    ({**GOOD, "arrival_rate": 3_000_000}, "'arrival_rate' must be between 0 and 100000"),
    ({**GOOD, "arrival_rate": 10**400}, "'arrival_rate' must be between 0 and 100000"),
    ({**GOOD, "outbox_limit": 10**400}, "'outbox_limit' must be between 1 and 10000000"),
    ({**GOOD, "stop_grace": 1e300}, "'stop_grace' must be between 0 and 3600"),
    ({**GOOD, "max_lateness": 10**400}, "'max_lateness' must be between 0 and 3600"),
    ({**GOOD, "hq_timeout": 1e300}, "'hq_timeout' must be between 0 and 604800"),
    ({**GOOD, "hq_rc": 10**400}, "'hq_rc' must be a port between 1 and 65535"),
    (
        {**GOOD, "arrival_stages": [{"duration": 1, "target": 1e7}]},
        "'arrival_stages[0].target' must be between 0 and 100000",
    ),
    (
        {**GOOD, "arrival_stages": [{"duration": 1e300, "target": 5}]},
        "'arrival_stages[0].duration' must be between 0 and 604800",
    ),
]


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS[:3] + BAD_CONFIGS[-3:] + ABSURD_NUMBERS)
def test_bad_config_through_the_cli_exits_2_with_one_line(tmp_path, config, message):
    path = write(tmp_path, config)
    done = run_cli([str(path)], tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("gturret: error: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special_member(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def good_tar_members() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [
        file_member("config.json", json.dumps(GOOD).encode()),
        file_member("v_user.py", SCRIPT.encode()),
    ]


def test_good_tar_extracts_and_cleans_up(tmp_path):
    archive = make_tar(tmp_path / "turret.tar.gz", good_tar_members())
    with ExtractedTar(archive) as package:
        folder = package.folder
        config = load_config(package.config_path)
        assert config.script == (folder / "v_user.py").resolve()
    assert not folder.exists()


BAD_TARS = [
    ([*good_tar_members(), file_member("/etc/evil", b"x")], "absolute path"),
    ([*good_tar_members(), file_member("../evil", b"x")], "climbs out with '..'"),
    ([*good_tar_members(), file_member("a/../../evil", b"x")], "climbs out with '..'"),
    (
        [*good_tar_members(), special_member("link", tarfile.SYMTYPE, "/etc/passwd")],
        "is a symbolic link",
    ),
    (
        [*good_tar_members(), special_member("hard", tarfile.LNKTYPE, "config.json")],
        "is a hard link",
    ),
    ([*good_tar_members(), special_member("dev", tarfile.CHRTYPE)], "is a device file"),
    ([*good_tar_members(), special_member("fifo", tarfile.FIFOTYPE)], "is a FIFO"),
    ([file_member("v_user.py", SCRIPT.encode())], "holds no top-level config.json"),
]


@pytest.mark.parametrize(("members", "message"), BAD_TARS)
def test_bad_tar_is_refused_and_leaves_nothing(tmp_path, members, message):
    archive = make_tar(tmp_path / "bad.tar.gz", members)
    before = set(Path("/tmp").glob("gturret-tar-*"))
    with pytest.raises(TarError, match=message):
        ExtractedTar(archive)
    assert set(Path("/tmp").glob("gturret-tar-*")) == before


def test_not_a_tar_and_missing_tar(tmp_path):
    (tmp_path / "plain.tar").write_text("hello")
    with pytest.raises(TarError, match="not a readable tar archive"):
        ExtractedTar(tmp_path / "plain.tar")
    with pytest.raises(TarError, match="no such tar file"):
        ExtractedTar(tmp_path / "absent.tar")


@pytest.mark.parametrize(("members", "message"), [BAD_TARS[1], BAD_TARS[3]])
def test_bad_tar_through_the_cli_exits_2_with_one_line(tmp_path, members, message):
    archive = make_tar(tmp_path / "bad.tar.gz", members)
    done = run_cli(["--tar", str(archive)], tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_tar_with_too_many_members_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("gturret.tarball.MAX_TAR_MEMBERS", 50)
    members = good_tar_members() + [file_member(f"f{i}", b"x") for i in range(60)]
    archive = make_tar(tmp_path / "many.tar.gz", members)
    with pytest.raises(TarError, match="more than 50 members"):
        ExtractedTar(archive)


def test_tar_that_unpacks_too_big_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("gturret.tarball.MAX_TAR_BYTES", 10_000)
    members = [*good_tar_members(), file_member("big.bin", b"\0" * 20_000)]
    archive = make_tar(tmp_path / "big.tar.gz", members)
    with pytest.raises(TarError, match="unpacks to more than 10000 bytes"):
        ExtractedTar(archive)


def test_turret_from_a_tar_removes_its_folder_when_killed(hq, spawn_turret, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    config = {**GOOD, "hq_publisher": hq.pub_port, "hq_rc": hq.rc_port}
    members = [
        file_member("config.json", json.dumps(config).encode()),
        file_member("v_user.py", SCRIPT.encode()),
    ]
    archive = make_tar(tmp_path / "turret.tar.gz", members)
    turret = spawn_turret("--tar", str(archive))
    hq.register()
    assert [p.name[:12] for p in scratch.iterdir()] == ["gturret-tar-"]
    hq.send("kill")
    assert turret.wait(timeout=5) == 0
    assert list(scratch.iterdir()) == []


ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("document", ["docs/config.md", "docs/protocol.md"])
def test_the_documented_settings_are_the_declared_ones(document):
    """The tables are written from config.SETTINGS, key, default and meaning."""
    text = (ROOT / document).read_text()
    documented = re.findall(r"^\| `(\w+)` \| (?:no \()?([\d.]+)\)? \| (.+) \|$", text, re.M)
    declared = {key: (f"{s.default:g}", s.description) for key, s in SETTINGS.items()}
    found = {key: (default, meaning) for key, default, meaning in documented if key in declared}
    assert found == declared


@pytest.mark.parametrize("document", ["docs/config.md", "docs/protocol.md"])
def test_the_documented_key_files_are_the_declared_ones(document):
    """The key file rows are written from config.KEY_SETTINGS: key and meaning."""
    text = (ROOT / document).read_text()
    documented = re.findall(r"^\| `(\w+)` \| (?:no|none) \| (.+) \|$", text, re.M)
    found = {key: meaning for key, meaning in documented if key in KEY_SETTINGS}
    assert found == {key: setting.description for key, setting in KEY_SETTINGS.items()}


@pytest.mark.parametrize(
    ("typo", "setting"),
    [
        ("rampupp", "rampup"),
        ("hq_timout", "hq_timeout"),
        ("arival_rate", "arrival_rate"),
        ("stop_grase", "stop_grace"),
        ("arrival_stage", "arrival_stages"),
        ("requirement", "requirements"),
        ("turret_secret_keys", "turret_secret_key"),
        ("cannon", "cannons"),
    ],
)
def test_a_key_close_to_a_setting_is_named_with_it(tmp_path, typo, setting):
    config = load_config(write(tmp_path, {**GOOD, typo: 1}))
    path = tmp_path / "config.json"
    assert config.typos == (
        f"{path}: '{typo}' is not a setting; did you mean '{setting}'? It is passed to the"
        f" script as config['{typo}']",
    )
    assert config.raw[typo] == 1


def test_the_scripts_own_keys_stay_silent(tmp_path):
    """As OCT, every other key is the script's; common ones are not taken for typos."""
    own = {"target": "http://x", "timeout": 5, "think_time": 1, "url": "u", "users": 3}
    config = load_config(write(tmp_path, {**GOOD, **own}))
    assert config.typos == ()
    assert {key: config.raw[key] for key in own} == own


def test_a_typo_is_warned_about_by_the_turret_in_one_line(tmp_path):
    """Through the real ``gturret`` process: a standalone run with ``rampupp`` runs (the
    key is the script's) and its log has the one line naming both keys, once."""
    path = write(tmp_path, {**GOOD, "canons": 1, "rampupp": 3, "hq_timout": 5})
    done = run_cli([str(path), "--standalone", "--run-time", "0.5s", "--no-progress"], tmp_path)
    warnings = [line for line in done.stderr.splitlines() if "is not a setting" in line]
    assert warnings == [
        line
        for line in done.stderr.splitlines()
        if re.search(r"WARNING gturret: .*'(rampupp|hq_timout)' is not a setting", line)
    ]
    assert [line.split("gturret: ", 1)[1] for line in warnings] == [
        f"{path}: 'rampupp' is not a setting; did you mean 'rampup'? It is passed to the"
        " script as config['rampupp']",
        f"{path}: 'hq_timout' is not a setting; did you mean 'hq_timeout'? It is passed to"
        " the script as config['hq_timout']",
    ]
