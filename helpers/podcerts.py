"""Pod certificates: a small signer for PodCertificateRequests, and what a certificate proves.

Kubernetes 1.37 made Pod certificates GA (``certificates.k8s.io/v1``
``PodCertificateRequest`` and the ``podCertificate`` projected volume), but ships no
signer for them: each cluster that uses them runs its own. This module is the course's
own, small enough to read in one sitting:

- :func:`make_ca` — the signer's CA (an ECDSA P-256 key and a self-signed certificate);
- :func:`spiffe_id` — the identity a certificate names, from namespace and ServiceAccount;
- :func:`issue` — a leaf certificate for the public key of a request's stub CSR, and the
  times the API server insists on (at least an hour; refresh between 10 minutes after the
  start and 10 minutes before the end);
- :class:`PodSigner` — a controller that, as its own ServiceAccount, reads the pending
  requests for its signer name in one namespace and writes ``Issued`` or ``Denied``;
- :func:`certificate_row` — one table row of what a certificate says.

The rules come from Kubernetes' own validation of a request's status
(``pkg/apis/certificates/validation/validation.go``, 1.37) and from the kubelet's side
(``pkg/kubelet/podcertificate/podcertificatemanager.go``).
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU
from cryptography.x509.oid import NameOID

__all__ = [
    "CA",
    "MIN_LIFETIME",
    "REFRESH_MARGIN",
    "Decision",
    "PodSigner",
    "certificate_row",
    "certificates_of",
    "identity_pod",
    "issue",
    "key_type",
    "make_ca",
    "spiffe_id",
    "stub_public_key",
]

#: The API server refuses a certificate that lives less than an hour.
MIN_LIFETIME = dt.timedelta(hours=1)
#: ``beginRefreshAt`` must be at least this long after ``notBefore`` and before ``notAfter``.
REFRESH_MARGIN = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class CA:
    """A signer's certificate authority: its key stays in this process, its certificate is
    what others trust (published as a ClusterTrustBundle)."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        """The CA certificate, PEM (public: this is what a trust bundle holds)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def make_ca(name: str, days: int = 1, now: dt.datetime | None = None) -> CA:
    """A fresh CA named ``name``, valid for ``days`` (its key never leaves this process).

    >>> ca = make_ca("course pod CA")
    >>> ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    True
    """
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return CA(key, cert)


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    """The SPIFFE-style identity of a workload: who it runs as, not where.

    >>> spiffe_id("course.example", "shop", "web")
    'spiffe://course.example/ns/shop/sa/web'
    """
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def stub_public_key(stub: str | bytes) -> Any:
    """The public key of a request's ``stubPKCS10Request`` (base64 text, as JSON carries
    it, or DER bytes). The API server has already checked the CSR's signature: that is the
    kubelet's proof that it holds the private key."""
    der = base64.b64decode(stub) if isinstance(stub, str) else stub
    return x509.load_der_x509_csr(der).public_key()


def key_type(public_key: Any) -> str:
    """The name Kubernetes gives a key type (``keyType`` of the projection).

    >>> key_type(ed25519.Ed25519PrivateKey.generate().public_key())
    'ED25519'
    """
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ED25519"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ECDSAP256", "secp384r1": "ECDSAP384", "secp521r1": "ECDSAP521"}.get(
            public_key.curve.name, public_key.curve.name
        )
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA{public_key.key_size}"
    return type(public_key).__name__


@dataclass(frozen=True)
class Issued:
    """A leaf certificate and the times a request's status must carry with it."""

    chain_pem: str
    not_before: dt.datetime
    not_after: dt.datetime
    begin_refresh_at: dt.datetime


