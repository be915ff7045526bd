"""The local cluster's PKI: who each certificate says it is, and that keys stay private."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers.cluster import config, pki


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_generate_writes_every_file_with_private_keys_0600(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    keys = sorted(p.name for p in tmp_path.glob("*.key"))
    assert keys == sorted(
        ["ca.key", "sa.key", "sa-previous.key", "apiserver.key", "kubelet-serving.key"]
        + [f"{stem}.key" for stem in pki.CLIENTS]
    )
    for key in tmp_path.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700


def test_every_leaf_is_signed_by_the_ca(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    ca = _cert(tmp_path / "ca.crt")
    for crt in tmp_path.glob("*.crt"):
        cert = _cert(crt)
        cert.verify_directly_issued_by(ca)


def test_client_certificates_carry_user_and_groups(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    admin = _cert(tmp_path / "admin.crt")
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    kubelet = _cert(tmp_path / "kubelet.crt")
    cn = kubelet.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == f"system:node:{config.NODE_NAME}"
    eku = kubelet.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_api_server_certificate_names_the_node_address_and_the_service(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    sans = _cert(tmp_path / "apiserver.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    names = {str(v) for v in sans.value.get_values_for_type(x509.IPAddress)}
    names |= set(sans.value.get_values_for_type(x509.DNSName))
    assert names == {
        config.NODE_IP,  # where it listens (host clients, the Service's endpoint)
        "10.96.0.1",  # the kubernetes Service's ClusterIP
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
    assert "127.0.0.1" not in names, "the API server no longer listens on loopback"


def test_kube_proxy_and_coredns_have_their_own_identities(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    for stem, user in (("kube-proxy", "system:kube-proxy"), ("coredns", "system:coredns")):
        cert = _cert(tmp_path / f"{stem}.crt")
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == user
        assert not cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)  # no groups


def test_kubeconfig_embeds_credentials_and_is_private(tmp_path: Path) -> None:
    pki.generate(tmp_path)
    path = tmp_path / "admin.kubeconfig"
    pki.write_kubeconfig(path, tmp_path, "admin", "https://127.0.0.1:6443")
    doc = yaml.safe_load(path.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert doc["users"][0]["user"]["client-key-data"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_each_cluster_gets_fresh_keys(tmp_path: Path) -> None:
    pki.generate(tmp_path / "a")
    pki.generate(tmp_path / "b")
    assert (tmp_path / "a" / "sa.key").read_bytes() != (tmp_path / "b" / "sa.key").read_bytes()


def test_a_lan_address_is_named_in_the_api_server_certificate(tmp_path: Path) -> None:
    pki.generate(tmp_path, extra_sans=("192.0.2.2",))
    sans = _cert(tmp_path / "apiserver.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    ips = {str(v) for v in sans.value.get_values_for_type(x509.IPAddress)}
    assert {"192.0.2.2", config.NODE_IP} <= ips
