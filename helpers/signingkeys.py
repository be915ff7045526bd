"""ServiceAccount signing keys: which key signs, which keys verify, and a rotation's old key.

kube-apiserver signs bound tokens with **one** private key
(``--service-account-signing-key-file``) and accepts tokens signed by **any** of its public
keys (``--service-account-key-file``, repeatable), all of which it publishes in the JWKS.
That split is what makes a rotation possible without breaking tokens in flight.

The course's own clusters are set up *in the middle of a rotation*: besides the current
key pair they verify with a previous public key, whose private half the course kept (a
real rotation would destroy it) so that notebook 15 can make a token "from before the
rotation". :func:`previous_signing_key` finds it; on an existing cluster it is ``None``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pandas as pd
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .tokens import Token, kid_of_public_key

if TYPE_CHECKING:
    from .course import Course

__all__ = ["keys_table", "previous_key_file", "previous_signing_key", "signed_with"]


def previous_key_file(backend: str) -> Path | None:
    """Where the course keeps the previous private key of ``backend``'s cluster, if anywhere."""
    if backend == "local":
        from .cluster import config

        return config.Layout().pki / "sa-previous.key"
    if backend == "kind":
        from .cluster.kind import KindBackend

        return KindBackend().previous_signing_key
    return None


def previous_signing_key(course: Course) -> rsa.RSAPrivateKey | None:
    """The key of "before the last rotation" on the course's own clusters, else ``None``."""
    path = previous_key_file(course.backend)
    if path is None or not path.is_file():
        return None
    key = load_pem_private_key(path.read_bytes(), password=None)
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def signed_with(token: Token, key: rsa.RSAPrivateKey, *, warnafter: int | None = None) -> Token:
    """``token``'s claims (with a fresh ``jti``) signed by ``key`` as kube-apiserver signs.

    RS256, and the ``kid`` Kubernetes derives from the public key: the token the API server
    would have issued had ``key`` still been its signing key. ``warnafter`` (Unix seconds)
    sets ``kubernetes.io.warnafter``, the moment after which the API server calls a use
    *stale*, as it does for the kubelet's extended tokens.

    >>> from cryptography.hazmat.primitives.asymmetric import rsa
    >>> key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    >>> original = Token(jwt.encode({"sub": "s", "jti": "1"}, key, algorithm="RS256"))
    >>> copy = signed_with(original, key)
    >>> copy.header["kid"] == kid_of_public_key(key.public_key()), copy.claims["jti"] != "1"
    (True, True)
    >>> signed_with(original, key, warnafter=100).claims["kubernetes.io"]
    {'warnafter': 100}
    """
    claims: dict[str, Any] = {**token.claims, "jti": str(uuid.uuid4())}
    if warnafter is not None:
        claims["kubernetes.io"] = {**claims.get("kubernetes.io", {}), "warnafter": warnafter}
    kid = kid_of_public_key(key.public_key())
    return Token(jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid}))


def keys_table(jwks: dict[str, Any], signing_kid: str, files: dict[str, str]) -> pd.DataFrame:
    """One row per published key: its ``kid``, the file it comes from, whether it signs.

    ``files`` maps a kid to its public key file where the control plane can be seen.

    >>> keys_table({"keys": [{"kid": "a", "kty": "RSA"}, {"kid": "b", "kty": "RSA"}]}, "b", {})
    ... # doctest: +NORMALIZE_WHITESPACE
      kid kty  signs new tokens public key file
    0   a RSA             False               —
    1   b RSA              True               —
    """
    return pd.DataFrame(
        [
            {
                "kid": k["kid"],
                "kty": k.get("kty"),
                "signs new tokens": k["kid"] == signing_kid,
                "public key file": files.get(k["kid"], "—"),
            }
            for k in jwks["keys"]
        ]
    )
