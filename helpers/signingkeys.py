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
from typing import TYPE_CHECKING, Any

import jwt
import pandas as pd
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .tokens import Token, kid_of_public_key

if TYPE_CHECKING:
    from .course import Course

__all__ = ["keys_table", "previous_signing_key", "signed_with"]


def previous_signing_key(course: Course) -> rsa.RSAPrivateKey | None:
    """The key of "before the last rotation" on the course's own clusters, else ``None``."""
    path = course.node.previous_signing_key if course.node else None
    if path is None or not path.is_file():
        return None
    key = load_pem_private_key(path.read_bytes(), password=None)
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def signed_with(
    token: Token, key: rsa.RSAPrivateKey, *, warnafter: int | None = None, age: int = 0
) -> Token:
    """``token``'s claims signed by ``key`` as kube-apiserver signs: RS256, Kubernetes' ``kid``.

    The token the API server would have issued had ``key`` still been its signing key. A
    token with a ``jti`` gets a fresh one (each token the API server issues has its own);
    a legacy token (no ``jti``) gets none, as kube-controller-manager writes none.

    Args:
        token: The token whose claims to copy (e.g. one the API server just issued).
        key: The private key to sign with.
        warnafter: Unix seconds: sets ``kubernetes.io.warnafter``, the moment after which
            the API server calls a use *stale*, as it does for the kubelet's extended tokens.
        age: Seconds to move the token into the past: ``iat``, ``nbf``, ``exp`` and
            ``warnafter`` all shift back by this much, so the copy is the token the API
            server would have issued ``age`` seconds earlier.

    >>> from cryptography.hazmat.primitives.asymmetric import rsa
    >>> key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    >>> original = Token(jwt.encode({"sub": "s", "jti": "1"}, key, algorithm="RS256"))
    >>> copy = signed_with(original, key)
    >>> copy.header["kid"] == kid_of_public_key(key.public_key()), copy.claims["jti"] != "1"
    (True, True)
    >>> signed_with(original, key, warnafter=100).claims["kubernetes.io"]
    {'warnafter': 100}
    >>> timed = Token(jwt.encode({"iat": 5000, "nbf": 5000, "exp": 9000,
    ...                           "kubernetes.io": {"warnafter": 8607}}, key, algorithm="RS256"))
    >>> older = signed_with(timed, key, age=4000).claims
    >>> [older["iat"], older["nbf"], older["exp"], older["kubernetes.io"]["warnafter"]]
    [1000, 1000, 5000, 4607]
    >>> "jti" in older
    False
    """
    claims: dict[str, Any] = dict(token.claims)
    if "jti" in claims:
        claims["jti"] = str(uuid.uuid4())
    private = dict(claims.get("kubernetes.io") or {})
    if warnafter is not None:
        private["warnafter"] = warnafter
    if age:
        for name in ("iat", "nbf", "exp"):
            if name in claims:
                claims[name] = int(claims[name]) - age
        if "warnafter" in private:
            private["warnafter"] = int(private["warnafter"]) - age
    if private or "kubernetes.io" in claims:
        claims["kubernetes.io"] = private
    kid = kid_of_public_key(key.public_key())
    return Token(jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid}))


def keys_table(
    jwks: dict[str, Any],
    signing_kid: str,
    files: dict[str, str],
    legacy_kid: str | None = None,
) -> pd.DataFrame:
    """One row per published key: its ``kid``, the file it comes from, whether it signs.

    ``signing_kid`` is the kid of a fresh bound token (kube-apiserver's signing key);
    ``legacy_kid``, if given, that of a fresh legacy token (kube-controller-manager's key).
    ``files`` maps a kid to its public key file where the control plane can be seen.

    >>> keys_table({"keys": [{"kid": "a", "kty": "RSA"}, {"kid": "b", "kty": "RSA"}]}, "b", {})
    ... # doctest: +NORMALIZE_WHITESPACE
      kid kty  signs new tokens public key file
    0   a RSA             False               —
    1   b RSA              True               —
    >>> row = keys_table({"keys": [{"kid": "a"}, {"kid": "b"}]}, "b", {}, legacy_kid="b").iloc[1]
    >>> bool(row["signs new tokens"]), bool(row["signs new legacy tokens"])
    (True, True)
    """
    rows = []
    for k in jwks["keys"]:
        row = {"kid": k["kid"], "kty": k.get("kty"), "signs new tokens": k["kid"] == signing_kid}
        if legacy_kid is not None:
            row["signs new legacy tokens"] = k["kid"] == legacy_kid
        row["public key file"] = files.get(k["kid"], "—")
        rows.append(row)
    return pd.DataFrame(rows)
