"""The local cluster's PKI, made fresh for every cluster with ``cryptography``.

One certificate authority signs every TLS certificate (serving and client); the
ServiceAccount token signing key is a separate RSA key (tokens are signed RS256, as on
most clusters). Private keys are written 0600 and never leave the state directory.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import config

VALIDITY = dt.timedelta(days=365)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return private_pem(self.key)


def private_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM of a private key, unencrypted (the file itself is 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _tls_key() -> ec.EllipticCurvePrivateKey:
    # P-256 for TLS: generated in microseconds, so a new cluster starts fast.
    return ec.generate_private_key(ec.SECP256R1())


def new_ca(cn: str = "sa-course-ca") -> KeyPair:
    """A self-signed certificate authority."""
    key = _tls_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert, key)


def issue(
    ca: KeyPair,
    cn: str,
    orgs: tuple[str, ...] = (),
    *,
    server: bool = False,
    client: bool = False,
    sans: tuple[str, ...] = (),
) -> KeyPair:
    """A leaf certificate signed by ``ca``: serving (with ``sans``) and/or client.

    For a client certificate the API server reads the user name from the CN and the
    groups from the O attributes:
    ``issue(ca, "kubernetes-admin", ("system:masters",), client=True)``.
    """
    key = _tls_key()
    now = dt.datetime.now(dt.UTC)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, orgs))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(_sans(sans)), critical=False)
    return KeyPair(builder.sign(ca.key, hashes.SHA256()), key)


def _sans(names: tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def new_service_account_key() -> rsa.RSAPrivateKey:
    """The key that signs ServiceAccount tokens (RSA 2048, so tokens say ``alg: RS256``)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_secret(path: Path, data: bytes) -> None:
    """Write a private file with mode 0600 from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def write_public(path: Path, data: bytes) -> None:
    """Write a public file (certificates), mode 0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o644)


# -- the cluster's full set --------------------------------------------------------------

#: file stem -> (CN, organisations, server?, client?)
CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("kubernetes-admin", ("system:masters",)),
    "controller-manager": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    "kubelet": (f"system:node:{config.NODE_NAME}", ("system:nodes",)),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ()),
    # bound by the bootstrap ClusterRoleBinding system:node-proxier
    "kube-proxy": ("system:kube-proxy", ()),
    # bound by the course to the ClusterRole system:coredns (components.coredns_rbac)
    "coredns": ("system:coredns", ()),
}

#: Every name a client may dial the API server by: the node address it listens on, and
#: the ``kubernetes`` Service's ClusterIP and DNS names that Pods use.
APISERVER_SANS = (
    config.NODE_IP,
    config.KUBERNETES_SERVICE_IP,
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    f"kubernetes.default.svc.{config.CLUSTER_DOMAIN}",
)


def generate(pki: Path, extra_sans: Sequence[str] = ()) -> None:
    """Write a complete, fresh PKI for the local cluster into ``pki``.

    ``extra_sans``: more names for the API server's certificate (a LAN address).
    """
    pki.mkdir(parents=True, exist_ok=True)
    os.chmod(pki, 0o700)
    ca = new_ca()
    write_public(pki / "ca.crt", ca.cert_pem)
    write_secret(pki / "ca.key", ca.key_pem)
    leaves = {
        "apiserver": issue(ca, "kube-apiserver", server=True, sans=(*APISERVER_SANS, *extra_sans)),
        "kubelet-serving": issue(
            ca, config.NODE_NAME, server=True, sans=("127.0.0.1", "localhost", config.NODE_NAME)
        ),
    }
    for stem, (cn, orgs) in CLIENTS.items():
        leaves[stem] = issue(ca, cn, orgs, client=True)
    for stem, pair in leaves.items():
        write_public(pki / f"{stem}.crt", pair.cert_pem)
        write_secret(pki / f"{stem}.key", pair.key_pem)
    write_service_account_key_pair(pki / "sa.key", pki / "sa.pub")
    # The key "before the last rotation": kube-apiserver still verifies with it, nothing
    # signs with it (notebook 15 signs one token with it, as the API server once would have).
    write_service_account_key_pair(pki / "sa-previous.key", pki / "sa-previous.pub")


def write_service_account_key_pair(private: Path, public: Path) -> None:
    """A fresh ServiceAccount signing key: the private key 0600, its public key 0644."""
    sa = new_service_account_key()
    write_secret(private, private_pem(sa))
    write_public(
        public,
        sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def kubeconfig(server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, user: str) -> str:
    """A self-contained kubeconfig (certificates embedded) for one client identity."""
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "sa-course",
                "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)},
            }
        ],
        "contexts": [{"name": "sa-course", "context": {"cluster": "sa-course", "user": user}}],
        "current-context": "sa-course",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_kubeconfig(path: Path, pki: Path, stem: str, server: str) -> None:
    """Write ``path`` (0600) so that it authenticates as the client certificate ``stem``."""
    text = kubeconfig(
        server,
        (pki / "ca.crt").read_bytes(),
        (pki / f"{stem}.crt").read_bytes(),
        (pki / f"{stem}.key").read_bytes(),
        user=stem,
    )
    write_secret(path, text.encode())
