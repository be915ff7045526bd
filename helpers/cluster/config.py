"""Versions, paths and ports of the course cluster: one place to read them all.

Everything the local cluster builds is cached outside the repository (``COURSE_CACHE_DIR``,
default ``~/.cache/sa-course``); everything a running cluster writes lives in one state
directory (``COURSE_STATE_DIR``, default ``/var/lib/sa-course``), removed by ``down()``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path

from . import versions
from .errors import ClusterError
from .settings import LAN_ENV, settings

#: Versions of everything the course's clusters run: :mod:`helpers.cluster.versions`. The
#: names below are read when used (``COURSE_K8S_VERSION`` picks the release), not on import:
#: ``KUBERNETES_VERSION``, ``ETCD_VERSION``, ``COREDNS_VERSION``, ``PAUSE_IMAGE`` and
#: ``KIND_NODE_IMAGE`` (see :func:`__getattr__`).
CONTAINERD_VERSION = versions.CONTAINERD
KIND_VERSION = versions.KIND
#: The image every course Pod runs: Debian's busybox-static, packed as a one-layer image.
BUSYBOX_IMAGE = "docker.io/library/busybox:1.35"
#: The course's tools image (shell, curl, jq, kubectl), built from Debian packages; a name
#: of our own under localhost/, which no registry serves, so it can only come from us.
TOOLS_IMAGE = "localhost/sa-course/tools:2"


def release() -> versions.Release:
    """The Kubernetes release the course's clusters run (``COURSE_K8S_VERSION``)."""
    return versions.resolve(gomodcache=Layout().gomodcache)


_BY_RELEASE = {
    "KUBERNETES_VERSION": lambda r: r.kubernetes,
    "ETCD_VERSION": lambda r: r.etcd,
    "COREDNS_VERSION": lambda r: r.coredns,
    "PAUSE_IMAGE": lambda r: r.pause_image,
    "KIND_NODE_IMAGE": lambda r: r.kind_node_image,
}


def __getattr__(name: str) -> str:
    """``config.KUBERNETES_VERSION`` and friends: the chosen release's, read on use."""
    if name in _BY_RELEASE:
        return _BY_RELEASE[name](release())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Name of the single node of the local cluster (shows up in node-bound token claims).
#: The kubelet listens on loopback only, so the API server reaches it by this host name,
#: which resolves to 127.0.0.1 everywhere.
NODE_NAME = "localhost"
#: The issuer every bound token carries (as in Kubernetes' own hack/local-up-cluster.sh).
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc"
#: Pod network of the local cluster; the bridge gets our own name so we never touch a cni0.
POD_SUBNET = "10.85.0.0/24"
BRIDGE_NAME = "sacourse0"
#: The node's own address on that bridge (the subnet's first address, which host-local
#: never gives a Pod). kube-apiserver and CoreDNS listen here, so Pods reach them without
#: any forwarding, and the kubelet reports it as the node IP.
NODE_IP = "10.85.0.1"
#: Service IP range; kube-proxy turns its ClusterIPs into DNAT rules.
SERVICE_SUBNET = "10.96.0.0/24"
#: The ``kubernetes`` Service's ClusterIP: always the range's first address.
KUBERNETES_SERVICE_IP = "10.96.0.1"
#: The ``kube-dns`` Service's ClusterIP, which the kubelet writes into every Pod's resolv.conf.
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
#: kube-proxy's own nftables table (one per IP family), which ``down()`` deletes.
KUBE_PROXY_TABLE = "kube-proxy"
#: cgroup parent of everything the kubelet and containerd create (removed by ``down()``).
CGROUP_ROOT = "/sa-course"


#: Set it to an address of this machine to let a classroom reach the local API server there.


