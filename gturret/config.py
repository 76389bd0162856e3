"""Load and validate a turret config: a JSON file (a package's once unpacked).

Why its own module: every later part trusts the config blindly, so every check
lives here, once, and each failure is a ConfigError whose one line names the file
and the key (a package is unpacked first, by :mod:`gturret.tarball`). It must never
start sockets or import the script.

Settings beyond docs/protocol.md's keys are declared once, as the TurretConfig field
each fills, with their default, range and meaning; ``SETTINGS`` is read from those
fields and drives the loader (docs/config.md's table says the same, checked by a test);
like every extra key they are also handed to the script. An unknown key that looks like a
known one is named in ``TurretConfig.typos``, which the turret logs.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gturret.errors import ConfigError, KeyFileError
from gturret.feeders import FeederSpec, parse_feeders
from gturret.keys import TurretKeys, read_key_pair, read_public_key
from gturret.pacing import ARRIVALS, Schedule, Stage
from gturret.requirements import plain_requirement

MAX_CANONS = 1_000_000
MAX_RAMPUP = 7 * 24 * 3600
#: Transactions per second one turret may be asked to start (its config, or its share
#: of the HQ's ``--arrival-rate``): about what one process's loop can schedule. Past
#: it the pacer could only drop tickets; a higher load takes more turrets.
MAX_ARRIVAL_RATE = 100_000
#: Seconds any other time setting may be (an hour): past it a value is a mistake.
MAX_SECONDS = 3600
#: Characters of a wrong value quoted in a message.
RECEIVED_LIMIT = 60

_REQUIRED = ("name", "script", "hq_address", "hq_publisher", "hq_rc")
#: How alike (difflib's ratio) an unknown key must be to a known one to be called a
#: typo of it. 0.85 catches one letter wrong, missing or doubled ('rampupp',
#: 'hq_timout', 'arival_rate') and leaves a script's own common keys alone
#: ('timeout' is 0.82 like 'hq_timeout').
TYPO_CUTOFF = 0.85


@dataclass(frozen=True, slots=True)
class Setting:
    """A turret setting outside docs/protocol.md's keys: its default, range and meaning.

    Declared once, as the TurretConfig field it fills (``key`` is that field's name);
    the loader reads ``SETTINGS`` and checks each alike: a number, or a ``whole`` one.
    """

    default: float
    minimum: float
    maximum: float
    description: str
    whole: bool = False
    key: str = ""


#: The key under which a TurretConfig field's metadata holds its Setting.
_SETTING = "setting"


def _setting(
    default: float, minimum: float, maximum: float, description: str, *, whole: bool = False
) -> Any:
    """A TurretConfig field declared as a setting (a ``dataclasses.field``)."""
    declared = Setting(default, minimum, maximum, description, whole)
    return field(default=default, metadata={_SETTING: declared})


@dataclass(frozen=True, slots=True)
class TurretConfig:
    """A validated turret config; ``raw`` is the dict as written, handed to scripts."""

    name: str
    canons: int
    rampup: float
    script: Path
    hq_address: str
    hq_publisher: int
    hq_rc: int
    schedule: Schedule | None
    files: tuple[Path, ...]
    requirements: tuple[str, ...]
    source: Path
    raw: dict[str, Any]
    outbox_limit: int = _setting(
        100_000,
        1,
        10_000_000,
        "results held while the HQ cannot take them; past it new results are "
        "dropped, counted and logged",
        whole=True,
    )
    replay_buffer_mb: float = _setting(
        64,
        0,
        1_000_000,
        "megabytes of data messages kept for an HQ that journals until it acknowledges"
        " them, to send again to an HQ that resumes; past it the oldest are dropped,"
        " counted and logged",
    )
    hq_timeout: float = _setting(
        0,
        0,
        MAX_RAMPUP,
        "seconds without any frame from the HQ while running after which the turret"
        " ceases fire and returns to ready; 0 waits forever (as OCT: the reference HQ"
        " sends nothing during a test)",
    )
    hq_wait: float = _setting(
        300,
        0,
        MAX_RAMPUP,
        "seconds a turret waits for its first frame from the HQ; past it the turret exits"
        " (status 1) with one line naming the address it waited for, so a container or"
        " Job never waits forever; 0 waits forever",
    )
    stop_grace: float = _setting(
        0.5,
        0,
        MAX_SECONDS,
        "seconds canons get at `stop` to finish the transaction they are in before they are killed",
    )
    #: As configured; the turret paces by ``schedule`` (its share of the HQ's rate).
    arrival_rate: float = _setting(
        0,
        0,
        MAX_ARRIVAL_RATE,
        "transactions per second this turret starts, whatever the server does (the"
        " open model; `canons` is then the most in flight at once); 0 runs the closed"
        " model: each canon starts its next transaction when its last one ends; at"
        " most 100,000 (about what one process can schedule: more takes more turrets)",
    )
    max_lateness: float = _setting(
        1.0,
        0,
        MAX_SECONDS,
        "seconds a paced transaction may start after its scheduled time, waiting for"
        " a free canon; a later one is dropped and counted",
    )
    curve: TurretKeys | None = None
    #: The ``feeders`` (:mod:`gturret.feeders`): data files next to the config whose
    #: rows ``Transaction.feed(name)`` hands out; each entry's file, mode and scope.
    feeders: tuple[FeederSpec, ...] = ()
    #: One line for each unknown key that looks like a misspelt setting, for the log.
    typos: tuple[str, ...] = ()

    @property
    def publisher_endpoint(self) -> str:
        return f"tcp://{self.hq_address}:{self.hq_publisher}"

    @property
    def collector_endpoint(self) -> str:
        return f"tcp://{self.hq_address}:{self.hq_rc}"


#: The settings beyond docs/protocol.md's keys, by key, in the order they are checked:
#: read from the TurretConfig fields that declare them.
SETTINGS = {
    declared.name: replace(declared.metadata[_SETTING], key=declared.name)
    for declared in fields(TurretConfig)
    if _SETTING in declared.metadata
}

#: Keys of the open model that are not numbers (see ``gturret.pacing``).
ARRIVAL_KEYS = ("arrival", "arrival_stages")
#: Keys of a package (``gturret pack``): the files next to the config that the
#: script uses, and the Python requirements it needs (a list, or a file's path).
PACKAGE_KEYS = ("files", "requirements")
#: The key of the feeders (``gturret.feeders``): their files travel in a package too.
FEEDERS_KEY = "feeders"


@dataclass(frozen=True, slots=True)
class KeySetting:
    """A key file setting (``gturret.keys``): its config key and meaning; none by default."""

    key: str
    description: str


#: The CurveZMQ key files; both or neither. Paths are relative to the config file.
KEY_SETTINGS = {
    setting.key: setting
    for setting in (
        KeySetting(
            "hq_public_key",
            "the HQ's public key file (`NAME.key` from `gturret-keys`), relative to the"
            " config file; with `turret_secret_key`, every link to the HQ is CurveZMQ",
        ),
        KeySetting(
            "turret_secret_key",
            "this turret's key pair (`NAME.key_secret`, readable by its owner only),"
            " relative to the config file; the HQ must hold its `NAME.key`",
        ),
    )
}


#: Every key the turret itself reads; any other key is the script's alone.
KNOWN_KEYS = (
    *_REQUIRED,
    "canons",
    "cannons",
    "rampup",
    *SETTINGS,
    *ARRIVAL_KEYS,
    *PACKAGE_KEYS,
    FEEDERS_KEY,
    *KEY_SETTINGS,
)


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> TurretConfig:
    """Read and validate the JSON config at ``path``, with ``overrides``' keys set over
    the file's (``--hq-address``, ``GTURRET_NAME``…: :mod:`gturret.overrides`)."""
    source = Path(path)
    try:
        text = source.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        raw = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{source}: invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must hold a JSON object, not {_received(raw)}")
    return validate({**raw, **(overrides or {})}, source)


def validate(raw: dict[str, Any], source: Path) -> TurretConfig:
    """Check every key of an already parsed config; ``source`` locates the script."""
    misspelt = _misspelt(raw)
    for key in _REQUIRED:
        if key not in raw:
            raise ConfigError(f"{source}: missing required key '{key}'{_typo_of(key, misspelt)}")
    name = _text(raw, "name", source)
    canons = _canons(raw, source, misspelt)
    rampup = _number(raw.get("rampup", 0), "rampup", source, 0, MAX_RAMPUP)
    script = _script(raw, source)
    settings = {key: _loaded(raw, setting, source) for key, setting in SETTINGS.items()}
    return TurretConfig(
        name=name,
        canons=canons,
        rampup=rampup,
        script=script,
        hq_address=_text(raw, "hq_address", source),
        hq_publisher=_port(raw, "hq_publisher", source),
        hq_rc=_port(raw, "hq_rc", source),
        schedule=_schedule(raw, settings["arrival_rate"], source),
        files=_files(raw, source),
        requirements=_requirements(raw, source),
        source=source,
        raw=raw,
        curve=_curve(raw, source),
        feeders=parse_feeders(raw.get(FEEDERS_KEY), source),
        typos=tuple(
            f"{source}: {key!r} is not a setting; did you mean {known!r}? It is passed to"
            f" the script as config[{key!r}]"
            for key, known in misspelt.items()
        ),
        **settings,
    )


def _misspelt(raw: dict[str, Any]) -> dict[str, str]:
    """Each unknown key that looks like a known one, and that known key.

    Unknown keys are the script's and are handed to it, as OCT does, so none is
    refused; but a misspelt optional setting would otherwise run silently with its
    default (an ``arival_rate`` turns an open-model test into a closed one).
    difflib's ratio, as argparse's suggestions, with ``TYPO_CUTOFF``.
    """
    found = {}
    for key in raw:
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=TYPO_CUTOFF)
            if close:
                found[key] = close[0]
    return found


