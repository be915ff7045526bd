"""ServiceAccount tokens: decode, mask, tabulate and verify them like an outsider would.

Kubernetes ServiceAccount tokens are JWTs in one of two shapes:

- **legacy** (stored in a ``kubernetes.io/service-account-token`` Secret): issuer
  ``kubernetes/serviceaccount``, flat ``kubernetes.io/serviceaccount/...`` claims and
  no ``exp``, ``aud`` or ``jti``: valid until the Secret is deleted.
- **bound** (TokenRequest API, projected volumes): audience, expiry, a unique ``jti``
  and a nested ``kubernetes.io`` claim naming the Pod, Secret or Node it is bound to.

Decoding (:func:`decode_claims`) reads a token without checking it; only
:func:`verify_offline` checks the signature, issuer, audience and lifetime. A raw token
is a password: :class:`Token` keeps it out of ``repr`` and notebook output.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import jwt
import pandas as pd
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from kubernetes.client import V1Secret

__all__ = [
    "LEGACY_ISSUER",
    "MISSING",
    "NUMERIC_DATE_CLAIMS",
    "STANDARD_CLAIMS",
    "Lifetimes",
    "Token",
    "UnknownKeyIdError",
    "claims_table",
    "decode_claims",
    "decode_header",
    "flatten_claims",
    "kid_of_public_key",
    "lifetimes",
    "mask",
    "masked",
    "verify_offline",
]

LEGACY_ISSUER = "kubernetes/serviceaccount"
"""The fixed ``iss`` of legacy, Secret-based ServiceAccount tokens."""

LEGACY_CLAIM_PREFIX = "kubernetes.io/serviceaccount/"
"""Prefix of the flat private claims of legacy tokens."""

STANDARD_CLAIMS = ("iss", "sub", "aud", "iat", "nbf", "exp", "jti")
"""Registered JWT claims, in the order :func:`claims_table` shows them first."""

NUMERIC_DATE_CLAIMS = ("iat", "nbf", "exp", "kubernetes.io.warnafter")
"""Flattened claim paths holding a NumericDate (seconds since the Unix epoch, UTC)."""

MISSING = "—"
"""Cell value in :func:`claims_table` for a claim a token does not have."""

REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
"""Claims :func:`verify_offline` insists on (a legacy token has no exp, iat or aud)."""

_NOT_A_JWT = "This is not a JWT: expected three base64url parts separated by dots."
_MASK_PREFIX = 10


class UnknownKeyIdError(jwt.PyJWKClientError, jwt.InvalidTokenError):
    """No key in the JWKS has the token header's ``kid``: not signed by this issuer's keys.

    It is both a :class:`jwt.PyJWKClientError` (what :class:`jwt.PyJWKClient` raises in
    the same situation) and a :class:`jwt.InvalidTokenError` (so one ``except`` catches
    every rejected token).
    """


def mask(raw: str) -> str:
    """Mask a secret string: its first characters and its length, never the rest.

    At most 10 characters and never more than a quarter of the string are shown. For a
    JWT that is part of the header, which is not secret; the signature never is.

    Args:
        raw: The secret, e.g. a raw JWT.

    Returns:
        A short, printable stand-in such as ``"eyJhbGciOi…[842 chars]"``.

    Example:
        >>> mask(".".join(["eyJhbGciOiJSUzI1NiJ9", "eyJzdWIiOiJ4In0", "c2lnbmF0dXJl"]))
        'eyJhbGciOi…[49 chars]'
        >>> mask("hunter2")
        'h…[7 chars]'
    """
    shown = raw[: min(_MASK_PREFIX, len(raw) // 4)]
    return f"{shown}…[{len(raw)} chars]"


def masked(obj: Any) -> Any:
    """A Kubernetes object with every token in it masked, ready to show (``show_yaml``).

    ``obj`` is a client model (a TokenRequest, a TokenReview, a Secret) or a plain dict. The
    result is a plain dict with the API's own (camelCase) keys, in which every string under
    a key named ``token`` is replaced by its :func:`mask`: a TokenRequest's ``status.token``,
    a TokenReview's ``spec.token``,
    a legacy Secret's ``data.token``. The object itself is not changed.

    Example:
        >>> masked({"spec": {"token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "audiences": ["x"]}})
        {'spec': {'token': 'eyJhbGc…[29 chars]', 'audiences': ['x']}}
    """
    from .display import as_dict

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: mask(v) if k == "token" and isinstance(v, str) else walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(as_dict(obj))


def _raw_of(token: Token | str) -> str:
    """The raw JWT string of a :class:`Token` or string (surrounding whitespace removed)."""
    if isinstance(token, Token):
        return token.reveal()
    if not isinstance(token, str):
        raise TypeError(f"Expected a Token or a str, got {type(token).__name__}.")
    return token.strip()


def _check_shape(raw: str) -> None:
    """Raise ``ValueError`` unless ``raw`` has three dot-separated parts."""
    parts = raw.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ValueError(_NOT_A_JWT)


def decode_header(token: Token | str) -> dict[str, Any]:
    """Decode a JWT's header without verifying anything.

    Args:
        token: A :class:`Token` or raw JWT string.

    Returns:
        The header, e.g. ``{"alg": "RS256", "kid": "..."}``.

    Raises:
        ValueError: If the string is not a JWT.

    Example:
        >>> raw = jwt.encode({"sub": "x"}, None, algorithm="none", headers={"kid": "k1"})
        >>> decode_header(raw)
        {'alg': 'none', 'kid': 'k1', 'typ': 'JWT'}
    """
    raw = _raw_of(token)
    _check_shape(raw)
    try:
        return jwt.get_unverified_header(raw)
    except jwt.DecodeError:
        raise ValueError(_NOT_A_JWT) from None


def decode_claims(token: Token | str) -> dict[str, Any]:
    """Decode a JWT's claims WITHOUT verifying the signature: anyone can do this.

    Args:
        token: A :class:`Token` or raw JWT string.

    Returns:
        The claims (payload) as a dict.

    Raises:
        ValueError: If the string is not a JWT.

    Example:
        >>> raw = jwt.encode({"sub": "system:serviceaccount:demo:app"}, None, algorithm="none")
        >>> decode_claims(raw)
        {'sub': 'system:serviceaccount:demo:app'}
        >>> decode_claims("not-a-token")
        Traceback (most recent call last):
        ...
        ValueError: This is not a JWT: expected three base64url parts separated by dots.
    """
    raw = _raw_of(token)
    _check_shape(raw)
    try:
        return jwt.decode(raw, options={"verify_signature": False})
    except jwt.DecodeError:
        raise ValueError(_NOT_A_JWT) from None


class Token:
    """One raw ServiceAccount token (a JWT), masked whenever it is displayed.

    ``repr`` and ``str`` show the subject, the first 10 characters and the length; call
    :meth:`reveal` to get the raw string on purpose. Equal tokens have equal raw strings.

    Args:
        raw: The JWT string (surrounding whitespace, e.g. a trailing newline, is ignored).

    Raises:
        ValueError: If ``raw`` is not a JWT.

    Example:
        >>> raw = jwt.encode({"sub": "system:serviceaccount:demo:app"}, None, algorithm="none")
        >>> token = Token(raw)
        >>> token
        Token(system:serviceaccount:demo:app, eyJhbGciOi…[91 chars])
        >>> token.claims["sub"], token.reveal() == raw
        ('system:serviceaccount:demo:app', True)
    """

    __slots__ = ("_claims", "_header", "_raw")

    def __init__(self, raw: str) -> None:
        self._raw = _raw_of(raw)
        self._header = decode_header(self._raw)
        self._claims = decode_claims(self._raw)

    @classmethod
    def from_secret(cls, secret: V1Secret) -> Token:
        """Read the token of a ``kubernetes.io/service-account-token`` Secret.

        Args:
            secret: The Secret as returned by ``CoreV1Api.read_namespaced_secret``;
                ``data["token"]`` is base64-encoded.

        Returns:
            The decoded token.

        Raises:
            ValueError: If the Secret has no token (yet: the token controller fills it in
                shortly after the Secret is created).
        """
        data = secret.data or {}
        encoded = data.get("token")
        name = getattr(secret.metadata, "name", None) or "?"
        if not encoded:
            raise ValueError(
                f"Secret {name!r} has no data.token (yet): the token controller fills it "
                "in for Secrets of type kubernetes.io/service-account-token."
            )
        try:
            raw = base64.b64decode(encoded, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(f"Secret {name!r} has a data.token that is not base64.") from None
        return cls(raw)

    def reveal(self) -> str:
        """Return the raw JWT. Print it only on purpose: it is a credential."""
        return self._raw

    @property
    def header(self) -> dict[str, Any]:
        """The unverified JOSE header, e.g. ``{"alg": "RS256", "kid": "..."}``."""
        return dict(self._header)

    @property
    def claims(self) -> dict[str, Any]:
        """The unverified claims (a copy: editing it does not change the token)."""
        return copy.deepcopy(self._claims)

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim, e.g. ``"system:serviceaccount:<ns>:<name>"``, if present."""
        sub = self._claims.get("sub")
        return sub if isinstance(sub, str) else None

    @property
    def kind(self) -> Literal["legacy", "bound"]:
        """``"legacy"`` for a Secret-based token, ``"bound"`` for a TokenRequest token.

        Raises:
            ValueError: If the JWT is not a Kubernetes ServiceAccount token at all.
        """
        claims = self._claims
        if claims.get("iss") == LEGACY_ISSUER or any(
            key.startswith(LEGACY_CLAIM_PREFIX) for key in claims
        ):
            return "legacy"
        if isinstance(claims.get("kubernetes.io"), dict):
            return "bound"
        raise ValueError(
            "This JWT is not a Kubernetes ServiceAccount token: it has neither the legacy "
            "nor the bound kubernetes.io claims."
        )

    def __repr__(self) -> str:
        masked = mask(self._raw)
        return f"Token({self.subject}, {masked})" if self.subject else f"Token({masked})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Token):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, object]:
    """Flatten nested claims into dotted paths; lists and legacy keys stay as they are.

    Args:
        claims: Decoded claims, e.g. from :func:`decode_claims`.

    Returns:
        One entry per leaf, in the order of the input.

    Example:
        >>> flatten_claims({"aud": ["api"], "kubernetes.io": {"pod": {"name": "p"}}})
        {'aud': ['api'], 'kubernetes.io.pod.name': 'p'}
        >>> flatten_claims({"kubernetes.io/serviceaccount/namespace": "demo"})
        {'kubernetes.io/serviceaccount/namespace': 'demo'}
    """
    flat: dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, Mapping) and value:
            for key, child in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), child)
        else:
            flat[prefix] = value

    for key, value in claims.items():
        walk(str(key), value)
    return flat