def lan_address() -> str:
    """``COURSE_LAN_ADDRESS`` checked: an address of this machine, not loopback ('' if unset).

    Only for a workshop on one machine: the API server then listens on every address of
    this machine (kube-apiserver has one ``--bind-address``), and its certificate names
    this one, so attendees' kubeconfigs can point at it.
    """
    value = settings().lan_address
    if not value:
        return ""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise ClusterError(
            f"{LAN_ENV}={value!r} is not an IP address: give this machine's address on the "
            "classroom network (e.g. 192.168.1.20; `ip -brief address` lists them)."
        ) from None
    if ip.is_loopback or ip.is_unspecified:
        raise ClusterError(
            f"{LAN_ENV}={value} is not reachable from other machines: give this machine's "
            "address on the classroom network (`ip -brief address` lists them)."
        )
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((value, 0))
        except OSError:
            raise ClusterError(
                f"{LAN_ENV}={value} is not an address of this machine: pick one that "
                "`ip -brief address` lists."
            ) from None
    return str(ip)


def cache_dir() -> Path:
    """Where builds are cached (``COURSE_CACHE_DIR``): survives ``down()`` and ``make clean``."""
    return settings().cache_dir


def state_dir() -> Path:
    """Where a running local cluster keeps its keys, data, logs and runtime files."""
    return settings().state_dir


@dataclass(frozen=True)
class Ports:
    """Ports of the local cluster: the API server and DNS on NODE_IP, the rest on 127.0.0.1."""

    apiserver: int = 6443
    etcd_client: int = 12379
    etcd_peer: int = 12380
    kubelet: int = 10250
    kubelet_healthz: int = 10248
    controller_manager: int = 10257
    scheduler: int = 10259
    kube_proxy_healthz: int = 10256
    kube_proxy_metrics: int = 10249
    coredns_ready: int = 8181
    dns: int = 53

    @classmethod
    def from_env(cls) -> Ports:
        """Default ports, with ``COURSE_API_PORT`` overriding the API server's."""
        api = settings().api_port
        return cls(apiserver=api) if api else cls()

    def by_component(self) -> dict[str, int]:
        """Each TCP port on 127.0.0.1 with the component that listens on it."""
        return {
            "etcd (client)": self.etcd_client,
            "etcd (peer)": self.etcd_peer,
            "kubelet": self.kubelet,
            "kubelet (healthz)": self.kubelet_healthz,
            "kube-controller-manager": self.controller_manager,
            "kube-scheduler": self.scheduler,
            "kube-proxy (healthz)": self.kube_proxy_healthz,
            "kube-proxy (metrics)": self.kube_proxy_metrics,
            "CoreDNS (ready)": self.coredns_ready,
        }

    def on_node_ip(self) -> dict[str, tuple[int, str]]:
        """Each port on NODE_IP (the bridge) with its component: (port, "tcp" or "udp")."""
        return {
            "kube-apiserver": (self.apiserver, "tcp"),
            "CoreDNS": (self.dns, "udp"),
            "CoreDNS (TCP)": (self.dns, "tcp"),
        }


@dataclass(frozen=True)
class Layout:
    """Paths inside the cache and state directories."""

    cache: Path = field(default_factory=cache_dir)
    state: Path = field(default_factory=state_dir)

    # -- cache ---------------------------------------------------------------------------
    @property
    def gomodcache(self) -> Path:
        return self.cache / "go" / "mod"

    @property
    def gocache(self) -> Path:
        return self.cache / "go" / "build"

    @property
    def src(self) -> Path:
        return self.cache / "src"

    @property
    def bin(self) -> Path:
        return self.cache / "bin"

    @property
    def images(self) -> Path:
        return self.cache / "images"

    # -- state ---------------------------------------------------------------------------
    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        """Pid files of the supervised processes."""
        return self.state / "run"

    @property
    def etcd_data(self) -> Path:
        return self.state / "etcd"

    @property
    def containerd_root(self) -> Path:
        return self.state / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.state / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_state / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def cni_conf(self) -> Path:
        return self.state / "cni" / "net.d"

    @property
    def cni_ipam(self) -> Path:
        return self.state / "cni" / "ipam"

    @property
    def config(self) -> Path:
        """Configuration files the components read (kubelet, containerd, scheduler)."""
        return self.state / "config"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "admin.kubeconfig"

    @property
    def cluster_file(self) -> Path:
        """What ``up()`` recorded about the running cluster (ports, versions, start time)."""
        return self.state / "cluster.json"
