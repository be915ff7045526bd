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
:func:`kubelet_config` reads, the same way, the KubeletConfiguration the kubelet was started
with (``--config``), e.g. whether it renews its own certificate (``rotateCertificates``).
:func:`authorizers` names the API server's authorizers in order, from
``--authorization-mode`` or from the file of ``--authorization-config``.

The key is copied into a private temporary directory (0700, the files 0600) for as long as
the ``with`` block lasts, and never printed.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from kubernetes import client

from .cluster.controlplane import ControlPlane
from .cluster.errors import ClusterError

if TYPE_CHECKING:
    from .cluster.node import Node
    from .course import Course

__all__ = [
    "NODE_GROUP",
    "KubeletCredential",
    "authorizers",
    "credential_from_kubeconfig",
    "kubeconfig_flag",
    "kubelet_client",
    "kubelet_config",
    "kubelet_flag",
    "node_user",
    "parse_authorizers",
]

#: The group of every node's identity (RBAC's ``system:node`` ClusterRole is not bound to it).
NODE_GROUP = "system:nodes"


def node_user(node: str) -> str:
    """The user name a node's kubelet authenticates as.

    >>> node_user("kind-control-plane")
    'system:node:kind-control-plane'
    """
    return f"system:node:{node}"


def kubelet_flag(argv: list[str], flag: str) -> str | None:
    """The (last) value of ``flag`` on a kubelet's command line, or None.

    >>> kubelet_flag(["kubelet", "--config=/c", "--kubeconfig", "/k"], "--kubeconfig")
    '/k'
    >>> kubelet_flag(["kubelet", "--config=/c"], "--config"), kubelet_flag(["kubelet"], "--config")
    ('/c', None)
    """
    found = None
    for i, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
        elif arg == flag and i + 1 < len(argv):
            found = argv[i + 1]
    return found


def kubeconfig_flag(argv: list[str]) -> str:
    """The value of ``--kubeconfig`` on a kubelet's command line.

    >>> kubeconfig_flag(["kubelet", "--config=/c", "--kubeconfig=/etc/kubernetes/kubelet.conf"])
    '/etc/kubernetes/kubelet.conf'
    >>> kubeconfig_flag(["kubelet", "--kubeconfig", "/k"])
    '/k'
    """
    found = kubelet_flag(argv, "--kubeconfig")
    if found is None:
        raise ClusterError(
            "The kubelet runs without --kubeconfig: it has no API credential to show."
        )
    return found


def parse_authorizers(
    authorization_mode: str | None, authorization_config: str | None = None
) -> list[str]:
    """The authorizers named by ``--authorization-mode`` or an ``--authorization-config`` file.

    The two flags are mutually exclusive; the file lists ``authorizers[].type`` in order.
    Neither: kube-apiserver's default, ``AlwaysAllow``.

    >>> parse_authorizers("Node,RBAC")
    ['Node', 'RBAC']
    >>> parse_authorizers(None, "kind: AuthorizationConfiguration\\n"
    ...                         "authorizers: [{type: Node, name: node}, {type: RBAC, name: rbac}]")
    ['Node', 'RBAC']
    >>> parse_authorizers(None)
    ['AlwaysAllow']
    """
    if authorization_mode:
        return [m.strip() for m in authorization_mode.split(",") if m.strip()]
    if authorization_config:
        doc = yaml.safe_load(authorization_config) or {}
        return [str(a.get("type")) for a in doc.get("authorizers") or []]
    return ["AlwaysAllow"]


def authorizers(cp: ControlPlane) -> list[str] | None:
    """kube-apiserver's authorizers, in the order it asks them; ``None`` where it cannot be seen.

    Read from ``--authorization-mode`` or, on an API server configured with
    ``--authorization-config``, from that file.

    >>> argv = ["kube-apiserver", "--authorization-mode=Node,RBAC"]
    >>> authorizers(ControlPlane("local", "here", {"kube-apiserver": argv}))
    ['Node', 'RBAC']
    >>> authorizers(ControlPlane("kubeconfig", "")) is None
    True
    """
    if not cp.visible:
        return None
    config_file = cp.value("kube-apiserver", "--authorization-config")
    config = cp.read_public_file(config_file).decode() if config_file else None
    return parse_authorizers(cp.value("kube-apiserver", "--authorization-mode"), config)


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


def _kubelet(node: Node) -> tuple[list[str], Callable[[str], bytes]]:
    """The kubelet's command line on ``node``, and how to read the files it names."""
    argv = node.argv("kubelet")
    if argv is None:
        raise ClusterError(
            f"The course cluster's kubelet is not running {node.where}: run `make cluster-up`."
        )
    return argv, node.read


def kubelet_config(course: Course) -> dict | None:
    """The KubeletConfiguration the course cluster's kubelet was started with, or ``None``.

    Read from the file its ``--config`` names, on the course's own clusters; ``None`` on an
    existing cluster (its nodes are out of reach) or for a kubelet without ``--config``.
    """
    if course.node is None:
        return None
    argv, read = _kubelet(course.node)
    path = kubelet_flag(argv, "--config")
    return (yaml.safe_load(read(path)) or {}) if path else None


@contextmanager
def kubelet_client(course: Course) -> Iterator[client.ApiClient | None]:
    """An API client that authenticates as the course cluster's kubelet, or ``None``.

    ``None`` on the kubeconfig backend: a node's key cannot (and should not) be read there.
    The client talks to the course's API address with the course's CA; the credential
    lives in a private temporary directory that is removed when the block ends.
    """
    if course.node is None:
        yield None
        return
    argv, read = _kubelet(course.node)
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
