"""The kubelet's own identity: an API client that authenticates as the node.

A kubelet authenticates with a client certificate whose subject is
``CN=system:node:<node name>, O=system:nodes``. Two gates then limit what it may do:
the **Node authorizer** (only objects related to Pods on its node) and the
**NodeRestriction** admission plugin (e.g. tokens only when bound to such a Pod).

Where the node's files can be seen from here (the course's own clusters: ``local`` on
this machine, ``kind`` in the node container), :func:`kubelet_client` finds the kubelet's
kubeconfig from its own command line and builds a client from the credential it names.
On an existing cluster (``kubeconfig``) a node's key is out of reach, rightly: it yields
``None``, and the course asks RBAC's sibling, a SubjectAccessReview, instead.

The key is copied into a private temporary directory (0700, the files 0600) for as long as
the ``with`` block lasts, and never printed.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from kubernetes import client

from .cluster.errors import ClusterError

if TYPE_CHECKING:
    from .course import Course

__all__ = [
    "NODE_GROUP",
    "KubeletCredential",
    "credential_from_kubeconfig",
    "kubeconfig_flag",
    "kubelet_client",
    "node_user",
]

#: The group of every node's identity (RBAC's ``system:node`` ClusterRole is not bound to it).
NODE_GROUP = "system:nodes"


def node_user(node: str) -> str:
    """The user name a node's kubelet authenticates as.

    >>> node_user("kind-control-plane")
    'system:node:kind-control-plane'
    """
    return f"system:node:{node}"


def kubeconfig_flag(argv: list[str]) -> str:
    """The value of ``--kubeconfig`` on a kubelet's command line.

    >>> kubeconfig_flag(["kubelet", "--config=/c", "--kubeconfig=/etc/kubernetes/kubelet.conf"])
    '/etc/kubernetes/kubelet.conf'
    >>> kubeconfig_flag(["kubelet", "--kubeconfig", "/k"])
    '/k'
    """
    for i, arg in enumerate(argv):
        if arg.startswith("--kubeconfig="):
            return arg.split("=", 1)[1]
        if arg == "--kubeconfig" and i + 1 < len(argv):
            return argv[i + 1]
    raise ClusterError("The kubelet runs without --kubeconfig: it has no API credential to show.")


@dataclass(frozen=True)
class KubeletCredential:
    """The PEM client certificate and key a kubelet's kubeconfig names."""

    cert_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:  # a key is a password: never shown
        return "KubeletCredential(cert_pem=…, key_pem=<hidden>)"


def credential_from_kubeconfig(text: str, read: Callable[[str], bytes]) -> KubeletCredential:
    """The client credential of a kubeconfig's current user: embedded data, or files ``read``.

    >>> user = {"client-" + "certificate-data": "Q0VSVA==", "client-" + "key": "/k.pem"}
    >>> cfg = yaml.safe_dump({"current-context": "c", "users": [{"name": "u", "user": user}],
    ...                       "contexts": [{"name": "c", "context": {"user": "u"}}]})
    >>> credential_from_kubeconfig(cfg, lambda path: b"KEY from " + path.encode()).cert_pem
    b'CERT'
    """
    doc = yaml.safe_load(text) or {}
    context_name = doc.get("current-context")
    contexts = {c["name"]: c.get("context", {}) for c in doc.get("contexts") or []}
    user_name = contexts.get(context_name, {}).get("user") if context_name else None
    users = {u["name"]: u.get("user", {}) for u in doc.get("users") or []}
    user = users.get(user_name) if user_name else next(iter(users.values()), None)
    if not user:
        raise ClusterError("The kubelet's kubeconfig names no user: it has no credential.")

    def part(kind: str) -> bytes:
        if f"client-{kind}-data" in user:
            return base64.b64decode(user[f"client-{kind}-data"])
        if f"client-{kind}" in user:
            return read(user[f"client-{kind}"])
        raise ClusterError(f"The kubelet's kubeconfig has no client {kind}: it does not use one.")

    return KubeletCredential(part("certificate"), part("key"))


def _local_kubelet() -> tuple[list[str], Callable[[str], bytes]]:
    from .cluster.local import LocalCluster
    from .cluster.progress import Progress

    pid = LocalCluster(progress=Progress(quiet=True)).sup.pid("kubelet")
    if pid is None:
        raise ClusterError("The local cluster's kubelet is not running: run `make cluster-up`.")
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [a.decode() for a in raw.split(b"\0") if a], lambda path: Path(path).read_bytes()


def _kind_kubelet() -> tuple[list[str], Callable[[str], bytes]]:
    from .cluster import kind

    def run(args: list[str]) -> bytes:
        proc = subprocess.run(
            ["docker", "exec", kind.NODE, *args], capture_output=True, check=False
        )
        if proc.returncode != 0:
            raise ClusterError(
                f"Could not read the kubelet's files in the kind node {kind.NODE} "
                f"({proc.stderr.decode().strip()}): is the kind cluster running?"
            )
        return proc.stdout

    raw = run(["sh", "-c", 'cat "/proc/$(pidof kubelet)/cmdline"'])
    return [a.decode() for a in raw.split(b"\0") if a], lambda path: run(["cat", path])


@contextmanager
def kubelet_client(course: Course) -> Iterator[client.ApiClient | None]:
    """An API client that authenticates as the course cluster's kubelet, or ``None``.

    ``None`` on the kubeconfig backend: a node's key cannot (and should not) be read there.
    The client talks to the course's API address with the course's CA; the credential
    lives in a private temporary directory that is removed when the block ends.
    """
    if course.backend not in ("local", "kind"):
        yield None
        return
    argv, read = _local_kubelet() if course.backend == "local" else _kind_kubelet()
    credential = credential_from_kubeconfig(read(kubeconfig_flag(argv)).decode(), read)
    private = Path(tempfile.mkdtemp(prefix="sa-course-kubelet-"))  # 0700
    try:
        files = {}
        for name, data in (("client.crt", credential.cert_pem), ("client.key", credential.key_pem)):
            fd = os.open(private / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            files[name] = str(private / name)
        base = course.api.configuration
        cfg = client.Configuration()
        cfg.host = base.host
        cfg.ssl_ca_cert = base.ssl_ca_cert
        cfg.verify_ssl = base.verify_ssl
        cfg.cert_file, cfg.key_file = files["client.crt"], files["client.key"]
        api = client.ApiClient(cfg)
        try:
            yield api
        finally:
            api.close()
    finally:
        shutil.rmtree(private, ignore_errors=True)
