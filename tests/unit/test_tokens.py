"""Unit tests for helpers.tokens: tokens signed locally, shaped like Kubernetes ones."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import HMACAlgorithm
from kubernetes.client import (
    AuthenticationV1TokenRequest,
    V1ObjectMeta,
    V1Secret,
    V1TokenRequestSpec,
    V1TokenRequestStatus,
    V1TokenReview,
    V1TokenReviewSpec,
)

from helpers.tokens import (
    MISSING,
    Lifetimes,
    Token,
    UnknownKeyIdError,
    claims_table,
    decode_claims,
    decode_header,
    flatten_claims,
    kid_of_public_key,
    lifetimes,
    mask,
    masked,
    verify_offline,
)

if TYPE_CHECKING:
    from conftest import TokenKit

IAT = 1795856400  # 2026-11-28T09:00:00Z, the fixtures' issue time
ONE_YEAR = 365 * 24 * 60 * 60
NOT_A_JWT = "This is not a JWT: expected three base64url parts separated by dots."


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


# --- masking and the Token wrapper -------------------------------------------------------


def test_mask_shows_prefix_and_length_only(bound_token: str) -> None:
    masked = mask(bound_token)
    assert masked == f"{bound_token[:10]}…[{len(bound_token)} chars]"
    assert bound_token not in masked
    assert bound_token.split(".")[2][:8] not in masked


@pytest.mark.parametrize(("raw", "expected"), [("", "…[0 chars]"), ("abc", "…[3 chars]")])
def test_mask_short_strings_show_almost_nothing(raw: str, expected: str) -> None:
    assert mask(raw) == expected


def test_token_repr_is_masked(kit: TokenKit, bound_token: str) -> None:
    token = Token(bound_token)
    _header, payload, signature = bound_token.split(".")
    for text in (repr(token), str(token), f"{token}", repr([token]), repr({"t": token})):
        assert bound_token not in text
        assert signature[:8] not in text
        assert payload[:16] not in text
    assert repr(token) == f"Token({kit.subject}, {bound_token[:10]}…[{len(bound_token)} chars])"
    assert token.reveal() == bound_token


def test_masked_hides_every_token_of_a_request_review_or_secret(bound_token: str) -> None:
    expires = datetime(2026, 11, 28, 10, tzinfo=UTC)
    answer = AuthenticationV1TokenRequest(
        metadata=V1ObjectMeta(name="app"),
        spec=V1TokenRequestSpec(audiences=["api"], expiration_seconds=3600),
        status=V1TokenRequestStatus(token=bound_token, expiration_timestamp=expires),
    )
    review = V1TokenReview(spec=V1TokenReviewSpec(token=bound_token, audiences=["vault"]))
    secret = {"data": {"token": base64.b64encode(bound_token.encode()).decode()}}
    shown = [masked(answer), masked(review), masked(secret)]
    for data in shown:
        assert bound_token[20:] not in json.dumps(data)
    assert shown[0]["status"] == {
        "expirationTimestamp": "2026-11-28T10:00:00+00:00",
        "token": mask(bound_token),
    }
    assert shown[0]["spec"] == {"audiences": ["api"], "expirationSeconds": 3600}
    assert shown[1]["spec"] == {
        "audiences": ["vault"],
        "token": mask(bound_token),
    }
    assert answer.status.token == bound_token, "the object itself is not changed"


def test_token_without_subject_repr() -> None:
    raw = jwt.encode({"iss": "x"}, None, algorithm="none")
    assert repr(Token(raw)) == f"Token({mask(raw)})"


def test_token_equality_hash_and_whitespace(bound_token: str, legacy_token: str) -> None:
    assert Token(bound_token) == Token(bound_token + "\n")
    assert Token(bound_token) != Token(legacy_token)
    assert Token(bound_token) != bound_token
    assert len({Token(bound_token), Token(bound_token), Token(legacy_token)}) == 2


def test_token_header_and_claims(kit: TokenKit, bound_token: str) -> None:
    token = Token(bound_token)
    assert token.header == {"alg": "RS256", "kid": kit.kid}
    assert token.claims == kit.bound_claims()
    assert token.subject == kit.subject
    token.claims["kubernetes.io"]["namespace"] = "changed"
    assert token.claims["kubernetes.io"]["namespace"] == kit.namespace


def test_token_kind(kit: TokenKit, bound_token: str, legacy_token: str) -> None:
    assert Token(legacy_token).kind == "legacy"
    assert Token(bound_token).kind == "bound"
    assert Token(kit.sign(kit.bound_claims(binding="secret"))).kind == "bound"
    foreign = Token(kit.sign({"iss": "https://accounts.example.com", "sub": "alice"}))
    with pytest.raises(ValueError, match="not a Kubernetes ServiceAccount token"):
        _ = foreign.kind


def test_token_rejects_non_jwt() -> None:
    with pytest.raises(ValueError, match=r"^This is not a JWT"):
        Token("hunter2")


def test_token_from_secret(legacy_token: str) -> None:
    secret = V1Secret(
        metadata=V1ObjectMeta(name="controller-svc-token"),
        type="kubernetes.io/service-account-token",
        data={"token": base64.b64encode(legacy_token.encode()).decode(), "namespace": "eA=="},
    )
    token = Token.from_secret(secret)
    assert token == Token(legacy_token)
    assert token.kind == "legacy"


@pytest.mark.parametrize("data", [None, {}, {"ca.crt": "eA=="}])
def test_token_from_secret_without_token(data: dict[str, str] | None) -> None:
    secret = V1Secret(metadata=V1ObjectMeta(name="fresh"), data=data)
    with pytest.raises(ValueError, match=r"'fresh' has no data\.token"):
        Token.from_secret(secret)


def test_token_from_secret_not_base64() -> None:
    secret = V1Secret(metadata=V1ObjectMeta(name="odd"), data={"token": "not base64!"})
    with pytest.raises(ValueError, match="not base64"):
        Token.from_secret(secret)


# --- decoding ----------------------------------------------------------------------------


def test_decode_accepts_token_or_string(kit: TokenKit, legacy_token: str) -> None:
    assert decode_claims(legacy_token) == kit.legacy_claims()
    assert decode_claims(Token(legacy_token)) == kit.legacy_claims()
    assert decode_header(Token(legacy_token)) == {"alg": "RS256", "kid": kit.kid}


def test_decode_header_keeps_typ_when_present(kit: TokenKit) -> None:
    raw = kit.sign(kit.bound_claims(), typ="JWT")
    assert decode_header(raw) == {"alg": "RS256", "kid": kit.kid, "typ": "JWT"}


def test_decode_does_not_verify(kit: TokenKit, bound_token: str) -> None:
    forged = kit.sign(kit.bound_claims(), key=kit.other_key)
    assert decode_claims(forged) == decode_claims(bound_token)


NOT_JWTS = [
    "",
    "hunter2",
    "a.b",
    "a.b.c.d",
    ".payload.sig",
    "!!!.???.sig",
    f"{b64url(b'not json')}.{b64url(b'{}')}.sig",
]


@pytest.mark.parametrize("raw", [*NOT_JWTS, f"{b64url(b'{}')}.{b64url(b'[1, 2]')}.sig"])
def test_decode_claims_not_a_jwt(raw: str) -> None:
    with pytest.raises(ValueError) as info:
        decode_claims(raw)
    assert str(info.value) == NOT_A_JWT


@pytest.mark.parametrize("raw", NOT_JWTS)
def test_decode_header_not_a_jwt(raw: str) -> None:
    with pytest.raises(ValueError) as info:
        decode_header(raw)
    assert str(info.value) == NOT_A_JWT


def test_decode_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="Token or a str"):
        decode_claims(b"a.b.c")  # type: ignore[arg-type]


# --- flattening and the claims table -----------------------------------------------------


def test_flatten_claims(kit: TokenKit) -> None:
    flat = flatten_claims(kit.bound_claims())
    assert flat["kubernetes.io.pod.name"] == "controller-7d9f8c6b5-x2x4q"
    assert flat["kubernetes.io.serviceaccount.uid"] == kit.sa_uid
    assert flat["kubernetes.io.warnafter"] == IAT + 3607
    assert flat["aud"] == [kit.audience]
    assert "kubernetes.io" not in flat
    assert flatten_claims({"kubernetes.io": {"pod": {"name": "p"}}}) == {
        "kubernetes.io.pod.name": "p"
    }


def test_flatten_keeps_legacy_keys_and_edge_cases(kit: TokenKit) -> None:
    assert flatten_claims(kit.legacy_claims()) == kit.legacy_claims()
    assert flatten_claims({"a": {}, "b": [{"c": 1}], "d": None}) == {
        "a": {},
        "b": [{"c": 1}],
        "d": None,
    }


def test_claims_table_shape_and_order(kit: TokenKit, legacy_token: str, bound_token: str) -> None:
    table = claims_table({"legacy": legacy_token, "bound": Token(bound_token)})
    assert list(table.columns) == ["legacy", "bound"]
    assert table.index.name == "claim"
    assert list(table.index) == [
        "iss",
        "sub",
        "aud",
        "iat",
        "nbf",
        "exp",
        "jti",
        "kubernetes.io.namespace",
        "kubernetes.io.node.name",
        "kubernetes.io.node.uid",
        "kubernetes.io.pod.name",
        "kubernetes.io.pod.uid",
        "kubernetes.io.serviceaccount.name",
        "kubernetes.io.serviceaccount.uid",
        "kubernetes.io.warnafter",
        "kubernetes.io/serviceaccount/namespace",
        "kubernetes.io/serviceaccount/secret.name",
        "kubernetes.io/serviceaccount/service-account.name",
        "kubernetes.io/serviceaccount/service-account.uid",
    ]
    for claim in ("exp", "aud", "jti", "iat", "nbf", "kubernetes.io.warnafter"):
        assert table.loc[claim, "legacy"] == MISSING
    assert table.loc["kubernetes.io/serviceaccount/namespace", "bound"] == MISSING
    assert table.loc["sub", "legacy"] == table.loc["sub", "bound"] == kit.subject
    assert table.loc["iss", "legacy"] == "kubernetes/serviceaccount"
    assert table.loc["aud", "bound"] == [kit.audience]


def test_claims_table_renders_times(bound_token: str) -> None:
    table = claims_table({"bound": bound_token})
    assert table.loc["iat", "bound"] == "2026-11-28T09:00:00Z (1795856400)"
    assert table.loc["nbf", "bound"] == "2026-11-28T09:00:00Z (1795856400)"
    assert table.loc["kubernetes.io.warnafter", "bound"] == "2026-11-28T10:00:07Z (1795860007)"
    assert table.loc["exp", "bound"] == f"2027-11-28T09:00:00Z ({IAT + ONE_YEAR})"
    raw = claims_table({"bound": bound_token}, times=False)
    assert raw.loc["exp", "bound"] == IAT + ONE_YEAR


def test_claims_table_empty() -> None:
    assert claims_table({}).empty


# --- lifetimes ---------------------------------------------------------------------------


def test_lifetimes_of_bound_token(kit: TokenKit, bound_token: str) -> None:
    assert (kit.iat, kit.extended_ttl) == (IAT, ONE_YEAR)
    span = lifetimes(Token(bound_token))
    assert span == Lifetimes(
        issued_at=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        not_before=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        expires_at=datetime(2027, 11, 28, 9, 0, tzinfo=UTC),
        warn_after=datetime(2026, 11, 28, 10, 0, 7, tzinfo=UTC),
        ttl_seconds=ONE_YEAR,
        warn_after_seconds=3607,
    )
    assert span.expires_at is not None
    assert span.expires_at.utcoffset() == timedelta(0)


def test_lifetimes_of_legacy_and_short_tokens(kit: TokenKit, legacy_token: str) -> None:
    assert lifetimes(legacy_token) == Lifetimes(None, None, None, None, None, None)
    short = kit.sign(kit.bound_claims(ttl=600, binding=None, warn_after=None))
    span = lifetimes(short)
    assert (span.ttl_seconds, span.warn_after, span.warn_after_seconds) == (600, None, None)


# --- kid ---------------------------------------------------------------------------------


def test_kid_of_public_key(kit: TokenKit) -> None:
    pem = kit.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))  # PEM body = SPKI DER
    assert kit.kid == b64url(hashlib.sha256(der).digest())
    assert len(kit.kid) == 43
    assert "=" not in kit.kid
    assert kit.kid != kit.other_kid


def test_kid_of_private_key_is_refused(kit: TokenKit) -> None:
    with pytest.raises(TypeError, match="public key"):
        kid_of_public_key(kit.key)  # type: ignore[arg-type]


# --- offline verification ----------------------------------------------------------------


def fresh(kit: TokenKit, **overrides: Any) -> str:
    """A bound token issued now (real clock), valid for an hour."""
    return kit.sign(kit.bound_claims(iat=int(time.time()), ttl=3600, **overrides))


def verify(kit: TokenKit, token: str | Token, **kwargs: Any) -> dict[str, Any]:
    """verify_offline with the kit's JWKS, issuer and audience unless overridden."""
    options: dict[str, Any] = {"issuer": kit.issuer, "audience": kit.audience, **kwargs}
    return verify_offline(token, kit.jwks, **options)