def _number(value: object) -> float | int | None:
    """``value`` if it is a JSON number (NumericDate), else ``None`` (booleans excluded)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _as_datetime(value: object) -> datetime | None:
    """A NumericDate as an aware UTC datetime; ``None`` if absent or not a number."""
    number = _number(value)
    return None if number is None else datetime.fromtimestamp(number, UTC)


def _format_numeric_date(value: object) -> object:
    """``1795856400`` → ``"2026-11-28T09:00:00Z (1795856400)"``; other values unchanged."""
    when = _as_datetime(value)
    if when is None:
        return value
    return f"{when.strftime('%Y-%m-%dT%H:%M:%SZ')} ({value})"


def _claim_order(paths: set[str]) -> list[str]:
    """Standard claims first (in :data:`STANDARD_CLAIMS` order), then the rest sorted."""
    standard = [path for path in STANDARD_CLAIMS if path in paths]
    return standard + sorted(paths - set(STANDARD_CLAIMS))


def claims_table(tokens: Mapping[str, Token | str], *, times: bool = True) -> pd.DataFrame:
    """Compare tokens side by side: one column per token, one row per claim.

    Args:
        tokens: Tokens keyed by the label to show as the column name.
        times: Render NumericDate claims (``iat``, ``nbf``, ``exp``,
            ``kubernetes.io.warnafter``) as ISO-8601 UTC followed by the raw number.

    Returns:
        A DataFrame indexed by flattened claim path; a missing claim shows
        :data:`MISSING` (``"—"``), e.g. ``exp`` for a legacy token.

    Example:
        >>> legacy = jwt.encode({"iss": LEGACY_ISSUER, "sub": "a"}, None, algorithm="none")
        >>> bound = jwt.encode({"sub": "a", "exp": 1795856400}, None, algorithm="none")
        >>> table = claims_table({"legacy": legacy, "bound": bound})
        >>> table.loc["exp"].tolist()
        ['—', '2026-11-28T09:00:00Z (1795856400)']
    """
    flat = {label: flatten_claims(decode_claims(token)) for label, token in tokens.items()}
    paths = _claim_order({path for claims in flat.values() for path in claims})
    columns: dict[str, list[object]] = {}
    for label, claims in flat.items():
        cells: list[object] = []
        for path in paths:
            if path not in claims:
                cells.append(MISSING)
            elif times and path in NUMERIC_DATE_CLAIMS:
                cells.append(_format_numeric_date(claims[path]))
            else:
                cells.append(claims[path])
        columns[label] = cells
    table = pd.DataFrame(columns, index=pd.Index(paths, name="claim"), dtype=object)
    table.columns.name = "token"
    return table


@dataclass(frozen=True, repr=False)
class Lifetimes:
    """When a token becomes valid, when it expires and when using it starts to look stale.

    All datetimes are timezone-aware UTC, ``None`` where the claim is absent (a legacy
    token has none of them: it never expires).

    Attributes:
        issued_at: ``iat``.
        not_before: ``nbf``.
        expires_at: ``exp``.
        warn_after: ``kubernetes.io.warnafter``: the end of the lifetime the kubelet asked
            for; the API server accepts the token until ``exp`` but flags later uses as
            stale (audit annotation and metric).
        ttl_seconds: ``exp - iat``.
        warn_after_seconds: ``warnafter - iat``.
    """

    issued_at: datetime | None
    not_before: datetime | None
    expires_at: datetime | None
    warn_after: datetime | None
    ttl_seconds: int | None
    warn_after_seconds: int | None

    def __repr__(self) -> str:
        """One line a reader can take in: ``Lifetimes(iat 2026-12-03 16:37:26 UTC, …)``.

        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 12, 3, 16, 37, 26, tzinfo=UTC)
        >>> Lifetimes(t, t, t.replace(hour=17), None, 3600, None)
        Lifetimes(iat 2026-12-03 16:37:26 UTC, nbf = iat, exp = iat + 3600 s, no warnafter)
        >>> Lifetimes(None, None, None, None, None, None)
        Lifetimes(no iat, nbf or exp: a token that never expires)
        """
        if self.issued_at is None and self.expires_at is None:
            return "Lifetimes(no iat, nbf or exp: a token that never expires)"
        when = f"{self.issued_at:%Y-%m-%d %H:%M:%S} UTC" if self.issued_at else "none"
        parts = [f"iat {when}"]
        if self.not_before is not None:
            nbf = "iat" if self.not_before == self.issued_at else f"{self.not_before:%H:%M:%S}"
            parts.append(f"nbf = {nbf}")
        ttl = self.ttl_seconds
        parts.append(f"exp = iat + {ttl} s" if ttl is not None else "no exp")
        warn = self.warn_after_seconds
        parts.append(f"warnafter = iat + {warn} s" if warn is not None else "no warnafter")
        return f"Lifetimes({', '.join(parts)})"


def _seconds_between(start: object, end: object) -> int | None:
    """``end - start`` in whole seconds when both are NumericDates, else ``None``."""
    first, last = _number(start), _number(end)
    return None if first is None or last is None else int(last - first)


def lifetimes(token: Token | str) -> Lifetimes:
    """The time claims of a token as UTC datetimes plus its TTL and warn-after delay.

    Args:
        token: A :class:`Token` or raw JWT string.

    Returns:
        A :class:`Lifetimes`.

    Example:
        >>> raw = jwt.encode({"iat": 1795856400, "nbf": 1795856400, "exp": 1795860000},
        ...                  None, algorithm="none")
        >>> span = lifetimes(raw)
        >>> span.expires_at.isoformat(), span.ttl_seconds, span.warn_after
        ('2026-11-28T10:00:00+00:00', 3600, None)
    """
    claims = decode_claims(token)
    private = claims.get("kubernetes.io")
    warnafter = private.get("warnafter") if isinstance(private, dict) else None
    iat, exp = claims.get("iat"), claims.get("exp")
    return Lifetimes(
        issued_at=_as_datetime(iat),
        not_before=_as_datetime(claims.get("nbf")),
        expires_at=_as_datetime(exp),
        warn_after=_as_datetime(warnafter),
        ttl_seconds=_seconds_between(iat, exp),
        warn_after_seconds=_seconds_between(iat, warnafter),
    )


def _numeric_claim(claims: Mapping[str, Any], name: str) -> float:
    """A NumericDate claim as a number, or PyJWT's ``DecodeError`` like PyJWT itself."""
    number = _number(claims[name])
    if number is None:
        raise jwt.DecodeError(f"The {name!r} claim must be a number (NumericDate).")
    return float(number)


