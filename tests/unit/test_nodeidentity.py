"""helpers.nodeidentity: finding the kubelet's credential, without a cluster."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
import yaml

from helpers.cluster.controlplane import ControlPlane
from helpers.cluster.errors import ClusterError
from helpers.nodeidentity import (
    KubeletCredential,
    authorizers,
    credential_from_kubeconfig,
    kubeconfig_flag,
    kubelet_client,
    kubelet_config,
    kubelet_flag,
    node_user,
)

#: The names of a kubeconfig's client-credential fields, spelt out at run time so that this
#: file holds nothing that looks like a real kubeconfig (no credential is ever committed).
CERT, KEY = "client-" + "certificate", "client-" + "key"
PEM_FILE = "/var/lib/kubelet/pki/kubelet-client-current.pem"


def _kubeconfig(user: dict[str, str], name: str = "node") -> str:
    """A kubeconfig whose current context names ``user`` (another user stands beside it)."""
    doc = {
        "current-context": "kubelet",
        "contexts": [
            {"name": "kubelet", "context": {"cluster": "c", "user": name}},
            {"name": "other", "context": {"cluster": "c", "user": "someone-else"}},
        ],
        "users": [
            {"name": "someone-else", "user": {"token": "not-this-one"}},
            {"name": name, "user": user},
        ],
    }
    return yaml.safe_dump(doc)


def test_the_current_users_files_are_read() -> None:
    read = {PEM_FILE: b"CERT+KEY"}.__getitem__
    credential = credential_from_kubeconfig(_kubeconfig({CERT: PEM_FILE, KEY: PEM_FILE}), read)
    assert credential == KubeletCredential(b"CERT+KEY", b"CERT+KEY")


def test_embedded_data_is_decoded() -> None:
    data = base64.b64encode(b"PEM").decode()
    text = _kubeconfig({f"{CERT}-data": data, f"{KEY}-data": data})
    assert credential_from_kubeconfig(text, lambda _: b"").key_pem == b"PEM"


def test_a_token_user_has_no_client_certificate() -> None:
    with pytest.raises(ClusterError, match="no client certificate"):
        credential_from_kubeconfig(_kubeconfig({"token": "t"}), lambda _: b"")


def test_the_key_is_never_shown() -> None:
    assert "SECRET" not in repr(KubeletCredential(b"cert", b"SECRET"))


def test_a_kubelet_without_kubeconfig_says_so() -> None:
    with pytest.raises(ClusterError, match="without --kubeconfig"):
        kubeconfig_flag(["kubelet", "--config=/etc/kubelet.yaml"])


def test_an_existing_cluster_gives_no_kubelet_client() -> None:
    with kubelet_client(SimpleNamespace(backend="kubeconfig", node=None)) as api:  # type: ignore[arg-type]
        assert api is None


def test_node_user() -> None:
    assert node_user("n1") == "system:node:n1"


def test_an_existing_cluster_gives_no_kubelet_config() -> None:
    assert kubelet_config(SimpleNamespace(backend="kubeconfig", node=None)) is None  # type: ignore[arg-type]


def test_the_last_flag_wins() -> None:
    assert kubelet_flag(["kubelet", "--config=/a", "--config", "/b"], "--config") == "/b"


AUTHZ_CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: AuthorizationConfiguration
authorizers:
- type: Node
  name: node
- type: Webhook
  name: opa
  webhook: {timeout: 3s}
- type: RBAC
  name: rbac
"""


def test_authorizers_come_from_the_flag_or_the_configuration_file() -> None:
    files = {"/etc/kubernetes/authz.yaml": AUTHZ_CONFIG.encode()}
    by_file = ControlPlane(
        "kind",
        "node",
        {"kube-apiserver": ["kube-apiserver", "--authorization-config=/etc/kubernetes/authz.yaml"]},
        _read=files.__getitem__,
    )
    assert authorizers(by_file) == ["Node", "Webhook", "RBAC"]
    by_flag = ControlPlane("local", "here", {"kube-apiserver": ["--authorization-mode=Node,RBAC"]})
    assert authorizers(by_flag) == ["Node", "RBAC"]
    neither = ControlPlane("local", "here", {"kube-apiserver": ["kube-apiserver"]})
    assert authorizers(neither) == ["AlwaysAllow"], "kube-apiserver's default"
    assert authorizers(ControlPlane("kubeconfig", "")) is None
