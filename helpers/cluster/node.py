"""The course cluster's node, as this machine reaches it — what differs between backends.

The teaching modules never ask which backend runs; they ask :func:`node_of` for the node
and use what it offers. On the course's own clusters there is one node, and this machine
can read its files and see its processes:

- ``local``: the node *is* this machine (files on this disk, processes in ``/proc``);
- ``kind``: the node is a container (files and processes through ``docker exec``);
- ``kubeconfig``: an existing cluster, whose nodes are out of reach — :func:`node_of`
  answers ``None``, and every lesson that needs the node says what it shows instead.

    >>> node_of("kubeconfig") is None
    True
    >>> starts_its_own("kubeconfig"), starts_its_own("kind")
    (False, True)
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ClusterError

__all__ = ["EXISTING", "Node", "node_of", "starts_its_own"]

#: The backend of a cluster the course did not make (an instructor's, a provider's).
EXISTING = "kubeconfig"
#: How long a command on the node may take before the course gives up on it.
NODE_TIMEOUT = 120


def starts_its_own(backend: str) -> bool:
    """True for the backends whose cluster the course builds, starts and stops itself."""
    return backend != EXISTING


@dataclass(frozen=True)
class Node:
    """The single node of a course cluster: read its files, see its processes."""

    backend: str
    #: Where its files are, in words: "on this machine", "in the kind node …".
    where: str
    #: Set up by kubeadm (kind) rather than by the course itself (local): kubeadm turns on
    #: the kubelet's certificate rotation and serving certificates.
    kubeadm: bool
    #: The bytes of a file on the node.
    read: Callable[[str], bytes]
    #: The permission bits of a file on the node (``0o600``).
    mode: Callable[[str], int]
    #: The lines of a file on the node that contain a string (``grep -F``); [] if none.
    grep: Callable[[str, str], list[str]]
    #: The command line of a process on the node (``kubelet``), or None if it is not running.
    argv: Callable[[str], list[str] | None]
    #: Where the course keeps the previous ServiceAccount signing key of this cluster.
    previous_signing_key: Path
    #: The API server's URL for other machines on the LAN, if it listens there ("" if not).
    lan_url: Callable[[], str]
    #: Resident memory of a process on the node in MiB, where this machine can measure it.
    rss_mib: Callable[[str], float | None]


def node_of(backend: str) -> Node | None:
    """The node of ``backend``'s course cluster, or None where it is out of reach."""
    if backend == "local":
        return _local_node()
    if backend == "kind":
        return _kind_node()
    return None


# -- local: this machine -------------------------------------------------------------------


def _grep(argv: list[str], where: str) -> list[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=NODE_TIMEOUT)
    if proc.returncode > 1:  # 1: no line matched
        raise ClusterError(f"Could not read {argv[-1]} {where}: {proc.stderr.strip()}")
    return proc.stdout.splitlines()


def _local_node() -> Node:
    from . import config
    from .local import LocalCluster
    from .progress import Progress

    def cluster() -> LocalCluster:
        return LocalCluster(progress=Progress(quiet=True))

    def argv(name: str) -> list[str] | None:
        pid = cluster().sup.pid(name)
        if pid is None:
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [a.decode() for a in raw.split(b"\0") if a]

    def rss_mib(name: str) -> float | None:
        for component in cluster().status().components:
            if component.name == name:
                return component.rss_mib
        return None

    return Node(
        backend="local",
        where="on this machine",
        kubeadm=False,
        read=lambda path: Path(path).read_bytes(),
        mode=lambda path: stat.S_IMODE(os.stat(path).st_mode),
        grep=lambda needle, path: _grep(["grep", "-hF", "--", needle, path], "on this machine"),
        argv=argv,
        previous_signing_key=config.Layout().pki / "sa-previous.key",
        lan_url=lambda: cluster().lan_url(),
        rss_mib=rss_mib,
    )


# -- kind: a container -----------------------------------------------------------------------


def _kind_node() -> Node:
    from . import kind

    where = f"in the kind node {kind.NODE}"

    def run(args: list[str]) -> str:
        proc = kind.node_exec(args)  # docker exec, with its timeout
        if proc.returncode != 0:
            raise ClusterError(
                f"Could not run {args[0]} {where} ({proc.stderr.strip()}): "
                "is the kind cluster running?"
            )
        return proc.stdout

    def grep(needle: str, path: str) -> list[str]:
        proc = kind.node_exec(["grep", "-hF", "--", needle, path])
        if proc.returncode > 1:
            raise ClusterError(f"Could not read {path} {where}: {proc.stderr.strip()}")
        return proc.stdout.splitlines()

    def argv(name: str) -> list[str] | None:
        proc = kind.node_exec(["sh", "-c", f'cat "/proc/$(pidof {name})/cmdline"'])
        if proc.returncode != 0 or not proc.stdout:
            return None
        return [a for a in proc.stdout.split("\0") if a]

    return Node(
        backend="kind",
        where=where,
        kubeadm=True,
        read=lambda path: run(["cat", path]).encode(),
        mode=lambda path: int(run(["stat", "-c", "%a", path]).strip(), 8),
        grep=grep,
        argv=argv,
        previous_signing_key=kind.KindBackend().previous_signing_key,
        lan_url=lambda: "",
        rss_mib=lambda name: None,
    )
