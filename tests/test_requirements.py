"""A config's ``requirements``: plain requirements from pip's own index, nothing else.

A pack travels between machines and people, and pip reads far more than a name and
a version: options (``--index-url``, ``-e``, ``-r``), URLs (``pkg @ http://…``), VCS
references (``git+…``), local paths and file names, and in a requirements file also
comments, continuations and ``${VARIABLES}``. Each of these would let a pack choose
where its code comes from. The function-level tests try many hostile lines, and
generated ones, against :func:`gturret.requirements.plain_requirement` and against
pip's own parser; the CLI tests run ``gturret`` on configs and tars that carry
hostile lines pointing at a local server that records every request, and check
that the turret refuses them in one line (exit 2) before pip runs: the server is
never asked, no venv is made. Nothing here touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from pip._internal.req.constructors import install_req_from_line

from gturret.config import validate
from gturret.errors import ConfigError
from gturret.requirements import plain_requirement
from tests.support.recording_server import recording_server
from tests.support.turret_process import GTURRET, write_turret
from tests.support.wheels import probe_wheel

SCRIPT = """\
from gturret import Transaction as Base

class Transaction(Base):
    def run(self):
        pass
"""

PLAIN = [
    ("requests", "requests"),
    ("  requests==2.31.0  ", "requests==2.31.0"),
    ("Foo_Bar.baz[socks,security]>=1.0,<2", "Foo_Bar.baz[security,socks]<2,>=1.0"),
    ("foo (>=1.0)", "foo>=1.0"),
    ("foo~=1.4.2; python_version >= '3.8'", 'foo~=1.4.2; python_version >= "3.8"'),
    ('foo==1!2.0+local.1; sys_platform == "linux" and extra == "x"', None),
    ("foo==1.*", "foo==1.*"),
]

HOSTILE = [
    ("pkg @ http://127.0.0.1:1/pkg-1.0-py3-none-any.whl", "a URL"),
    ("pkg@https://127.0.0.1:1/pkg.tar.gz", "a URL"),
    ("pkg @ file:///tmp/pkg-1.0-py3-none-any.whl", "a URL"),
    ("git+https://127.0.0.1:1/pkg.git#egg=pkg", "a URL or VCS reference"),
    ("git+ssh://git@127.0.0.1/pkg.git", "a URL or VCS reference"),
    ("hg+http://127.0.0.1:1/pkg", "a URL or VCS reference"),
    ("http://127.0.0.1:1/pkg-1.0-py3-none-any.whl", "a URL"),
    ("pkg==1.0\n--index-url http://127.0.0.1:1/simple", "a newline"),
    ("pkg==1.0\r--extra-index-url=http://127.0.0.1:1/", "a newline"),
    ("pkg==1.0\u2028-i http://127.0.0.1:1/", "a newline"),
    ("pkg==1.0\x85-f /tmp", "a newline"),
    ("pkg\x00", "control character"),
    ("pkg\x1b[2J", "control character"),
    ("pkg==1.0\u00a0", "control character"),
    ("-e .", "a pip option"),
    ("--editable=git+https://127.0.0.1:1/x", "a pip option"),
    ("-r other.txt", "a pip option"),
    ("-c constraints.txt", "a pip option"),
    ("--index-url=http://127.0.0.1:1/simple", "a pip option"),
    ("-ihttp://127.0.0.1:1/simple", "a pip option"),
    ("--find-links /tmp/wheels", "a pip option"),
    ("--trusted-host 127.0.0.1", "a pip option"),
    ("pkg==1.0 --index-url=http://127.0.0.1:1/", "a pip option"),
    ("pkg==1.0 --hash=sha256:00", "a pip option"),
    ("pkg --config-settings=x=y", "a pip option"),
    ("./pkg-1.0-py3-none-any.whl", "a path"),
    ("../pkg", "a path"),
    ("/tmp/pkg-1.0-py3-none-any.whl", "a path"),
    ("~/pkg.tar.gz", "a path"),
    ("pkg\\..\\x.whl", "a path"),
    ("sub/dir", "a path"),
    (".", "a path"),
    ("pkg-1.0-py3-none-any.whl", "a file name"),
    ("pkg.tar.gz", "a file name"),
    ("pkg.zip", "a file name"),
    ("pkg.TGZ", "a file name"),
    ("pkg===/tmp/pkg.whl", "a path"),
    ("pkg===1.0.whl", "'===' takes any text"),
    ("pkg==1.0 # pinned", "'#'"),
    ("pkg==${VERSION}", "'$'"),
    ("pkg==1.0 \\", "a path"),
    ("pkg; python_version > '3' and platform_release == 'x:y'", "':'"),
    ("\uff30kg", "'\uff30'"),
    ("pkg===", "not a plain requirement"),
    ("pkg[", "not a plain requirement"),
    ("pkg == = 1", "not a plain requirement"),
    ("pkg; os_name == ", "not a plain requirement"),
    ("", "an empty line"),
    ("   ", "an empty line"),
]


@pytest.mark.parametrize(("line", "canonical"), PLAIN)
def test_a_plain_requirement_is_kept_in_its_canonical_form(line: str, canonical: str | None):
    assert plain_requirement(line) == (canonical or str(Requirement(line)))


@pytest.mark.parametrize(("line", "why"), HOSTILE)
def test_a_hostile_requirement_is_refused_with_the_reason(line: str, why: str):
    with pytest.raises(ValueError) as refused:
        plain_requirement(line)
    assert why in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(("line", "why"), HOSTILE)
def test_a_config_with_a_hostile_requirement_is_refused_in_one_line_naming_it(
    tmp_path: Path, line: str, why: str
):
    config = write_turret(tmp_path, SCRIPT, requirements=["requests", line])
    raw = json.loads(config.read_text())
    with pytest.raises(ConfigError) as refused:
        validate(raw, config)
    message = str(refused.value)
    assert message.splitlines() == [message], message
    assert repr(line[:80])[1:-1] in message and why in message


# What lines are built from: pieces of plain requirements and every piece of pip's
# syntax that could point it elsewhere.
_PIECES = st.sampled_from(
    [
        "pkg", "gturret-probe-dep", "Pkg_2.x", "a", "[extra]", "[a,b]", "==1.0", ">=1",
        "~=2.1", "===1.0", "!=3", ",<3", "==1.*", "; python_version >= '3'",
        ' ; extra == "x"', " and ", " or ", "(", ")", "'", '"', " ", "@", " @ ",
        "http://127.0.0.1/x.whl", "file:///tmp/x", "git+", "hg+", "https://h/r.git",
        "#egg=pkg", "-e", "-e ", "--index-url", "--index-url=", "-i ", "-r ", "req.txt",
        "--hash=sha256:0", "--", "\n", "\r", "\t", "\x00", "\x0b", "\x85", "\u2028",
        "./", "../", "/", "~/", "~", "\\", ".whl", ".tar.gz", ".zip", "${HOME}", "$",
        "#", ":", "=", "-", "\uff26", "\u00a0",
    ]
)  # fmt: skip
_LINES = st.one_of(
    st.text(max_size=60),
    st.lists(_PIECES, min_size=1, max_size=8).map("".join),
    st.from_regex(
        r"[A-Za-z][A-Za-z0-9._-]{0,12}(\[[a-z]{1,5}\])?((==|>=|<|~=)[0-9]{1,3}(\.[0-9]{1,3}){0,2})?",
        fullmatch=True,
    ),
)


@settings(
    max_examples=int(os.environ.get("GTURRET_FUZZ_REQUIREMENTS", "2000")),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(line=_LINES)
def test_any_line_is_either_a_plain_requirement_for_pip_or_refused(line: str) -> None:
    """Whatever is accepted, pip itself reads as a name to look up in its index."""
    try:
        canonical = plain_requirement(line)
    except ValueError as refused:
        assert str(refused) and "\n" not in str(refused)
        return
    assert canonical.isascii() and canonical.isprintable()
    assert not set(canonical) & set("/\\@:#$")
    assert not any(word.startswith("-") for word in canonical.split())
    requirement = Requirement(canonical)
    assert requirement.url is None
    assert all(spec.operator != "===" for spec in requirement.specifier)
    parsed = install_req_from_line(canonical)
    assert parsed.link is None and not parsed.editable
    assert parsed.req is not None and parsed.req.name == requirement.name


def test_a_plain_name_and_version_is_accepted_whatever_hypothesis_makes_of_it() -> None:
    """The generator above can make plain lines, so the property is not vacuous."""
    assert plain_requirement("gturret-probe-dep==1.0") == "gturret-probe-dep==1.0"


def _pip_environment(tmp_path: Path, index: str) -> dict[str, str]:
    """pip pointed at ``index`` (a local recorder) and nothing else: no config files."""
    env = {
        **os.environ,
        "GTURRET_CACHE": str(tmp_path / "cache"),
        "PIP_INDEX_URL": f"{index}/simple/",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_RETRIES": "0",
    }
    for name in ("PIP_NO_INDEX", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
        env.pop(name, None)
    return env


def _turret(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``gturret ARGS`` to its exit (a turret that got past its requirements would wait
    for an HQ that is not there: the timeout makes that a failure, not a hang)."""
    return subprocess.run(
        [*GTURRET, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _refused(done: subprocess.CompletedProcess[str], requirement: str, why: str) -> None:
    errors = [line for line in done.stderr.splitlines() if line.startswith("gturret: error:")]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1, done.stderr
    assert repr(requirement[:80])[1:-1] in errors[0] and why in errors[0], errors[0]


HOSTILE_CLI = [
    ("gturret-probe-dep @ {index}/gturret_probe_dep-1.0-py3-none-any.whl", "a URL"),
    ("gturret-probe-dep==1.0\n--index-url {index}/evil/", "a newline"),
    ("git+{index}/probe.git#egg=gturret-probe-dep", "a URL or VCS reference"),
    ("{wheel}", "a path"),
    ("gturret-probe-dep===1.0 ; python_version >= '3'", "'===' takes any text"),
]


@pytest.mark.parametrize(("template", "why"), HOSTILE_CLI)
def test_the_turret_refuses_a_hostile_requirement_before_pip_runs(
    tmp_path: Path, template: str, why: str
) -> None:
    wheel = probe_wheel(tmp_path / "wheels")
    with recording_server() as (index, requests):
        line = template.format(index=index, wheel=wheel)
        config = write_turret(tmp_path, SCRIPT, requirements=[line])
        done = _turret([str(config)], tmp_path, _pip_environment(tmp_path, index))
        _refused(done, line, why)
        assert requests == [], f"pip ran and asked: {requests}"
    assert not (tmp_path / "cache" / "venvs").exists()


def test_a_tar_whose_requirements_file_points_elsewhere_is_refused_before_pip_runs(
    tmp_path: Path,
) -> None:
    with recording_server() as (index, requests):
        line = f"gturret-probe-dep @ {index}/gturret_probe_dep-1.0-py3-none-any.whl"
        members = {
            "config.json": json.dumps(
                {
                    "name": "packed",
                    "canons": 1,
                    "script": "v_user.py",
                    "hq_address": "127.0.0.1",
                    "hq_publisher": 1,
                    "hq_rc": 1,
                    "requirements": "requirements.txt",
                }
            ),
            "v_user.py": SCRIPT,
            "requirements.txt": f"# what the script imports\nrequests\n{line}\n",
        }
        pack = tmp_path / "packed.tar.gz"
        with tarfile.open(pack, "w:gz") as tar:
            for name, text in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(text.encode())
                tar.addfile(info, io.BytesIO(text.encode()))
        done = _turret(["--tar", str(pack)], tmp_path, _pip_environment(tmp_path, index))
        _refused(done, line, "a URL")
        assert requests == [], f"pip ran and asked: {requests}"


def test_pip_looks_a_plain_requirement_up_in_the_index_of_its_environment(
    tmp_path: Path,
) -> None:
    """The other half: a plain line goes to pip's own index (here a local recorder that
    has nothing, so the install fails in one line), and to no other place."""
    with recording_server() as (index, requests):
        config = write_turret(tmp_path, SCRIPT, requirements=["gturret-probe-dep==1.0"])
        done = _turret([str(config)], tmp_path, _pip_environment(tmp_path, index))
        assert done.returncode == 2, done.stderr
        assert "could not install its requirements" in done.stderr
        assert requests, "pip never asked the index of its environment"
        assert all(" /simple/gturret-probe-dep/ " in request for request in requests), requests