def test_verify_succeeds_with_real_clock(kit: TokenKit) -> None:
    raw = fresh(kit)
    claims = verify(kit, Token(raw))
    assert claims == decode_claims(raw)
    assert claims["sub"] == kit.subject


def test_verify_succeeds_with_fixed_clock(kit: TokenKit, bound_token: str) -> None:
    claims = verify(kit, bound_token, now=at(IAT + 60))
    assert claims["kubernetes.io"]["pod"]["uid"] == kit.pod_uid


def test_verify_accepts_any_listed_audience(kit: TokenKit) -> None:
    raw = fresh(kit, audience=["vault", "https://kubernetes.default.svc"])
    assert verify(kit, raw, audience=["vault"])["aud"] == ["vault", kit.audience]
    assert verify(kit, raw, audience=["other", "https://kubernetes.default.svc"])


def test_tampered_payload_fails_signature(kit: TokenKit) -> None:
    header, payload, signature = fresh(kit).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "system:serviceaccount:kube-system:admin"
    forged = ".".join([header, b64url(json.dumps(claims).encode()), signature])
    assert decode_claims(forged)["sub"] == "system:serviceaccount:kube-system:admin"
    with pytest.raises(jwt.InvalidSignatureError):
        verify(kit, forged)


def test_other_key_with_our_kid_fails_signature(kit: TokenKit) -> None:
    forged = kit.sign(kit.bound_claims(iat=int(time.time())), key=kit.other_key, kid=kit.kid)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(kit, forged)


