"""Shared fixtures for the unit tests: no cluster, no network.

``kit`` signs JWTs shaped exactly like Kubernetes ServiceAccount tokens (legacy and
bound) with a throwaway RSA key, and offers the matching JWKS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from helpers.tokens import kid_of_public_key

ISSUER = "https://kubernetes.default.svc"
IAT = 1795856400  # 2026-11-28T09:00:00Z
ONE_YEAR = 365 * 24 * 60 * 60  # how far the API server extends a kubelet's 3607 s token
NAMESPACE = "controller-ns"
SERVICE_ACCOUNT = "controller-svc"


@dataclass(frozen=True)
class TokenKit:
    """A fake cluster's signing key and token factories."""

    key: rsa.RSAPrivateKey
    other_key: rsa.RSAPrivateKey
    issuer: str = ISSUER
    audience: str = ISSUER
    iat: int = IAT
    extended_ttl: int = ONE_YEAR
    namespace: str = NAMESPACE
    service_account: str = SERVICE_ACCOUNT
    sa_uid: str = "8f1b2c3d-0000-4000-8000-00000000a11c"
    pod_uid: str = "5e6f7a8b-0000-4000-8000-0000000000b0"
    node_uid: str = "1a2b3c4d-0000-4000-8000-00000000000d"
    jti: str = "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a"

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def kid(self) -> str:
        return kid_of_public_key(self.key.public_key())

    @property
    def other_kid(self) -> str:
        return kid_of_public_key(self.other_key.public_key())

    @property
    def jwks(self) -> dict[str, Any]:
        """The JWKS the API server serves at /openid/v1/jwks (one RSA key)."""
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.pop("key_ops", None)
        return {"keys": [{"use": "sig", **jwk, "kid": self.kid, "alg": "RS256"}]}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        typ: str | None = None,
    ) -> str:
        """Sign ``claims`` with RS256 like the API server: header ``alg`` and ``kid``."""
        headers: dict[str, Any] = {"kid": kid or self.kid, "typ": typ}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers=headers)

    def legacy_claims(self) -> dict[str, Any]:
        """Claims of a Secret-based token: flat private claims, no exp/iat/nbf/aud/jti."""
        prefix = "kubernetes.io/serviceaccount/"
        return {
            "iss": "kubernetes/serviceaccount",
            f"{prefix}namespace": self.namespace,
            f"{prefix}secret.name": f"{self.service_account}-token",
            f"{prefix}service-account.name": self.service_account,
            f"{prefix}service-account.uid": self.sa_uid,
            "sub": self.subject,
        }

    def bound_claims(
        self,
        *,
        iat: int | None = None,
        ttl: int | None = None,
        audience: list[str] | None = None,
        binding: str | None = "pod",
        warn_after: int | None = 3607,
    ) -> dict[str, Any]:
        """Claims of a TokenRequest token; ``binding`` is "pod", "secret", "node" or None."""
        iat = self.iat if iat is None else iat
        ttl = self.extended_ttl if ttl is None else ttl
        private: dict[str, Any] = {
            "namespace": self.namespace,
            "serviceaccount": {"name": self.service_account, "uid": self.sa_uid},
        }
        if binding == "pod":
            private["node"] = {"name": "node-1", "uid": self.node_uid}
            private["pod"] = {"name": "controller-7d9f8c6b5-x2x4q", "uid": self.pod_uid}
        elif binding is not None:
            private[binding] = {"name": f"{binding}-1", "uid": self.pod_uid}
        if warn_after is not None:
            private["warnafter"] = iat + warn_after
        return {
            "aud": audience if audience is not None else [self.audience],
            "exp": iat + ttl,
            "iat": iat,
            "iss": self.issuer,
            "jti": self.jti,
            "kubernetes.io": private,
            "nbf": iat,
            "sub": self.subject,
        }


@pytest.fixture(scope="session")
def kit() -> TokenKit:
    """A signing key (plus an unrelated second key) and token factories."""
    return TokenKit(
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        other_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture(scope="session")
def legacy_token(kit: TokenKit) -> str:
    """A legacy, Secret-based token (never expires)."""
    return kit.sign(kit.legacy_claims())


@pytest.fixture(scope="session")
def bound_token(kit: TokenKit) -> str:
    """A Pod-bound projected token issued at 2026-11-28T09:00:00Z, warnafter 3607 s."""
    return kit.sign(kit.bound_claims())
