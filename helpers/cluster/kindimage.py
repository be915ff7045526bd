"""The course's own kind node image, for machines where no registry answers.

kind's ``kind build node-image`` fetches etcd, CoreDNS, pause and its CNI images from a
registry whatever is present locally, so offline we assemble the node image with the same
steps its builder performs (kind v0.32.0, ``pkg/build/nodeimage``), from the course's
own builds:

1. a Debian root filesystem (mmdebstrap, bookworm: systemd 252 still boots on cgroup v1)
   with the packages of kind's ``images/base/Dockerfile`` (plus Debian's runc and CNI
   plugins), and the Dockerfile's systemd tweaks;
2. a second layer with kind's ``images/base/files``, the course's binaries at the
   Dockerfile's paths, a bridge CNI configuration and ``/kind/version``;
3. the component images kubeadm runs (kube-apiserver, kube-controller-manager,
   kube-scheduler, kube-proxy, etcd, CoreDNS, pause) as docker-archives, imported into the
   node's containerd pinned, in a build container that is then committed.

The image is tagged ``sa-course/kind-node:v<kubernetes>-<recipe>``, where the recipe hash
covers everything that built it, so a second run finds it in Docker at once. Every
intermediate file lives under ``<cache>/kind-image``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import build, config, debian, host, images
from .debian import DEBIAN_SUITE, ensure_rootfs
from .errors import ClusterError
from .images import Entry, HostFile
from .progress import Progress
from .waiting import poll_until

NODE_IMAGE_REPOSITORY = "sa-course/kind-node"
#: kind's base image packages, less the storage and rootless ones (nfs, iscsi, fuse),
#: plus runc and the CNI plugins (kind builds both; we take Debian's).
NODE_PACKAGES = (
    "systemd",
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "bash",
    "ca-certificates",
    "curl",
    "jq",
    "procps",
    "runc",
    "containernetworking-plugins",
)
#: The userland kube-proxy runs (iptables mode); unpacked only, no shell, no package manager.
KUBE_PROXY_PACKAGES = ("iptables", "nftables", "conntrack")
#: Debian's default iptables backend; the node's entrypoint picks the same one on such hosts.
IPTABLES_COMMANDS = tuple(
    f"{family}{suffix}"
    for family in ("iptables", "ip6tables")
    for suffix in ("", "-save", "-restore")
)

#: kind's default Pod network; the baked-in bridge configuration hands out its first /24.
POD_SUBNET = "10.244.0.0/16"
POD_RANGE = "10.244.0.0/24"


#: Tags the component images carry: what kubeadm asks for, where we build that version;
#: the truth otherwise (the cluster config then tells kubeadm, see ``kubeadm_patch``).
def etcd_tag() -> str:
    """etcd's image tag: the version the chosen release's kubeadm pins (built, never pulled)."""
    return config.ETCD_VERSION


def coredns_tag() -> str:
    """CoreDNS's image tag, likewise."""
    return config.COREDNS_VERSION


REGISTRY = "registry.k8s.io"
#: containerd's sandbox image in kind's config, replaced by the pause image we build.
KIND_SANDBOX_LINE = 'sandbox_image = "registry.k8s.io/pause:3.10"'
ENTRYPOINT = ["/usr/local/bin/entrypoint", "/sbin/init"]
#: How kind's builder imports images: pinned (never garbage-collected), not unpacked.
CTR_IMPORT = (
    "ctr",
    "--namespace=k8s.io",
    "images",
    "import",
    "--label=io.cri-containerd.pinned=pinned",
    "--all-platforms",
    "--no-unpack",
    "--digests",
    "-",
)
PATH_ENV = images.PATH_ENV
#: The Dockerfile's systemd tweaks, run on the new root filesystem ("$1") by mmdebstrap.
ROOTFS_HOOKS = (
    'rm -f "$1"/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service',
    'rm -f "$1"/lib/systemd/system/multi-user.target.wants/* "$1"/etc/systemd/system/*.wants/*'
    ' "$1"/lib/systemd/system/local-fs.target.wants/* "$1"/lib/systemd/system/basic.target.wants/*'
    ' "$1"/lib/systemd/system/sockets.target.wants/*udev*'
    ' "$1"/lib/systemd/system/sockets.target.wants/*initctl*',
    'echo "ReadKMsg=no" >> "$1"/etc/systemd/journald.conf',
    'ln -sf /usr/lib/systemd/systemd "$1"/sbin/init',
)
#: Units the Dockerfile enables (multi-user.target wants them) and the one it masks.
ENABLED_UNITS = ("kubelet.service", "containerd.service", "undo-mount-hacks.service")
MASKED_UNITS = ("systemd-binfmt.service",)