def test_unknown_kid(kit: TokenKit) -> None:
    foreign = kit.sign(kit.bound_claims(iat=int(time.time())), key=kit.other_key, kid=kit.other_kid)
    with pytest.raises(UnknownKeyIdError, match=re.escape(kit.other_kid)) as info:
        verify(kit, foreign)
    assert isinstance(info.value, jwt.InvalidTokenError)
    assert isinstance(info.value, jwt.PyJWKClientError)


def test_empty_jwks(kit: TokenKit) -> None:
    with pytest.raises(jwt.PyJWKSetError):
        verify_offline(fresh(kit), {"keys": []}, issuer=kit.issuer, audience=kit.audience)


def test_wrong_audience(kit: TokenKit) -> None:
    with pytest.raises(jwt.InvalidAudienceError):
        verify(kit, fresh(kit), audience="vault")


def test_wrong_issuer(kit: TokenKit) -> None:
    with pytest.raises(jwt.InvalidIssuerError):
        verify(kit, fresh(kit), issuer="https://evil.example.com")


def test_legacy_token_lacks_required_claims(kit: TokenKit, legacy_token: str) -> None:
    with pytest.raises(jwt.MissingRequiredClaimError):
        verify(kit, legacy_token)


def test_expired_with_fixed_clock(kit: TokenKit, bound_token: str) -> None:
    exp = IAT + ONE_YEAR
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(kit, bound_token, now=at(exp))
    assert verify(kit, bound_token, now=at(exp), leeway=30)
    assert verify(kit, bound_token, now=at(exp - 1))


