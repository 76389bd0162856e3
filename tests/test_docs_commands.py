"""Every command the README and docs/*.md show runs as shown, or is listed with a reason.

The shell blocks (```sh) of the docs are read as a reader types them; each command
is either run here, as written, in a copy of the repository root as ``make run``
leaves it (``.venv``, ``out/``) with the venv activated, or listed in ``NOT_HERE``
with why it cannot run on this machine. A new command that is neither fails
``test_every_command_is_run_or_listed``, and a fenced block without a language fails
too (so a command cannot hide in a block that is not ``sh``), so the docs cannot
drift from the code again.

What running "as written" changes, and nothing else: long ``--run-time``s become
short ones, and the fixed ports (5000/5001 of the HQ, 9464 of the metrics, 8089 of
the demo target, in the commands and in the copy's ``example_scripts/config.json``)
become free ones, since other test runs share this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.demo_target import demo_target
from tests.support.doc_blocks import fenced_blocks, shell_commands
from tests.support.peers import ROOT, free_ports

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VENV_BIN = Path(sys.executable).parent
SHORT_RUN = "1s"
TIMEOUT_S = 60

#: Why the container commands of docs/containers.md do not run here.
ENGINE = "needs a Docker engine: tests/test_containers.py does the same in make test-system"
#: Commands that cannot run on this machine, each with the reason.
NOT_HERE = {
    "make run": "the demo on fixed ports 8089 and 9464, shared with every checkout on this"
    " machine; its refusal of a taken port is tests/test_make_run.py",
    "make test": "the suite this test is part of",
    "make test-system": "the system tests: the real peers (make peers, chromium, prometheus)",
    "make test-slow": "the slow soaks, minutes long",
    "make lint": "ruff and mypy over the tree: CI's own step (.ci/run), not a doc example",
    "make bench": "about 50 minutes, pinned to both CPUs",
    "make clean": "removes the venv this test runs in",
    "gturret-hq --bind 0.0.0.0 --pub 5000 --rc 5001 --turrets 4 --run-time 10m"
    " --threshold 'p95<200ms' --threshold 'error_rate<1%' --json report.json": "binds every"
    " interface (tests stay on 127.0.0.1); the same HQ on loopback runs above",
    "scp turret.tar.gz turret-host-1:": "another host",
    "ssh turret-host-1 'gturret --tar turret.tar.gz --processes -1'": "another host",
    "sudo cp example_scripts/gturret-turret.service /etc/systemd/system/": "installs a"
    " systemd unit on a turret host",
    "sudo systemctl daemon-reload && sudo systemctl enable --now gturret-turret": "systemd"
    " on a turret host",
    "journalctl -u gturret-turret -f": "systemd's journal on a turret host, followed forever",
    "scp eu-1.key hq:turret_keys/": "another host",
    "scp hq.key eu-1:": "another host",
    "gturret-hq --bind 0.0.0.0 --turrets 2 --run-time 2m --secret-key hq.key_secret"
    " --turret-keys turret_keys": "on the HQ's host, every interface, with eu-1's key copied"
    " over by scp; tests/test_curve.py runs keyed HQs and turrets on loopback",
    "gturret config.json --processes -1": "on the turret host eu-1, whose config.json names"
    " the HQ at 10.0.0.5",
    "gturret-hq --turrets 10 --run-time 2h --journal run.journal --html report.html": "ten"
    " turrets for two hours; tests/test_hq_resume.py journals, kills and resumes real HQs",
    "gturret-hq --resume run.journal --html report.html": "needs the run above, its HQ"
    " killed; tests/test_hq_resume.py resumes real HQs",
    "gturret-hq report run.journal --json s.json --html r.html --junit j.xml --csv out/run": (
        "needs the run above; tests/test_hq_journal.py reports from real journals"
    ),
    "docker build -t gturret .": "pulls python:3.11-slim, which these machines cannot;"
    " make test-system builds the image as make image does (tests/support/docker_engine.py)",
    "make image": ENGINE,
    "docker compose -f deploy/compose.yaml up --scale turret=4 --exit-code-from hq": "a"
    " Docker engine and compose; make test-system runs the same containers as a swarm stack",
    "mkdir -p deploy/keys/turrets": ENGINE,
    "gturret-keys --dir deploy/keys hq": ENGINE,
    "gturret-keys --dir deploy/keys turret": ENGINE,
    "cp deploy/keys/turret.key deploy/keys/turrets/": ENGINE,
    "docker stack deploy -c deploy/stack.yaml gturret": ENGINE,
    'docker run --rm --network gturret_net --network-alias hq -v "$PWD/deploy/keys:/keys:ro"'
    ' -v "$PWD/out:/out" gturret gturret-hq --bind 0.0.0.0 --pub 5000 --rc 5001 --turrets 4'
    " --run-time 2m --secret-key /keys/hq.key_secret --turret-keys /keys/turrets --json"
    " /out/summary.json": ENGINE,
    "mkdir -p deploy/kubernetes/keys": "keys for a cluster; tests/test_kubernetes.py renders"
    " a copy of the base with keys of its own",
    "gturret-keys --dir deploy/kubernetes/keys hq": "keys for a cluster; tests/test_kubernetes.py"
    " makes its own",
    "gturret-keys --dir deploy/kubernetes/keys turret": "keys for a cluster;"
    " tests/test_kubernetes.py makes its own",
    "kubectl apply -k deploy/kubernetes/": "no cluster runs here; tests/test_kubernetes.py"
    " renders, validates and runs each pod with docker",
    "kubectl wait --for=condition=complete job/gturret-hq": "no cluster runs here",
    "kubectl logs job/gturret-hq": "no cluster runs here",
    "gturret-hq --turrets 3 --web 8765": "waits for a person to press Start, on the fixed port"
    " 8765; tests/test_hq_console.py runs the console on a free port",
    "gturret-hq --turrets 3 --web 8765 --autostart --run-time 10m": "ten minutes on the fixed"
    " port 8765; tests/test_hq_console.py runs --autostart consoles on free ports",
    "gturret example_scripts/config.json --standalone --web 8765": "waits for a person to"
    " press Start; tests/test_hq_console_browser.py presses it in Chromium",
    "curl -s -X POST -H 'Content-Type: application/json' -d '{\"arrival_rate\": 200}'"
    " http://127.0.0.1:8765/api/rate": "needs a console running a paced test on port 8765;"
    " tests/test_hq_console.py posts the same",
}

#: How each command that runs here is run: ``plain`` to its end (exit 0), ``test`` to its
#: verdict, ``turret`` beside an HQ that runs one test with it, ``hq`` beside the turrets
#: it waits for (``--turrets N``). A verdict may be FAIL on a machine loaded by other
#: work (a p95 threshold, starved canons in a 1 s test): the command ran as shown when
#: it reached a verdict (exit 0 or 1, never 2: refused usage, a port, a report path).
RUNS = {
    "gturret example_scripts/config.json": "turret",
    "python -m gturret example_scripts/config.json": "turret",
    "gturret pack example_scripts/config.json -o turret.tar.gz": "plain",
    "gturret --tar turret.tar.gz": "turret",
    'gturret example_scripts/config.json --standalone --run-time 30s --threshold "p95<250ms"'
    ' --threshold "error_rate<1%" --json out/summary.json --html out/report.html': "test",
    "gturret-hq --pub 5000 --rc 5001 --turrets 3 --run-time 2m --html report.html": "hq",
    "gturret-hq --turrets 3 --run-time 2m --threshold 'p95<200ms' --threshold"
    " 'error_rate<1%' --html report.html --json report.json": "hq",
    'gturret example_scripts/config.json --standalone --run-time 10s --threshold "p95<250ms"'
    " --json out/summary.json --html out/report.html --junit out/junit.xml --csv out/gturret"
    " --metrics-port 9464": "test",
    "gturret-keys hq": "plain",
    "mkdir turret_keys": "plain",
    "gturret-keys eu-1": "plain",
}


def documented() -> list[tuple[str, str]]:
    """Every shell command of the docs in reading order, with where it is, once each."""
    seen: dict[str, str] = {}
    for path in DOCS:
        for block in fenced_blocks(path):
            if block.lang == "sh":
                for command in shell_commands(block.text):
                    seen.setdefault(command, block.where)
    return list(seen.items())


def test_every_fenced_block_says_what_it_holds():
    """``sh`` for commands, ``text``/``json``/... for the rest: no unmarked block."""
    unmarked = [block.where for path in DOCS for block in fenced_blocks(path) if not block.lang]
    assert not unmarked, f"fenced blocks without a language: {unmarked}"


def test_every_command_is_run_or_listed():
    commands = dict(documented())
    neither = [f"{where}: {command}" for command, where in commands.items()
               if command not in RUNS and command not in NOT_HERE]  # fmt: skip
    assert not neither, "commands neither run here nor listed in NOT_HERE:\n" + "\n".join(neither)
    stale = sorted((set(RUNS) | set(NOT_HERE)) - set(commands))
    assert not stale, f"listed, but in no doc any more: {stale}"
    assert not set(RUNS) & set(NOT_HERE)


@dataclass
class Sandbox:
    """A copy of the repository root as ``make run`` leaves it, on free ports."""

    root: Path
    env: dict[str, str]
    pub: int
    rc: int
    target: str

    def rewrite(self, command: str) -> str:
        """The command with a short run time and this sandbox's free ports."""
        command = re.sub(r"--run-time \S+", f"--run-time {SHORT_RUN}", command)
        (metrics,) = free_ports(1)
        command = re.sub(r"--metrics-port \d+", f"--metrics-port {metrics}", command)
        command = re.sub(r"--pub \d+", f"--pub {self.pub}", command)
        command = re.sub(r"--rc \d+", f"--rc {self.rc}", command)
        if command.startswith("gturret-hq") and "--pub" not in command:
            command += f" --pub {self.pub} --rc {self.rc}"
        return command

    def popen(self, command: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                ["bash", "-c", command],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "example_scripts", root / "example_scripts")
    (root / "out").mkdir()
    (root / ".venv").symlink_to(VENV_BIN.parent)
    pub, rc = free_ports(2)
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    with demo_target() as port:
        target = f"http://127.0.0.1:{port}"
        config = root / "example_scripts" / "config.json"
        text = config.read_text().replace("http://127.0.0.1:8089", target)
        text = re.sub(r'"hq_publisher": \d+', f'"hq_publisher": {pub}', text)
        text = re.sub(r'"hq_rc": \d+', f'"hq_rc": {rc}', text)
        config.write_text(text)
        (root / "helper").mkdir()
        helper = re.sub(r'"rampup": \d+', '"rampup": 0', text)
        (root / "helper" / "config.json").write_text(
            re.sub(r'"canons": \d+', '"canons": 2', helper)
        )
        shutil.copy(root / "example_scripts" / "v_user.py", root / "helper")
        yield Sandbox(root, env, pub, rc, target)


