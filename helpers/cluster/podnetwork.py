"""How this machine and a course cluster's Pods reach each other (the browser classroom's hub).

The workshop's hub runs on this machine: its proxy opens the learners' JupyterLab Pods by
their Pod IP, and those Pods call the hub back. So both directions must work:

- ``local``: the Pods live on the cluster's own bridge (:data:`config.POD_SUBNET`), and this
  machine is :data:`config.NODE_IP` on it. Nothing to do.
- ``kind``: the Pods live behind the node container. This machine routes each node's Pod
  CIDR (``spec.podCIDR``, read from the cluster) through that node's ``InternalIP`` on kind's
  Docker network, and the Pods reach this machine at its own address on that network (the
  node masquerades their traffic). The routes need root (``CAP_NET_ADMIN``) once; they are
  recorded and removed with the cluster. Docker Desktop runs kind in a VM this machine
  cannot route into: :func:`check_reachable` says so.
- ``kubeconfig``: an existing cluster's Pod network is not this machine's to route. Where
  this machine is on it anyway (a node, or a machine in the cluster's own network), the
  instructor names this machine's address the Pods reach (``host_address``), and
  :func:`check_reachable` proves the other direction before the hub starts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import config
from .errors import ClusterError

__all__ = ["PodNetwork", "forget_routes", "pod_network", "recorded_routes", "routes_of"]

#: A Pod the check may connect to: any Running Pod of kube-system on the Pod network.
CHECK_NAMESPACE = "kube-system"


@dataclass(frozen=True)
class PodNetwork:
    """Where the Pods reach this machine, and the routes this machine uses to reach them."""

    host_address: str
    routes: tuple[tuple[str, str], ...] = ()  # (Pod CIDR, via this node address)


def routes_of(nodes: list[Any]) -> list[tuple[str, str]]:
    """(Pod CIDR, InternalIP) of each node that has both (kubernetes V1Node objects).

    >>> from types import SimpleNamespace as N
    >>> node = N(spec=N(pod_cidr="10.244.0.0/24"),
    ...          status=N(addresses=[N(type="Hostname", address="kind"),
    ...                              N(type="InternalIP", address="172.18.0.2")]))
    >>> routes_of([node, N(spec=N(pod_cidr=None), status=N(addresses=[]))])
    [('10.244.0.0/24', '172.18.0.2')]
    """
    out = []
    for node in nodes:
        cidr = node.spec.pod_cidr
        ips = [a.address for a in node.status.addresses or [] if a.type == "InternalIP"]
        if cidr and ips:
            out.append((cidr, ips[0]))
    return out


def pod_network(backend: str, core: Any, host_address: str = "") -> PodNetwork:
    """Make this machine and ``backend``'s Pods reach each other; how (``core``: CoreV1Api).

    ``host_address``: this machine's address the Pods reach, for an existing cluster (the
    local and the kind cluster know theirs).
    """
    if backend == "local":
        return PodNetwork(config.NODE_IP)
    if backend != "kind":
        if not host_address:
            raise ClusterError(
                "The browser classroom's hub runs on this machine, which must reach the "
                "existing cluster's Pods and be reached by them: give this machine's address "
                "on the Pods' network with HUB_POD_ADDRESS= (--hub-pod-address), or run the "
                "classroom on the local or the kind cluster."
            )
        _must_be_mine(host_address)
        net = PodNetwork(host_address)
        check_reachable(core, net)
        return net
    if platform.system() != "Linux":
        raise ClusterError(
            "kind's Pods live inside Docker Desktop's virtual machine, which this machine "
            "cannot route into: run the browser classroom on a Linux machine's kind or local "
            "cluster."
        )
    routes = routes_of(core.list_node(_request_timeout=30).items)
    if not routes:
        raise ClusterError(
            "The kind cluster's node names no Pod CIDR (spec.podCIDR): recreate it with "
            "`COURSE_BACKEND=kind make cluster-down cluster-up` and retry."
        )
    for cidr, via in routes:
        _ensure_route(cidr, via)
    _record(routes)
    net = PodNetwork(_source_address(routes[0][1]), tuple(routes))
    check_reachable(core, net)
    return net


def check_reachable(core: Any, net: PodNetwork, timeout: float = 3) -> None:
    """Connect to one running Pod of kube-system; one sentence if this machine cannot."""
    for pod in core.list_namespaced_pod(CHECK_NAMESPACE, _request_timeout=30).items:
        if pod.spec.host_network or pod.status.phase != "Running" or not pod.status.pod_ip:
            continue
        ports = [
            p.container_port
            for c in pod.spec.containers
            for p in c.ports or []
            if (p.protocol or "TCP") == "TCP"
        ]
        if not ports:
            continue
        try:
            socket.create_connection((pod.status.pod_ip, ports[0]), timeout=timeout).close()
            return
        except OSError as exc:
            raise ClusterError(
                f"This machine cannot reach the cluster's Pods ({pod.status.pod_ip}:"
                f"{ports[0]}: {exc.strerror or exc}){_through(net.routes)}: the browser "
                "classroom needs kind on a Linux machine (not Docker Desktop), the local "
                "cluster, or a machine on an existing cluster's Pod network."
            ) from None


def recorded_routes() -> list[tuple[str, str]]:
    """The routes :func:`pod_network` set for kind, as recorded (none: an empty list)."""
    try:
        return [(cidr, via) for cidr, via in json.loads(_record_file().read_text())]
    except (OSError, ValueError):
        return []


def forget_routes() -> None:
    """Remove the routes :func:`pod_network` set for kind (kind's down); quietly if none."""
    for cidr, via in recorded_routes():
        _ip(["route", "del", cidr, "via", via], check=False)
    _record_file().unlink(missing_ok=True)


def _must_be_mine(address: str) -> None:
    """One sentence unless ``address`` is one of this machine's (the hub listens on it)."""
    try:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except (OSError, ValueError) as exc:
        raise ClusterError(
            f"{address} is not an address of this machine ({exc}), and the hub must listen "
            "where the Pods reach it: give this machine's address on the Pods' network."
        ) from None


def _ensure_route(cidr: str, via: str) -> None:
    first = str(next(ipaddress.ip_network(cidr).hosts()))
    now = json.loads(_ip(["-j", "route", "get", first]).stdout or "[]")
    if now and now[0].get("gateway") == via:
        return
    proc = _ip(["route", "replace", cidr, "via", via], check=False)
    if proc.returncode != 0:
        raise ClusterError(
            f"This machine needs a route to the kind cluster's Pods, which only root can add "
            f"({proc.stderr.strip() or 'refused'}): run `sudo ip route replace {cidr} via "
            f"{via}` and retry."
        )


def _source_address(via: str) -> str:
    """This machine's address towards ``via`` (where the Pods, masqueraded by it, reach us)."""
    answer = json.loads(_ip(["-j", "route", "get", via]).stdout or "[]")
    if not answer or "prefsrc" not in answer[0]:
        raise ClusterError(
            f"This machine has no address towards the kind node {via}: check that Docker's "
            "kind network is up (`docker network inspect kind`) and retry."
        )
    return str(answer[0]["prefsrc"])


def _ip(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=10, check=check
        )
    except FileNotFoundError:
        raise ClusterError(
            "The `ip` command (iproute2) is missing: install it (apt-get install iproute2) "
            "and retry."
        ) from None
    except subprocess.CalledProcessError as exc:
        raise ClusterError(
            f"`ip {' '.join(args)}` failed ({exc.stderr.strip()}): check this machine's "
            "network and retry."
        ) from None


def _record_file() -> Path:
    return config.cache_dir() / "kind" / "pod-routes.json"


def _record(routes: list[tuple[str, str]]) -> None:
    path = _record_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(routes))
    os.chmod(path, 0o600)


def _through(routes: tuple[tuple[str, str], ...]) -> str:
    """
    >>> _through((("10.244.0.0/24", "172.18.0.2"),))
    ' through the route 10.244.0.0/24 via 172.18.0.2'
    >>> _through(())
    ''
    """
    if not routes:
        return ""
    listed = ", ".join(f"{cidr} via {via}" for cidr, via in routes)
    return f" through the route{'s' if len(routes) > 1 else ''} {listed}"
