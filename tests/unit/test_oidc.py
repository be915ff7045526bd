"""Unit tests for helpers.oidc: a local HTTP server plays the API server's discovery endpoints."""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes.client import V1TokenReviewStatus

from helpers.errors import CourseApiError, Forbidden, Unauthenticated
from helpers.oidc import (
    DISCOVERY_PATH,
    JWKS_PATH,
    HttpResponse,
    Outcome,
    attempt,
    ca_from_kubeconfig,
    discover,
    fetch_json,
    http_get,
    jwks_client,
    review_outcome,
    ssl_context,
    tamper,
    verify_external,
)
from helpers.tokens import Token

if TYPE_CHECKING:
    from conftest import TokenKit

GOOD_TOKEN = "let-me-in"


def status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": message}
    ).encode()


class FakeIssuer(ThreadingHTTPServer):
    """Serves discovery and JWKS to bearer ``GOOD_TOKEN`` only, like Kubernetes' default RBAC."""

    jwks: dict[str, Any]
    seen_headers: list[dict[str, str]]


class Handler(BaseHTTPRequestHandler):
    server: FakeIssuer

    def log_message(self, *args: Any) -> None:  # keep pytest output quiet
        pass

    def do_GET(self) -> None:
        self.server.seen_headers.append(dict(self.headers.items()))
        auth = self.headers.get("Authorization")
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if auth is None:
            self.reply(403, status_body(403, "Forbidden", 'User "system:anonymous" cannot get'))
            return
        if auth != f"Bearer {GOOD_TOKEN}":
            self.reply(401, status_body(401, "Unauthorized", "Unauthorized"))
            return
        if self.path == DISCOVERY_PATH:
            doc = {"issuer": "https://kubernetes.default.svc", "jwks_uri": base + JWKS_PATH}
            self.reply(200, json.dumps(doc).encode(), warning='299 - "be careful"')
        elif self.path == JWKS_PATH:
            self.reply(200, json.dumps(self.server.jwks).encode())
        else:
            self.reply(404, status_body(404, "NotFound", "the server could not find it"))

    def reply(self, code: int, body: bytes, warning: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if warning:
            self.send_header("Warning", warning)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def running_issuer(kit: TokenKit) -> Iterator[FakeIssuer]:
    server = FakeIssuer(("127.0.0.1", 0), Handler)
    server.jwks = kit.jwks
    server.seen_headers = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def issuer(running_issuer: FakeIssuer) -> FakeIssuer:
    running_issuer.seen_headers.clear()
    return running_issuer


def base_url(server: FakeIssuer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def self_signed_ca_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def write_kubeconfig(path: Path, cluster: dict[str, Any]) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "ctx",
        "contexts": [{"name": "ctx", "context": {"cluster": "c1", "user": "u"}}],
        "clusters": [{"name": "c1", "cluster": {"server": "https://127.0.0.1:6443", **cluster}}],
        "users": [{"name": "u", "user": {}}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


# --- the CA ----------------------------------------------------------------------------------
def test_ca_from_kubeconfig_data(tmp_path: Path) -> None:
    pem = self_signed_ca_pem()
    data = base64.b64encode(pem.encode()).decode()
    kubeconfig = write_kubeconfig(tmp_path / "kc", {"certificate-authority-data": data})
    assert ca_from_kubeconfig(kubeconfig) == pem


def test_ca_from_kubeconfig_file_is_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    pem = self_signed_ca_pem()
    (tmp_path / "ca.crt").write_text(pem)
    kubeconfig = write_kubeconfig(tmp_path / "kc", {"certificate-authority": "ca.crt"})
    assert ca_from_kubeconfig(kubeconfig) == pem


def test_ca_from_kubeconfig_explains_what_is_missing(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kc", {})
    with pytest.raises(ValueError, match="names no certificate authority"):
        ca_from_kubeconfig(kubeconfig)
    with pytest.raises(ValueError, match="no context 'other'"):
        ca_from_kubeconfig(kubeconfig, context="other")
    bad = write_kubeconfig(tmp_path / "bad", {"certificate-authority-data": "%%%"})
    with pytest.raises(ValueError, match="not base64"):
        ca_from_kubeconfig(bad)


def test_ssl_context_trusts_the_given_ca_and_checks_names() -> None:
    context = ssl_context(self_signed_ca_pem())
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert len(context.get_ca_certs()) == 1


def test_ssl_context_rejects_what_is_not_pem() -> None:
    with pytest.raises(ValueError, match="PEM certificate"):
        ssl_context("not a certificate")


# --- plain HTTP(S) ---------------------------------------------------------------------------
def test_http_get_sends_the_bearer_token_and_returns_headers(issuer: FakeIssuer) -> None:
    response = http_get(base_url(issuer) + DISCOVERY_PATH, token=GOOD_TOKEN)
    assert response.status == 200
    assert response.header_values("warning") == ['299 - "be careful"']
    assert response.json()["issuer"] == "https://kubernetes.default.svc"
    assert issuer.seen_headers[-1]["Authorization"] == f"Bearer {GOOD_TOKEN}"


def test_http_get_accepts_a_token_object(issuer: FakeIssuer, bound_token: str) -> None:
    http_get(base_url(issuer) + DISCOVERY_PATH, token=Token(bound_token), check=False)
    assert issuer.seen_headers[-1]["Authorization"] == f"Bearer {bound_token}"


def test_anonymous_request_sends_no_credentials_and_is_forbidden(issuer: FakeIssuer) -> None:
    with pytest.raises(Forbidden, match="system:anonymous"):
        fetch_json(base_url(issuer) + JWKS_PATH)
    assert "Authorization" not in issuer.seen_headers[-1]


def test_bad_token_is_unauthenticated(issuer: FakeIssuer) -> None:
    with pytest.raises(Unauthenticated):
        fetch_json(base_url(issuer) + JWKS_PATH, token="wrong")


def test_http_get_without_check_returns_the_refusal(issuer: FakeIssuer) -> None:
    response = http_get(base_url(issuer) + "/nowhere", token=GOOD_TOKEN, check=False)
    assert response.status == 404
    assert response.header_values("Warning") == []


def test_refusal_messages_are_one_line(issuer: FakeIssuer) -> None:
    with pytest.raises(CourseApiError) as info:
        fetch_json(base_url(issuer) + "/nowhere", token=GOOD_TOKEN)
    assert str(info.value) == "404 NotFound: the server could not find it"


def test_unreachable_server_is_one_sentence() -> None:
    with pytest.raises(ConnectionError, match=r"^Could not reach http://127\.0\.0\.1:9/"):
        http_get("http://127.0.0.1:9/", timeout=2)


def test_header_values_of_a_plain_mapping() -> None:
    response = HttpResponse(200, {"Warning": "a"}, b"{}")
    assert response.header_values("warning") == ["a"]


def test_discover(issuer: FakeIssuer) -> None:
    doc = discover(base_url(issuer) + "/", token=GOOD_TOKEN)
    assert doc["jwks_uri"] == base_url(issuer) + JWKS_PATH


# --- the external verifier -------------------------------------------------------------------
def keys_for(issuer: FakeIssuer) -> Any:
    return jwks_client(base_url(issuer) + JWKS_PATH, token=GOOD_TOKEN)


def test_verify_external_accepts_a_fresh_token(kit: TokenKit, issuer: FakeIssuer) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    raw = kit.sign(kit.bound_claims(iat=now, ttl=600, warn_after=None))
    claims = verify_external(raw, keys_for(issuer), issuer=kit.issuer, audience=kit.audience)
    assert claims["sub"] == kit.subject


def test_jwks_client_without_token_cannot_fetch(kit: TokenKit, issuer: FakeIssuer) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    raw = kit.sign(kit.bound_claims(iat=now, ttl=600))
    keys = jwks_client(base_url(issuer) + JWKS_PATH)
    outcome = attempt(verify_external, raw, keys, issuer=kit.issuer, audience=kit.audience)
    assert outcome.error == "PyJWKClientConnectionError"


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("tampered", "InvalidSignatureError"),
        ("wrong audience", "InvalidAudienceError"),
        ("wrong issuer", "InvalidIssuerError"),
        ("expired", "ExpiredSignatureError"),
        ("legacy", "MissingRequiredClaimError"),
        ("foreign key", "PyJWKClientError"),
        ("alg none", "InvalidAlgorithmError"),
    ],
)
def test_verify_external_rejects(kit: TokenKit, issuer: FakeIssuer, case: str, error: str) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = kit.bound_claims(iat=now, ttl=600)
    raw = {
        "tampered": lambda: tamper(kit.sign(claims), sub="system:serviceaccount:x:y").reveal(),
        "wrong audience": lambda: kit.sign(kit.bound_claims(iat=now, audience=["vault"])),
        "wrong issuer": lambda: kit.sign({**claims, "iss": "https://elsewhere"}),
        "expired": lambda: kit.sign(kit.bound_claims(iat=now - 4000, ttl=3600)),
        "legacy": lambda: kit.sign(kit.legacy_claims()),
        "foreign key": lambda: kit.sign(claims, key=kit.other_key, kid=kit.other_kid),
        "alg none": lambda: jwt.encode(claims, None, algorithm="none", headers={"kid": kit.kid}),
    }[case]()
    outcome = attempt(
        verify_external, raw, keys_for(issuer), issuer=kit.issuer, audience=kit.audience
    )
    assert not outcome.accepted
    assert outcome.error == error, outcome


def test_verify_external_pins_the_algorithm_list(kit: TokenKit, issuer: FakeIssuer) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    raw = kit.sign(kit.bound_claims(iat=now, ttl=600))
    outcome = attempt(
        verify_external,
        raw,
        keys_for(issuer),
        issuer=kit.issuer,
        audience=kit.audience,
        algorithms="ES256",
    )
    assert outcome.error == "InvalidAlgorithmError"


# --- tamper, attempt, review_outcome ---------------------------------------------------------
def test_tamper_keeps_header_and_signature(bound_token: str) -> None:
    forged = tamper(bound_token, aud=["elsewhere"])
    head, _, sig = bound_token.split(".")
    assert forged.reveal().startswith(head + ".")
    assert forged.reveal().endswith("." + sig)
    assert forged.claims["aud"] == ["elsewhere"]
    assert forged.claims["sub"] == Token(bound_token).claims["sub"]


def test_attempt_lets_other_errors_through() -> None:
    def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        attempt(broken)


def test_outcome_text() -> None:
    assert str(Outcome(True)) == "accepted"
    assert str(Outcome(False, "InvalidIssuerError")) == "rejected: InvalidIssuerError"


def test_review_outcome_without_error_text() -> None:
    outcome = review_outcome(V1TokenReviewStatus(authenticated=False))
    assert outcome == Outcome(False, "TokenReview", "not authenticated")
