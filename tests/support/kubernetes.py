"""deploy/kubernetes rendered as a cluster would get it, and its pods run with ``docker run``.

No cluster runs on these machines. ``render`` gives the objects ``kubectl apply -k``
would send (with keys of its own: the base reads them from ``keys/``); ``PodRunner``
runs a pod template's containers as a kubelet would, as far as docker can: the init
containers first, then the containers, with the template's image, command, args,
environment (the pod name for ``fieldRef: metadata.name``), user, read-only root,
dropped capabilities and limits; ConfigMap and Secret volumes as folders of their
keys (a Secret's files with its ``defaultMode``, group ``fsGroup``), emptyDirs as
folders the pod's containers share; on one network, where each Service's name is a
DNS alias of the pods it selects. What this does not prove (scheduling, a cluster's
DNS, pod limits as the kubelet enforces them) docs/kubernetes.md says.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.docker_engine import docker, unique
from tests.support.peers import ROOT, unavailable

BASE = ROOT / "deploy" / "kubernetes"
GTURRET_KEYS = ROOT / ".venv" / "bin" / "gturret-keys"


def render(folder: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of a copy of the base in ``folder``, with fresh keys."""
    if shutil.which("kubectl") is None:
        unavailable("no kubectl on the PATH (it renders deploy/kubernetes with kustomize)")
    copy = folder / "kubernetes"
    shutil.copytree(BASE, copy, ignore=shutil.ignore_patterns("keys"))
    (copy / "keys").mkdir()
    for name in ("hq", "turret"):
        subprocess.run(
            [str(GTURRET_KEYS), "--dir", str(copy / "keys"), name], check=True, capture_output=True
        )
    done = subprocess.run(
        ["kubectl", "kustomize", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (folder / "rendered.yaml").write_text(done.stdout)
    return [item for item in yaml.safe_load_all(done.stdout) if item]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container_args(container: dict[str, Any], option: str) -> str:
    """The value of ``--option=value`` in a container's args."""
    prefix = f"{option}="
    return next(arg[len(prefix) :] for arg in container["args"] if arg.startswith(prefix))


@dataclass
class PodRunner:
    """Runs pod templates of ``objects`` on one docker network of its own."""

    objects: list[dict[str, Any]]
    image: str
    folder: Path
    network: str = field(default_factory=lambda: unique("kube"))
    containers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        docker("network", "create", self.network)

    def close(self) -> None:
        """Remove every container this runner started, and its network."""
        if self.containers:
            docker("rm", "--force", *self.containers, check=False)
        docker("network", "rm", self.network, check=False)

    def start_pod(self, template: dict[str, Any], pod: str) -> str:
        """Run the init containers to completion, then start the (first) container;
        its container id."""
        spec = template["spec"]
        volumes = self._volumes(spec, pod)
        for init in spec.get("initContainers", []):
            name = self._run(init, spec, volumes, pod, template, detach=False)
            code = docker("wait", name).stdout.strip()
            assert code == "0", f"init container {init['name']} of {pod}: {docker('logs', name)}"
        (main,) = spec["containers"]
        return self._run(main, spec, volumes, pod, template, detach=True)

    def _run(
        self,
        container: dict[str, Any],
        spec: dict[str, Any],
        volumes: dict[str, Path],
        pod: str,
        template: dict[str, Any],
        *,
        detach: bool,
    ) -> str:
        name = f"{pod}-{container['name']}"
        pod_security = spec.get("securityContext", {})
        security = container.get("securityContext", {})
        limits = container.get("resources", {}).get("limits", {})
        image = container["image"]
        assert image.split(":")[0] == "gturret", f"unexpected image {image}"
        command = [*container.get("command", []), *container.get("args", [])]
        options = ["--name", name, "--network", self.network, "--hostname", pod]
        options += [f"--network-alias={alias}" for alias in self._aliases(template)]
        options += ["--user", f"{pod_security['runAsUser']}:{pod_security['runAsGroup']}"]
        if security.get("readOnlyRootFilesystem"):
            options.append("--read-only")
        if "ALL" in security.get("capabilities", {}).get("drop", []):
            options += ["--cap-drop", "ALL"]
        if security.get("allowPrivilegeEscalation") is False:
            options += ["--security-opt", "no-new-privileges"]
        if "memory" in limits:
            options += ["--memory", _bytes(limits["memory"])]
        if "cpu" in limits:
            options += ["--cpus", _cpus(limits["cpu"])]
        for variable in container.get("env", []):
            options += ["--env", f"{variable['name']}={self._value(variable, pod)}"]
        for mount in container.get("volumeMounts", []):
            mode = "ro" if mount.get("readOnly") else "rw"
            options += ["--volume", f"{volumes[mount['name']]}:{mount['mountPath']}:{mode}"]
        options += ["--entrypoint", command[0]]
        docker("run", "--detach", *options, self.image, *command[1:])
        self.containers.append(name)
        return name

    def _aliases(self, template: dict[str, Any]) -> list[str]:
        """The Services whose selector picks this pod template: its DNS names."""
        labels = template["metadata"].get("labels", {})
        return [
            service["metadata"]["name"]
            for service in self.objects
            if service["kind"] == "Service"
            and service["spec"]["selector"].items() <= labels.items()
        ]

    @staticmethod
    def _value(variable: dict[str, Any], pod: str) -> str:
        if "value" in variable:
            return str(variable["value"])
        path = variable["valueFrom"]["fieldRef"]["fieldPath"]
        assert path == "metadata.name", f"unsupported fieldRef {path}"
        return pod

    def _volumes(self, spec: dict[str, Any], pod: str) -> dict[str, Path]:
        """Each of the pod's volumes as a folder, filled and owned as a kubelet would."""
        group = spec.get("securityContext", {}).get("fsGroup", 0)
        folders = {}
        for volume in spec.get("volumes", []):
            folder = self.folder / pod / volume["name"]
            folder.mkdir(parents=True)
            if "configMap" in volume:
                data = self._object("ConfigMap", volume["configMap"]["name"])["data"]
                for key, text in data.items():
                    (folder / key).write_text(text)
                    (folder / key).chmod(0o644)
            elif "secret" in volume:
                secret = volume["secret"]
                data = self._object("Secret", secret["secretName"])["data"]
                for key, encoded in data.items():
                    (folder / key).write_bytes(base64.b64decode(encoded))
                    os.chown(folder / key, 0, group)
                    (folder / key).chmod(secret.get("defaultMode", 0o644))
            else:
                assert "emptyDir" in volume, f"unsupported volume {volume}"
                folder.chmod(0o777)
            folders[volume["name"]] = folder
        return folders

    def _object(self, kind: str, name: str) -> dict[str, Any]:
        return find(self.objects, kind, name)


def _bytes(quantity: str) -> str:
    """A Kubernetes memory quantity (``256Mi``) as docker's ``--memory`` takes it."""
    units = {"Ki": "k", "Mi": "m", "Gi": "g"}
    for suffix, unit in units.items():
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + unit
    return quantity


def _cpus(quantity: str) -> str:
    """A Kubernetes CPU quantity (``500m``, ``1``) as docker's ``--cpus`` takes it."""
    if quantity.endswith("m"):
        return str(int(quantity[:-1]) / 1000)
    return quantity
