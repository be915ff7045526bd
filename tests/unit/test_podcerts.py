"""The course's Pod certificate signer, offline: what it issues obeys the API server's rules.

The rules (``pkg/apis/certificates/validation/validation.go``, 1.37): the leaf holds the
request's public key, lives at least an hour and at most ``maxExpirationSeconds``, and
``beginRefreshAt`` lies 10 minutes inside both ends. The cluster tests see the API server
accept it (notebook 16).
"""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from helpers import podcerts


def stub_csr(key) -> str:
    """What the kubelet sends: an empty CSR signed with the Pod's new key, base64 as in JSON."""
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, algorithm)
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


KEYS = {
    "ED25519": lambda: ed25519.Ed25519PrivateKey.generate(),
    "ECDSAP256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "RSA3072": lambda: rsa.generate_private_key(65537, 3072),
}


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_the_leaf_holds_the_requests_key_and_names_the_workload(kind: str) -> None:
    ca, key = podcerts.make_ca("test CA"), KEYS[kind]()
    public = podcerts.stub_public_key(stub_csr(key))
    assert podcerts.key_type(public) == kind
    got = podcerts.issue(ca, public, podcerts.spiffe_id("td.example", "ns1", "web"), 86400)
    (leaf,) = podcerts.certificates_of(got.chain_pem)
    assert leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    leaf.verify_directly_issued_by(ca.certificate)
    row = podcerts.certificate_row(leaf)
    assert row["URI SAN"] == "spiffe://td.example/ns/ns1/sa/web"
    assert row["subject"] == "(empty)"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical, "an empty subject needs a critical SAN (RFC 5280)"


@pytest.mark.parametrize(
    ("max_seconds", "lifetime", "expected"),
    [
        (86400, dt.timedelta(hours=1), 3600),
        (86400, dt.timedelta(minutes=5), 3600),  # never under the API server's hour
        (3600, dt.timedelta(hours=6), 3600),  # never over the request's maximum
        (7200, dt.timedelta(hours=6), 7200),
    ],
)
def test_times_obey_the_api_servers_rules(max_seconds: int, lifetime, expected: int) -> None:
    now = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)
    ca = podcerts.make_ca("t", now=now)
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    got = podcerts.issue(ca, key, "spiffe://t/ns/a/sa/b", max_seconds, lifetime, now=now)
    (leaf,) = podcerts.certificates_of(got.chain_pem)
    assert leaf.not_valid_before_utc == got.not_before == now
    assert leaf.not_valid_after_utc == got.not_after
    assert (got.not_after - got.not_before).total_seconds() == expected
    assert got.not_before + podcerts.REFRESH_MARGIN <= got.begin_refresh_at
    assert got.begin_refresh_at <= got.not_after - podcerts.REFRESH_MARGIN


def test_certificates_of_skips_the_private_key() -> None:
    ca = podcerts.make_ca("t")
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    bundle = key_pem + ca.pem  # the kubelet's credential bundle: key first, then the chain
    assert [c.subject for c in podcerts.certificates_of(bundle)] == [ca.certificate.subject]


class _Spec:
    def __init__(self, sa: str, annotations=None) -> None:
        self.service_account_name = sa
        self.unverified_user_annotations = annotations


class _Request:
    def __init__(self, sa: str, annotations=None) -> None:
        self.spec = _Spec(sa, annotations)


def test_the_signer_serves_only_its_accounts_and_no_unknown_annotations() -> None:
    signer = podcerts.PodSigner(
        certificates=None,
        namespace="ns1",
        signer_name="sa-course.example/pod-identity",
        ca=podcerts.make_ca("t"),
        trust_domain="td.example",
        serves=["web", "client"],
    )
    assert signer.decide(_Request("web")) == ("Issued", "spiffe://td.example/ns/ns1/sa/web")
    assert signer.decide(_Request("default")) == ("Denied", "ServiceAccountNotServed")
    assert signer.decide(_Request("web", {"x.example/k": "v"}))[0] == "Denied"