def _typo_of(key: str, misspelt: dict[str, str]) -> str:
    """`` (is 'hq_adress' a typo of it?)`` when an unknown key looks like ``key``."""
    typos = [repr(unknown) for unknown, known in misspelt.items() if known == key]
    return f" (is {' or '.join(typos)} a typo of it?)" if typos else ""


def _files(raw: dict[str, Any], source: Path) -> tuple[Path, ...]:
    """The ``files`` the script uses: each a file or folder inside the config's folder."""
    listed = raw.get("files", [])
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise ConfigError(f"{source}: 'files' must be a list of paths, not {_received(listed)}")
    return tuple(_inside(source, item, "files") for item in listed)


def _requirements(raw: dict[str, Any], source: Path) -> tuple[str, ...]:
    """The ``requirements``: a list of requirement lines, or a requirements file's path.

    Only plain requirement lines (``requirements.plain_requirement``): an option, a
    URL or a path could point a turret at another package index, so they are refused.
    """
    given = raw.get("requirements", [])
    if isinstance(given, str):
        path = _inside(source, given, "requirements")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: 'requirements' file {given!r}: {exc}") from None
        given = [line.split("#", 1)[0] for line in text.splitlines()]
        given = [line for line in given if line.strip()]
    if not isinstance(given, list) or not all(isinstance(item, str) for item in given):
        raise ConfigError(
            f"{source}: 'requirements' must be a list of requirement lines or a file's"
            f" path, not {_received(given)}"
        )
    checked = []
    for line in given:
        try:
            checked.append(plain_requirement(line))
        except ValueError as exc:
            shown = line if len(line) <= 80 else line[:80] + "…"
            raise ConfigError(f"{source}: 'requirements' holds {shown!r}: {exc}") from None
    return tuple(checked)