def finish(process: subprocess.Popen[bytes], log: Path) -> int:
    try:
        return process.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"still running after {TIMEOUT_S}s:\n{log.read_text()}") from None


def stop(process: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM, as a reader's Ctrl-C or a service stop; the turret exits 0 after it."""
    process.send_signal(signal.SIGTERM)
    return finish(process, log)


def reached_a_verdict(command: str, code: int, log: Path) -> None:
    output = log.read_text()
    verdict = re.search(r"^(PASS|FAIL)\b", output, re.MULTILINE)
    assert code in (0, 1) and verdict, f"{command} exited {code}, no verdict:\n{output}"


def run_plain(box: Sandbox, command: str, log: Path) -> None:
    code = finish(box.popen(command, log), log)
    assert code == 0, f"{command} exited {code}:\n{log.read_text()}"


def run_test(box: Sandbox, command: str, log: Path) -> None:
    reached_a_verdict(command, finish(box.popen(command, log), log), log)


def run_turret(box: Sandbox, command: str, log: Path) -> None:
    """The turret waits for orders; one short test from our HQ, then SIGTERM ends it."""
    turret = box.popen(command, log)
    try:
        hq_log = log.with_suffix(".hq.log")
        hq = box.popen(
            f"gturret-hq --pub {box.pub} --rc {box.rc} --run-time {SHORT_RUN} --no-progress",
            hq_log,
        )
        reached_a_verdict(f"the HQ for {command}", finish(hq, hq_log), hq_log)
    finally:
        code = stop(turret, log)
    assert code == 0, f"{command} exited {code} on SIGTERM:\n{log.read_text()}"


def run_hq(box: Sandbox, command: str, log: Path) -> None:
    """The HQ waits for ``--turrets N``: N small turrets of the demo script join it."""
    match = re.search(r"--turrets (\d+)", command)
    count = int(match[1]) if match else 1
    helpers = [
        box.popen("gturret helper/config.json", log.with_suffix(f".turret{i}.log"))
        for i in range(count)
    ]
    try:
        code = finish(box.popen(command, log), log)
    finally:
        for i, helper in enumerate(helpers):
            stop(helper, log.with_suffix(f".turret{i}.log"))
    reached_a_verdict(command, code, log)


RUNNERS = {"plain": run_plain, "test": run_test, "turret": run_turret, "hq": run_hq}


@pytest.mark.parametrize(
    "command",
    [command for command, _ in documented() if command in RUNS],
    ids=lambda command: re.sub(r"[^\w.-]+", "_", command)[:60],
)
def test_the_command_runs_as_shown(sandbox, command, tmp_path):
    """In reading order (``gturret --tar`` runs the pack ``gturret pack`` made)."""
    RUNNERS[RUNS[command]](sandbox, sandbox.rewrite(command), tmp_path / "command.log")