# -- what the image is made of -----------------------------------------------------------


@dataclass(frozen=True)
class ComponentImage:
    """One image kubeadm runs: its tag, binary, where the binary goes and the base it needs."""

    tag: str
    binary: Path
    path: str
    image_config: dict
    base: str = ""  # "" (just the binary) or "kube-proxy" (the iptables userland)

    @property
    def name(self) -> str:
        return self.tag.rsplit("/", 1)[1].split(":")[0]


def component_images(bins: Mapping[str, Path]) -> list[ComponentImage]:
    """The control-plane, kube-proxy, etcd and CoreDNS images, tagged as kubeadm asks."""
    version = f"v{config.KUBERNETES_VERSION}"
    out = []
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        out.append(
            ComponentImage(
                tag=f"{REGISTRY}/{name}:{version}",
                binary=bins[name],
                path=f"usr/local/bin/{name}",
                image_config={"Entrypoint": [f"/usr/local/bin/{name}"], "Env": [PATH_ENV]},
                base="kube-proxy" if name == "kube-proxy" else "",
            )
        )
    out.append(
        ComponentImage(
            tag=f"{REGISTRY}/etcd:{etcd_tag()}",
            binary=bins["etcd"],
            path="usr/local/bin/etcd",
            image_config={"Entrypoint": ["/usr/local/bin/etcd"], "Env": [PATH_ENV]},
        )
    )
    out.append(
        ComponentImage(
            tag=f"{REGISTRY}/coredns/coredns:{coredns_tag()}",
            binary=bins["coredns"],
            path="coredns",
            # like the upstream image: an unprivileged user (containerd lets Pods bind :53)
            image_config={"Entrypoint": ["/coredns"], "User": "65532:65532"},
        )
    )
    return out


def kubeadm_patch() -> dict:
    """The ClusterConfiguration patch that names the etcd and CoreDNS tags the image holds."""
    return {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "etcd": {"local": {"imageTag": etcd_tag()}},
        "dns": {"imageTag": coredns_tag()},
    }