def _inside(source: Path, relative: str, key: str) -> Path:
    """``relative`` (a path in the config under ``key``) resolved in the config's folder."""
    folder = source.parent.resolve()
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder) or path == folder:
        raise ConfigError(f"{source}: '{key}' entry {relative!r} is not inside the config's folder")
    if not path.exists():
        raise ConfigError(f"{source}: '{key}' entry {relative!r} does not exist (looked at {path})")
    return path


def _curve(raw: dict[str, Any], source: Path) -> TurretKeys | None:
    """The turret's CurveZMQ keys, or None when the config names neither file."""
    given = [key for key in KEY_SETTINGS if key in raw]
    if not given:
        return None
    if len(given) == 1:
        missing = next(key for key in KEY_SETTINGS if key not in raw)
        raise ConfigError(f"{source}: '{given[0]}' needs '{missing}' too (CurveZMQ keys)")
    hq_public, own = (source.parent / _text(raw, key, source) for key in KEY_SETTINGS)
    try:
        return TurretKeys(read_key_pair(own), read_public_key(hq_public), hq_public)
    except KeyFileError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _schedule(raw: dict[str, Any], rate: float, source: Path) -> Schedule | None:
    """The open model's schedule, or None for the closed model (no rate, no stages)."""
    arrival = raw.get("arrival", "constant")
    if arrival not in ARRIVALS:
        raise ConfigError(
            f"{source}: 'arrival' must be one of {', '.join(ARRIVALS)}, not {_received(arrival)}"
        )
    stages_raw = raw.get("arrival_stages", [])
    if not isinstance(stages_raw, list):
        raise ConfigError(f"{source}: 'arrival_stages' must be a list, not {_received(stages_raw)}")
    stages = tuple(_stage(stage, index, source) for index, stage in enumerate(stages_raw))
    if rate == 0 and not any(stage.target for stage in stages):
        return None
    return Schedule(rate, stages, arrival)


