"""deploy/kubernetes: rendered by kustomize, accepted by the API schemas, and run.

``make test``: ``kubectl kustomize`` renders the base and ``kubernetes-validate``
(strict: an unknown field is an error) accepts every object against a recent
Kubernetes; the HQ and turret Jobs agree on the number of turrets. ``make
test-system``: every rendered pod runs with ``docker run`` on one network, each
Service's name a DNS alias (``tests/support/kubernetes.py``), and the test passes as
it would in a cluster: the HQ Job's container exits 0 with every result, the turret
Job's pods exit 0 at ``--kill-turrets``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.docker_engine import docker
from tests.support.kubernetes import PodRunner, container_args, find, render
from tests.support.waiting import wait_until

VALIDATE = Path(sys.executable).with_name("kubernetes-validate")
#: The Kubernetes release the objects are checked against: a recent one.
KUBERNETES = "1.35.0"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VALIDATE), "--strict", "--kubernetes-version", KUBERNETES, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def objects(tmp_path: Path) -> list[dict[str, Any]]:
    return render(tmp_path)


def test_every_rendered_object_is_valid_kubernetes(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    done = validate(tmp_path / "rendered.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    kinds = sorted((o["kind"], o["metadata"]["name"].rsplit("-", 1)[0]) for o in objects)
    assert ("Job", "gturret") in kinds and ("Service", "gturret") in kinds
    assert done.stdout.count("passed for resource") == len(objects), done.stdout


def test_strict_validation_refuses_an_unknown_field(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The check above can fail: a misspelt field of the HQ Job is refused."""
    find(objects, "Job", "gturret-hq")["spec"]["backofLimit"] = 0
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(objects))
    done = validate(broken)
    assert done.returncode != 0
    assert "backofLimit" in done.stdout + done.stderr


def test_the_jobs_agree_and_a_failed_test_fails_the_job(objects: list[dict[str, Any]]) -> None:
    hq = find(objects, "Job", "gturret-hq")
    turrets = find(objects, "Job", "gturret-turrets")["spec"]
    (hq_container,) = hq["spec"]["template"]["spec"]["containers"]
    assert hq["spec"]["backoffLimit"] == 0
    assert int(container_args(hq_container, "--turrets")) == turrets["parallelism"]
    assert turrets["completions"] == turrets["parallelism"]
    assert "--kill-turrets" in hq_container["args"]
    for pod in (hq["spec"]["template"], turrets["template"]):
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["resources"]["limits"] and container["resources"]["requests"]


@pytest.mark.system
@pytest.mark.timeout(900)
def test_each_rendered_pod_runs_and_the_test_passes(
    image: str, objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    """As rendered, but a 5 s test rather than the base's 2 minutes."""
    hq_job = find(objects, "Job", "gturret-hq")
    (hq_container,) = hq_job["spec"]["template"]["spec"]["containers"]
    hq_container["args"] = [
        "--run-time=5s" if arg.startswith("--run-time=") else arg for arg in hq_container["args"]
    ]
    turrets = find(objects, "Job", "gturret-turrets")["spec"]
    runner = PodRunner(objects, image, tmp_path / "pods")
    try:
        target = find(objects, "Deployment", "gturret-target")["spec"]["template"]
        runner.start_pod(target, "gturret-target-0")
        hq = runner.start_pod(hq_job["spec"]["template"], "gturret-hq-0")
        pods = [
            runner.start_pod(turrets["template"], f"gturret-turrets-{index}")
            for index in range(turrets["parallelism"])
        ]
        hq_status = docker("wait", hq, timeout=300).stdout.strip()
        logs = docker("logs", hq)
        assert hq_status == "0", logs.stdout + logs.stderr
        for pod in pods:
            wait_until(lambda pod=pod: _exited(pod), f"{pod} exited", 60)
            assert docker("inspect", "--format", "{{.State.ExitCode}}", pod).stdout.strip() == "0"
        summary = json.loads(
            (tmp_path / "pods" / "gturret-hq-0" / "out" / "summary.json").read_text()
        )
        assert len(summary["results_by_turret"]) == turrets["parallelism"]
        assert all(row["lost"] == 0 for row in summary["delivery"]), summary["delivery"]
    finally:
        runner.close()


def _exited(container: str) -> bool:
    return docker("inspect", "--format", "{{.State.Status}}", container).stdout.strip() == "exited"