def cni_conflist() -> str:
    """The bridge network baked into the node (kind's kindnetd is not available offline)."""
    doc = {
        "cniVersion": "1.0.0",
        "name": "sa-course-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_RANGE}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def containerd_config(kind_config_toml: str, sandbox_image: str | None = None) -> str:
    """kind's containerd config with the sandbox image we build instead of kind's pause:3.10."""
    if KIND_SANDBOX_LINE not in kind_config_toml:
        raise ClusterError(
            f"kind {config.KIND_VERSION}'s containerd config no longer names its sandbox image "
            f"as `{KIND_SANDBOX_LINE}`: update KIND_SANDBOX_LINE in helpers/cluster/kindimage.py."
        )
    image = sandbox_image or config.PAUSE_IMAGE
    return kind_config_toml.replace(KIND_SANDBOX_LINE, f'sandbox_image = "{image}"')


def cri_base_spec(default_spec: dict) -> dict:
    """kind's /etc/containerd/cri-base.json: ``ctr oci spec`` plus its hook, minus rlimits."""
    spec = json.loads(json.dumps(default_spec))
    hooks = spec.setdefault("hooks", {}).setdefault("createContainer", [])
    hooks.append({"path": "/kind/bin/mount-product-files.sh"})
    spec.get("process", {}).pop("rlimits", None)
    return spec


def kind_file_mode(relative: str) -> int:
    """The mode kind's Dockerfile gives a file of ``images/base/files``: scripts 0755."""
    return 0o755 if relative.startswith(("usr/local/bin/", "kind/bin/")) else 0o644


def kind_files(base_files: Path) -> list[Entry | HostFile]:
    """kind's ``images/base/files`` as layer entries, directories first, with kind's modes."""
    entries: list[Entry | HostFile] = []
    for path in sorted(base_files.rglob("*")):
        rel = path.relative_to(base_files).as_posix()
        if path.is_dir():
            entries.append(Entry(rel, "dir", mode=0o755))
        else:
            entries.append(HostFile(rel, path, mode=kind_file_mode(rel)))
    return entries


def node_layer_entries(
    base_files: Path,
    bins: Mapping[str, Path],
    containerd_toml: str,
    cri_base: dict,
) -> list[Entry | HostFile]:
    """Everything the course adds on top of Debian: kind's files, binaries, configuration."""
    dirs = (
        "etc",
        "etc/cni",
        "etc/cni/net.d",
        "etc/kubernetes",
        "etc/kubernetes/manifests",
        "etc/systemd",
        "etc/systemd/system",
        "etc/systemd/system/multi-user.target.wants",
        "opt",
        "opt/cni",
        "usr",
        "usr/bin",
        "usr/local",
        "usr/local/bin",
    )
    entries: list[Entry | HostFile] = [Entry(d, "dir", mode=0o755) for d in dirs]
    entries += kind_files(base_files)
    for name in ("containerd", "containerd-shim-runc-v2", "ctr", "crictl"):
        entries.append(HostFile(f"usr/local/bin/{name}", bins[name]))
    for name in ("kubeadm", "kubelet", "kubectl"):
        entries.append(HostFile(f"usr/bin/{name}", bins[name]))
    wants = "etc/systemd/system/multi-user.target.wants"
    entries += [
        Entry(f"{wants}/{u}", "symlink", target=f"/etc/systemd/system/{u}") for u in ENABLED_UNITS
    ]
    entries += [
        Entry(f"etc/systemd/system/{u}", "symlink", target="/dev/null") for u in MASKED_UNITS
    ]
    entries += [
        Entry("opt/cni/bin", "symlink", target="/usr/lib/cni"),
        Entry("etc/cni/net.d/10-sa-course-bridge.conflist", data=cni_conflist().encode()),
        # kubeadm's preflight wants forwarding on, whatever the Docker host set
        Entry("etc/sysctl.d/20-sa-course-forwarding.conf", data=b"net.ipv4.ip_forward=1\n"),
        Entry("etc/containerd/config.toml", data=containerd_toml.encode()),
        Entry("etc/containerd/cri-base.json", data=json.dumps(cri_base, indent=2).encode()),
        Entry("kind/version", data=f"v{config.KUBERNETES_VERSION}".encode()),
    ]
    return _last_wins(entries)


def _last_wins(entries: Iterable[Entry | HostFile]) -> list[Entry | HostFile]:
    """Drop earlier entries for a path that a later entry replaces (one member per path)."""
    by_path: dict[str, Entry | HostFile] = {}
    for e in entries:
        by_path.pop(e.path, None)
        by_path[e.path] = e
    return list(by_path.values())


# -- the recipe --------------------------------------------------------------------------


def recipe_inputs(layout: config.Layout, pause: Path) -> dict[str, str]:
    """Everything that decides the node image's content (cheap to compute: no commands);
    ``pause`` is the pause image's archive (:func:`ensure_inputs`)."""
    inputs = {
        "recipe": hashlib.sha256(
            Path(__file__).read_bytes() + Path(debian.__file__).read_bytes()
        ).hexdigest(),
        "kind": config.KIND_VERSION,
        "debian": " ".join([DEBIAN_SUITE, *NODE_PACKAGES, "|", *KUBE_PROXY_PACKAGES]),
        "pause": images.file_sha256(pause),
    }
    for make in build.KIND_NODE_BUILDS:
        b = make()
        inputs[b.key] = build.recipe_stamp(b, layout)
    return inputs


def recipe_hash(inputs: Mapping[str, str]) -> str:
    """A short fingerprint of the recipe inputs (order does not matter)."""
    return hashlib.sha256(json.dumps(dict(inputs), sort_keys=True).encode()).hexdigest()[:12]


def node_image_tag(recipe: str) -> str:
    """The course's node image tag for recipe hash ``recipe``."""
    return f"{NODE_IMAGE_REPOSITORY}:v{config.KUBERNETES_VERSION}-{recipe}"


# -- Docker ------------------------------------------------------------------------------


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


def docker(args: list[str], what: str, stdin: Path | None = None, timeout: float = 600) -> str:
    """Run ``docker args``; a ClusterError naming ``what`` failed if it does not succeed."""
    try:
        if stdin is None:
            proc = subprocess.run(
                ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        else:
            with stdin.open("rb") as fh:
                raw = subprocess.run(
                    ["docker", *args], stdin=fh, capture_output=True, timeout=timeout, check=False
                )
            proc = subprocess.CompletedProcess(
                raw.args,
                raw.returncode,
                raw.stdout.decode(errors="replace"),
                raw.stderr.decode(errors="replace"),
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterError(f"{what} failed ({exc}): check that Docker answers and retry.") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClusterError(f"{what} failed ({last}): check that Docker answers and retry.")
    return proc.stdout


def image_present(ref: str) -> bool:
    """True if Docker has image ``ref`` locally."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return proc.returncode == 0


# -- building ----------------------------------------------------------------------------


def image_dir(layout: config.Layout) -> Path:
    """Where the node image's intermediate files are kept."""
    return layout.cache / "kind-image"


def ensure_inputs(layout: config.Layout, progress: Progress) -> dict[str, Path]:
    """Build (or find in the cache) every binary and image the node needs; name -> path."""
    bins: dict[str, Path] = {}
    for make in build.KIND_NODE_BUILDS:
        bins.update(build.ensure_built(make(), layout, progress).paths)
    if host.can_install_packages():
        host.ensure_packages(progress, only=host.IMAGE_PACKAGES)
    tars = images.ensure_images(layout, progress)
    bins["pause.tar"] = tars[config.PAUSE_IMAGE]
    return bins


def ensure_node_image(layout: config.Layout | None = None, progress: Progress | None = None) -> str:
    """The tag of the course's kind node image, built unless Docker already has it."""
    layout = layout or config.Layout()
    progress = progress or Progress()
    if not docker_available():
        raise ClusterError(
            "The kind node image is assembled with Docker, and no Docker engine answers here: "
            "start Docker and retry."
        )
    bins = ensure_inputs(layout, progress)
    recipe = recipe_hash(recipe_inputs(layout, bins["pause.tar"]))
    tag = node_image_tag(recipe)
    if image_present(tag):
        return tag
    started = time.monotonic()
    with progress.stage(f"assembling the kind node image {tag} (once; no registry needed)"):
        work = image_dir(layout) / recipe
        work.mkdir(parents=True, exist_ok=True)
        node_rootfs = ensure_rootfs(
            layout, "node", "minbase", NODE_PACKAGES, ROOTFS_HOOKS, progress
        )
        proxy_rootfs = ensure_rootfs(
            layout, "kube-proxy", "extract", KUBE_PROXY_PACKAGES, iptables_hooks(), progress
        )
        archives = write_component_archives(work, bins, proxy_rootfs, progress)
        base_tag = f"{NODE_IMAGE_REPOSITORY}-base:{recipe}"
        base = write_node_base(work, layout, bins, node_rootfs, base_tag, progress)
        with progress.stage("loading the node's base image into Docker"):
            docker(["load", "--input", str(base)], "Loading the kind node base image")
        try:
            commit_with_images(base_tag, tag, archives, progress)
        finally:
            subprocess.run(
                ["docker", "image", "rm", base_tag], capture_output=True, check=False, timeout=300
            )
        prune_other_recipes(layout, recipe)
        # Docker holds these bytes now; they are rewritten in seconds from the cached parts
        for archive in (base, *archives.values()):
            if archive.parent == work:
                archive.unlink()
    _record_time(layout, time.monotonic() - started)
    return tag


def iptables_hooks() -> tuple[str, ...]:
    """Point iptables & co. at Debian's nft backend in an unpacked root filesystem."""
    return tuple(f'ln -sf xtables-nft-multi "$1"/usr/sbin/{c}' for c in IPTABLES_COMMANDS)


def write_component_archives(
    work: Path, bins: Mapping[str, Path], proxy_rootfs: Path, progress: Progress
) -> dict[str, Path]:
    """Docker-archives of every image the node's containerd gets; tag -> archive."""
    archives = {config.PAUSE_IMAGE: bins["pause.tar"]}
    with progress.stage("writing the component images (kube-apiserver, etcd, CoreDNS, …)"):
        for img in component_images(bins):
            layer = work / f"{img.name}-layer.tar"
            entries = [
                *(Entry(d, "dir", mode=0o755) for d in _parents(img.path)),
                Entry("tmp", "dir", mode=0o1777),
                HostFile(img.path, img.binary),
            ]
            images.write_layer(layer, entries)
            layers = [proxy_rootfs, layer] if img.base == "kube-proxy" else [layer]
            out = work / f"{img.name}.tar"
            images.write_docker_archive(out, [img.tag], layers, img.image_config)
            layer.unlink()
            archives[img.tag] = out
    return archives


def _parents(path: str) -> list[str]:
    """The directories above ``path`` in a layer: ``a/b/c`` -> ``['a', 'a/b']``."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def kind_base_files(layout: config.Layout) -> Path:
    """``images/base/files`` of the kind module (downloaded into the module cache if needed)."""
    env = build.go_env(layout)
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kind@{config.KIND_VERSION}"],
        cwd=layout.cache,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        raise ClusterError(
            f"Downloading sigs.k8s.io/kind@{config.KIND_VERSION} for its node files failed "
            f"({proc.stderr.strip()[-200:]}): check your access to the Go module proxy and retry."
        )
    return Path(json.loads(proc.stdout)["Dir"]) / "images" / "base" / "files"


def default_oci_spec(ctr: Path) -> dict:
    """``ctr oci spec``: containerd's default runtime spec (the base of kind's cri-base.json)."""
    proc = subprocess.run(
        [str(ctr), "oci", "spec"], capture_output=True, text=True, check=False, timeout=60
    )
    if proc.returncode != 0:
        raise ClusterError(
            f"`ctr oci spec` failed ({proc.stderr.strip()}): run `make build` again and retry."
        )
    return json.loads(proc.stdout)


def write_node_base(
    work: Path,
    layout: config.Layout,
    bins: Mapping[str, Path],
    rootfs: Path,
    tag: str,
    progress: Progress,
) -> Path:
    """The node's base image (Debian + the course's layer) as a docker-archive."""
    with progress.stage("writing the node's layer (kind's files, binaries, configuration)"):
        files = kind_base_files(layout)
        toml = containerd_config((files / "etc" / "containerd" / "config.toml").read_text())
        entries = node_layer_entries(
            files, bins, toml, cri_base_spec(default_oci_spec(bins["ctr"]))
        )
        layer = work / "node-layer.tar"
        images.write_layer(layer, entries)
        out = work / "node-base.tar"
        image_config = {
            "Env": [PATH_ENV, "container=docker"],
            "StopSignal": "SIGRTMIN+3",
            "Entrypoint": ENTRYPOINT,
        }
        images.write_docker_archive(out, [tag], [rootfs, layer], image_config)
        layer.unlink()
    return out


def commit_with_images(
    base_tag: str, tag: str, archives: Mapping[str, Path], progress: Progress
) -> None:
    """Import ``archives`` into containerd inside a container of ``base_tag``; commit ``tag``."""
    name = f"sa-course-kind-build-{int(time.time())}"
    run = [
        "run",
        "-d",
        "--name",
        name,
        "--entrypoint=sleep",
        "--security-opt",
        "seccomp=unconfined",
    ]
    docker([*run, base_tag, "infinity"], "Starting the kind node build container")
    try:
        with progress.stage(f"importing {len(archives)} images into the node's containerd"):
            docker(
                ["exec", name, "bash", "-c", "nohup containerd > /var/log/containerd.log 2>&1 &"],
                "Starting containerd in the build container",
            )
            _wait_for_containerd(name)
            for image_tag, archive in archives.items():
                docker(
                    ["exec", "-i", name, *CTR_IMPORT],
                    f"Importing {image_tag} into the node's containerd",
                    stdin=archive,
                )
            listed = docker(["exec", name, "ctr", "-n", "k8s.io", "images", "ls", "-q"], "ctr")
            missing = sorted(set(archives) - set(listed.split()))
            if missing:
                raise ClusterError(
                    f"The node's containerd does not list {', '.join(missing)} after importing "
                    "it: remove the cache's kind-image directory and retry."
                )
            _stop_containerd(name)
        with progress.stage("committing the node image"):
            docker(
                ["commit", "--change", f"ENTRYPOINT {json.dumps(ENTRYPOINT)}", name, tag],
                "Committing the kind node image",
            )
    finally:
        subprocess.run(
            ["docker", "rm", "-f", "-v", name], capture_output=True, check=False, timeout=300
        )


def _wait_for_containerd(name: str, timeout: float = 30) -> None:
    probe = ["docker", "exec", name, "ctr", "info"]
    poll_until(
        lambda: subprocess.run(probe, capture_output=True, check=False, timeout=60).returncode == 0,
        timeout=timeout,
        interval=0.5,
        what=f"containerd to start in the kind node build container {name}",
        error=ClusterError,
        why=lambda: f"retry, and if it fails again see `docker logs {name}`",
    )


def _stop_containerd(name: str, timeout: float = 30) -> None:
    subprocess.run(
        ["docker", "exec", name, "pkill", "containerd"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    # it is a zombie once it exited: sleep (PID 1 of the build container) never reaps it
    alive = "ps -C containerd -o stat= | grep -qv Z"
    probe = ["docker", "exec", name, "sh", "-c", alive]
    poll_until(
        lambda: subprocess.run(probe, capture_output=True, check=False, timeout=60).returncode != 0,
        timeout=timeout,
        what=f"containerd in the build container {name} to stop",
        error=ClusterError,
        why=lambda: "retry",
    )


def prune_other_recipes(layout: config.Layout, keep: str) -> None:
    """Remove earlier recipes' files and images (root filesystems and images in use stay)."""
    for d in image_dir(layout).iterdir():
        if d.is_dir() and d.name != keep:
            shutil.rmtree(d, ignore_errors=True)
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", NODE_IMAGE_REPOSITORY],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout.split()
    old = [ref for ref in listed if ref != node_image_tag(keep)]
    if old:  # Docker refuses to remove an image a container still runs: that one stays
        subprocess.run(
            ["docker", "image", "rm", *old], capture_output=True, check=False, timeout=300
        )


def _record_time(layout: config.Layout, seconds: float) -> None:
    path = layout.cache / "build-times.json"
    try:
        times = json.loads(path.read_text())
    except (OSError, ValueError):
        times = {}
    times["kind-node-image"] = round(seconds, 1)
    path.write_text(json.dumps(times, indent=2))