def _stage(stage: Any, index: int, source: Path) -> Stage:
    where = f"'arrival_stages'[{index}]"
    if not isinstance(stage, dict) or set(stage) != {"duration", "target"}:
        raise ConfigError(
            f'{source}: {where} must be {{"duration": seconds, "target": transactions per'
            f" second}}, not {_received(stage)}"
        )
    duration = _number(
        stage["duration"], f"arrival_stages[{index}].duration", source, 0, MAX_RAMPUP
    )
    target = _number(
        stage["target"], f"arrival_stages[{index}].target", source, 0, MAX_ARRIVAL_RATE
    )
    if duration == 0:
        raise ConfigError(
            f"{source}: 'arrival_stages[{index}].duration' must be more than 0, not 0"
        )
    return Stage(duration, target)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _received(value: Any) -> str:
    """A value as the config wrote it (JSON, cut short), for "…, not <value>" messages.

    The value itself rather than its type: ``not ""`` says what is wrong with an empty
    name, ``not "10"`` that a number was written as a string.
    """
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= RECEIVED_LIMIT else text[: RECEIVED_LIMIT - 1] + "…"


def _text(raw: dict[str, Any], key: str, source: Path) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source}: '{key}' must be a non-empty string, not {_received(value)}")
    return value


def _number(value: Any, key: str, source: Path, low: float, high: float) -> float:
    """A number in [low, high]; integers of any size are compared exactly, never
    converted first (a 400-digit one would overflow a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{source}: '{key}' must be a number, not {_received(value)}")
    if not low <= value <= high:  # NaN compares false: refused too
        raise ConfigError(
            f"{source}: '{key}' must be between {_shown(low)} and {_shown(high)},"
            f" not {_shown(value)}"
        )
    return float(value)


def _shown(value: float) -> str:
    """A number as an error line shows it: whole ones without a point or an exponent,
    a huge integer by its size rather than its digits."""
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return f"a {len(text)}-digit number" if len(text) > 24 else text


def _loaded(raw: dict[str, Any], setting: Setting, source: Path) -> Any:
    """A setting's value in ``raw`` (its default if absent), checked as it is declared."""
    key = setting.key
    value = _number(raw.get(key, setting.default), key, source, setting.minimum, setting.maximum)
    return _whole(value, key, source) if setting.whole else value


def _whole(value: float, key: str, source: Path) -> int:
    if not value.is_integer():
        raise ConfigError(f"{source}: '{key}' must be a whole number, not {value}")
    return int(value)


def _canons(raw: dict[str, Any], source: Path, misspelt: dict[str, str]) -> int:
    present = [key for key in ("canons", "cannons") if key in raw]
    if not present:
        typo = _typo_of("canons", misspelt) or _typo_of("cannons", misspelt)
        raise ConfigError(f"{source}: missing required key 'canons' (or 'cannons'){typo}")
    if len(present) == 2 and raw["canons"] != raw["cannons"]:
        raise ConfigError(
            f"{source}: 'canons' ({_received(raw['canons'])}) and 'cannons'"
            f" ({_received(raw['cannons'])}) differ; give one"
        )
    key = present[0]
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source}: '{key}' must be a whole number, not {_received(value)}")
    if not 1 <= value <= MAX_CANONS:
        raise ConfigError(
            f"{source}: '{key}' must be between 1 and {MAX_CANONS}, not {_shown(value)}"
        )
    return value


def _port(raw: dict[str, Any], key: str, source: Path) -> int:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source}: '{key}' must be a port number, not {_received(value)}")
    if not 1 <= value <= 65535:
        raise ConfigError(
            f"{source}: '{key}' must be a port between 1 and 65535, not {_shown(value)}"
        )
    return value


def _script(raw: dict[str, Any], source: Path) -> Path:
    relative = _text(raw, "script", source)
    script = (source.parent / relative).resolve()
    if not script.is_file():
        raise ConfigError(f"{source}: 'script' {relative!r} is not a file (looked at {script})")
    return script