def issue(
    ca: CA,
    public_key: Any,
    identity: str,
    max_seconds: int,
    lifetime: dt.timedelta = dt.timedelta(hours=1),
    now: dt.datetime | None = None,
) -> Issued:
    """A certificate for ``public_key`` naming ``identity`` (a URI SAN), signed by ``ca``.

    The lifetime is ``lifetime``, cut to the request's ``maxExpirationSeconds`` and never
    under an hour; the kubelet is asked to refresh half-way (inside the 10-minute margins).

    >>> ca = make_ca("test")
    >>> leaf = ed25519.Ed25519PrivateKey.generate().public_key()
    >>> got = issue(ca, leaf, "spiffe://course.example/ns/a/sa/b", 86400)
    >>> (got.not_after - got.not_before).total_seconds(), got.chain_pem.count("BEGIN CERT")
    (3600.0, 1)
    """
    now = now or _now()
    span = max(MIN_LIFETIME, min(lifetime, dt.timedelta(seconds=max_seconds)))
    not_before, not_after = now, now + span
    begin_refresh = not_before + span / 2
    begin_refresh = min(max(begin_refresh, not_before + REFRESH_MARGIN), not_after - REFRESH_MARGIN)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))  # the identity is the URI below, not a name
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([EKU.SERVER_AUTH, EKU.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
        .sign(ca.key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return Issued(pem, not_before, not_after, begin_refresh)


def certificates_of(pem: str) -> list[x509.Certificate]:
    """The CERTIFICATE blocks of ``pem``; anything else in it (a private key) is skipped."""
    blocks = pem.split("-----BEGIN CERTIFICATE-----")[1:]
    return [
        x509.load_pem_x509_certificate(f"-----BEGIN CERTIFICATE-----{b}".encode()) for b in blocks
    ]


def certificate_row(cert: x509.Certificate) -> dict[str, object]:
    """What a certificate says, as one table row (nothing secret is in a certificate)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    return {
        "subject": cert.subject.rfc4514_string() or "(empty)",
        "URI SAN": ", ".join(uris) or "—",
        "issuer": cert.issuer.rfc4514_string(),
        "key": key_type(cert.public_key()),
        "not before": cert.not_valid_before_utc,
        "not after": cert.not_valid_after_utc,
        "lifetime": cert.not_valid_after_utc - cert.not_valid_before_utc,
    }


def identity_pod(
    name: str, service_account: str, volume: dict[str, Any], command: list[str]
) -> dict[str, Any]:
    """A Pod of the course's tools image (a shell, openssl, curl) that runs ``command`` as
    ``service_account`` and mounts ``volume`` at ``/var/run/identity`` (no API token)."""
    from .cluster.config import TOOLS_IMAGE

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "serviceAccountName": service_account,
            "automountServiceAccountToken": False,  # this Pod proves who it is with a certificate
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": TOOLS_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": command,
                    "volumeMounts": [
                        {"name": volume["name"], "mountPath": "/var/run/identity", "readOnly": True}
                    ],
                }
            ],
            "volumes": [volume],
        },
    }


@dataclass
class Decision:
    """What the signer did with one request."""

    request: str
    pod: str
    service_account: str
    outcome: str  # Issued or Denied
    identity: str = ""
    reason: str = ""


def _condition(kind: str, reason: str, message: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PodSigner:
    """The course's signer: Issued for the ServiceAccounts it serves, Denied for the rest.

    ``certificates`` is a ``CertificatesV1Api`` authenticated as the signer's own
    ServiceAccount, which RBAC lets read requests and update their status in
    ``namespace``, and ``sign`` for ``signer_name``. :meth:`sign_pending` handles what is
    waiting once; :meth:`start` does that every ``interval`` seconds in a thread until
    :meth:`stop` (a real signer would watch; polling keeps this one short).
    """

    certificates: Any
    namespace: str
    signer_name: str
    ca: CA
    trust_domain: str
    serves: Iterable[str]
    interval: float = 0.5
    decisions: list[Decision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def _pending(self) -> list[Any]:
        found = self.certificates.list_namespaced_pod_certificate_request(
            self.namespace,
            field_selector=f"spec.signerName={self.signer_name}",
            _request_timeout=15,
        ).items
        return [r for r in found if not (r.status and r.status.conditions)]

    def decide(self, request: Any) -> tuple[str, str]:
        """``("Issued", identity)`` or ``("Denied", reason)`` for one request."""
        spec = request.spec
        if spec.service_account_name not in set(self.serves):
            return "Denied", "ServiceAccountNotServed"
        if spec.unverified_user_annotations:
            return "Denied", "InvalidUnverifiedUserAnnotations"
        return "Issued", spiffe_id(self.trust_domain, self.namespace, spec.service_account_name)

    def sign_pending(self) -> list[Decision]:
        """Decide every pending request for this signer once; what was decided."""
        done: list[Decision] = []
        for request in self._pending():
            spec, now = request.spec, _now()
            outcome, detail = self.decide(request)
            body = self.certificates.api_client.sanitize_for_serialization(request)
            if outcome == "Issued":
                got = issue(
                    self.ca,
                    stub_public_key(spec.stub_pkcs10_request),
                    detail,
                    spec.max_expiration_seconds or 86400,
                    now=now,
                )
                body["status"] = {
                    "conditions": [_condition("Issued", "Issued", f"issued for {detail}", now)],
                    "certificateChain": got.chain_pem,
                    "notBefore": _rfc3339(got.not_before),
                    "notAfter": _rfc3339(got.not_after),
                    "beginRefreshAt": _rfc3339(got.begin_refresh_at),
                }
            else:
                message = (
                    f"this signer serves only {', '.join(sorted(self.serves))}, "
                    f"not {spec.service_account_name}"
                )
                body["status"] = {"conditions": [_condition("Denied", detail, message, now)]}
            self.certificates.replace_namespaced_pod_certificate_request_status(
                request.metadata.name, self.namespace, body, _request_timeout=15
            )
            decision = Decision(
                request.metadata.name,
                spec.pod_name,
                spec.service_account_name,
                outcome,
                detail if outcome == "Issued" else "",
                detail if outcome == "Denied" else "",
            )
            done.append(decision)
            self.decisions.append(decision)
        return done

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sign_pending()
            except Exception as exc:  # keep serving; the notebook shows what went wrong
                self.errors.append(f"{type(exc).__name__}: {exc}"[:300])

    def start(self) -> PodSigner:
        """Serve requests in a background thread (every ``interval`` seconds)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="pod-signer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 20) -> None:
        """Stop serving (waits for the current pass, at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