def _check_times(claims: Mapping[str, Any], now: datetime, leeway: float) -> None:
    """PyJWT's iat/nbf/exp checks, but against a fixed clock ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware, e.g. datetime(..., tzinfo=UTC).")
    at = now.timestamp()
    if _numeric_claim(claims, "iat") > at + leeway:
        raise jwt.ImmatureSignatureError("The token is not yet valid (iat)")
    if "nbf" in claims and _numeric_claim(claims, "nbf") > at + leeway:
        raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
    if _numeric_claim(claims, "exp") <= at - leeway:
        raise jwt.ExpiredSignatureError("Signature has expired")


def verify_offline(
    token: Token | str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    audience: str | list[str],
    algorithms: Sequence[str] = ("RS256",),
    now: datetime | None = None,
    leeway: float = 0,
) -> dict[str, Any]:
    """Verify a token the way an external service does, with only the issuer's JWKS.

    The key is chosen by the header's ``kid``; the algorithm, issuer and audience are
    pinned by the caller, never taken from the token. ``exp``, ``iat``, ``iss``, ``aud``
    and ``sub`` are required, so a legacy token fails here.

    Args:
        token: A :class:`Token` or raw JWT string.
        jwks: The JSON Web Key Set, e.g. from ``/openid/v1/jwks``.
        issuer: The expected ``iss``.
        audience: The audience this service accepts (any one of a list).
        algorithms: Accepted signature algorithms.
        now: A fixed clock for the time checks (aware datetime); ``None`` uses real time.
        leeway: Allowed clock skew in seconds.

    Returns:
        The verified claims.

    Raises:
        UnknownKeyIdError: No key in the JWKS matches the token's ``kid``.
        jwt.PyJWKSetError: The JWKS has no usable key.
        jwt.InvalidSignatureError: The signature does not match (e.g. edited payload).
        jwt.InvalidAlgorithmError: The token's ``alg`` is not an accepted algorithm.
        jwt.InvalidIssuerError: Wrong ``iss``.
        jwt.InvalidAudienceError: None of the token's audiences is accepted.
        jwt.ExpiredSignatureError: ``exp`` has passed.
        jwt.ImmatureSignatureError: ``nbf`` or ``iat`` is in the future.
        jwt.MissingRequiredClaimError: A required claim is absent.
    """
    raw = _raw_of(token)
    if isinstance(algorithms, str):
        algorithms = [algorithms]
    if not algorithms:
        raise ValueError("Pass at least one accepted algorithm, e.g. algorithms=['RS256'].")
    kid = decode_header(raw).get("kid")
    keys = jwt.PyJWKSet.from_dict(dict(jwks))
    try:
        key = keys[kid]
    except KeyError:
        raise UnknownKeyIdError(
            f"Unable to find a signing key that matches: {kid!r} (the token was not "
            "signed by any key of this JWKS)."
        ) from None

    options: dict[str, Any] = {"require": list(REQUIRED_CLAIMS), "verify_sub": True}
    if now is not None:
        options |= {"verify_exp": False, "verify_nbf": False, "verify_iat": False}
    claims = jwt.decode(
        raw,
        key,
        algorithms=list(algorithms),
        audience=audience,
        issuer=issuer,
        options=options,  # type: ignore[arg-type]
        leeway=leeway,
    )
    if now is not None:
        _check_times(claims, now, leeway)
    return claims


def kid_of_public_key(public_key: PublicKeyTypes) -> str:
    """Kubernetes' key id: unpadded base64url of SHA-256 over the DER SubjectPublicKeyInfo.

    The API server puts this in every token header (``kid``) and in its JWKS, so it ties a
    token to the signing key that made it.

    Args:
        public_key: A ``cryptography`` public key (call ``.public_key()`` on a private key).

    Returns:
        The 43-character key id.

    Example:
        >>> from cryptography.hazmat.primitives.asymmetric import ec
        >>> key = ec.generate_private_key(ec.SECP256R1())
        >>> len(kid_of_public_key(key.public_key()))
        43
    """
    if not hasattr(public_key, "public_bytes"):
        raise TypeError("Pass a public key: call .public_key() on a private key first.")
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(der).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