def test_expired_with_real_clock(kit: TokenKit) -> None:
    raw = kit.sign(kit.bound_claims(iat=int(time.time()) - 7200, ttl=3600))
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(kit, raw)
    assert verify(kit, raw, now=at(time.time() - 5400))


def test_not_yet_valid_with_fixed_clock(kit: TokenKit, bound_token: str) -> None:
    with pytest.raises(jwt.ImmatureSignatureError, match="iat"):
        verify(kit, bound_token, now=at(IAT - 60))
    assert verify(kit, bound_token, now=at(IAT - 60), leeway=60)
    later_nbf = kit.bound_claims()
    later_nbf["nbf"] = IAT + 600
    with pytest.raises(jwt.ImmatureSignatureError, match="nbf"):
        verify(kit, kit.sign(later_nbf), now=at(IAT + 60))


def test_fixed_clock_must_be_timezone_aware(kit: TokenKit, bound_token: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(kit, bound_token, now=datetime(2026, 11, 28, 9, 1))


def test_fixed_clock_still_checks_signature_first(kit: TokenKit) -> None:
    forged = kit.sign(kit.bound_claims(), key=kit.other_key, kid=kit.kid)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(kit, forged, now=at(IAT + 60))


def test_alg_none_is_rejected(kit: TokenKit) -> None:
    claims = kit.bound_claims(iat=int(time.time()))
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kit.kid})
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(kit, unsigned)
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(kit, unsigned, algorithms=["RS256", "none"])


def test_hs256_with_public_key_as_secret_is_rejected(kit: TokenKit) -> None:
    """The classic key-confusion attack: HMAC keyed with the (public) PEM."""
    pem = kit.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "kid": kit.kid}).encode())
    payload = b64url(json.dumps(kit.bound_claims(iat=int(time.time()))).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = HMACAlgorithm(HMACAlgorithm.SHA256).sign(signing_input, pem)
    forged = f"{header}.{payload}.{b64url(signature)}"
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(kit, forged)
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(kit, forged, algorithms=["RS256", "HS256"])


def test_algorithms_argument(kit: TokenKit) -> None:
    assert verify(kit, fresh(kit), algorithms="RS256")
    with pytest.raises(ValueError, match="at least one"):
        verify(kit, fresh(kit), algorithms=[])
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(kit, fresh(kit), algorithms=["ES256"])


def test_verify_not_a_jwt(kit: TokenKit) -> None:
    with pytest.raises(ValueError, match=r"^This is not a JWT"):
        verify(kit, "not-a-token")


def test_non_numeric_dates(kit: TokenKit) -> None:
    claims = kit.bound_claims()
    claims["exp"] = "tomorrow"
    raw = kit.sign(claims)
    assert claims_table({"odd": raw}).loc["exp", "odd"] == "tomorrow"
    assert lifetimes(raw).expires_at is None
    assert lifetimes(raw).ttl_seconds is None
    with pytest.raises(jwt.DecodeError, match="'exp' claim must be a number"):
        verify(kit, raw, now=at(IAT + 60))
