"""When the kubelet replaces a projected ServiceAccount token, computed from the token itself.

The kubelet asks the TokenRequest API for every ``serviceAccountToken`` projection and
rewrites the file when the token is **older than 80 % of the requested lifetime, or older
than 24 hours**, whichever comes first (``pkg/kubelet/token``: ``requiresRefresh``). The
requested lifetime is ``expirationSeconds`` of the projection; for the kubelet's default
token (3607 s) the API server extends the JWT's ``exp`` to one year but marks the
requested end with the ``kubernetes.io.warnafter`` claim, so the request can still be read
from the token.

- :func:`refresh_after`: the rule, in seconds after issue.
- :func:`requested_seconds`, :func:`is_extended`: read the request back from a token.
- :func:`refresh_table`: one row per token, everything a learner needs to compare them.
- :func:`format_duration`: ``2886`` → ``"48 min 6 s"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import pandas as pd

from .tokens import MISSING, Token, decode_claims

__all__ = [
    "EXTENSION_SECONDS",
    "KUBELET_MAX_JITTER_SECONDS",
    "KUBELET_MAX_TTL_SECONDS",
    "WARN_ONLY_SECONDS",
    "format_duration",
    "is_extended",
    "refresh_after",
    "refresh_table",
    "requested_seconds",
]

KUBELET_MAX_TTL_SECONDS = 24 * 60 * 60
"""The kubelet replaces any projected token older than 24 h (``maxTTL``)."""

KUBELET_MAX_JITTER_SECONDS = 10
"""The kubelet refreshes up to this much earlier (a random 0–9 whole seconds)."""

WARN_ONLY_SECONDS = 60 * 60 + 7
"""The lifetime the kubelet requests for the default token; the API server extends it."""

EXTENSION_SECONDS = 365 * 24 * 60 * 60
"""How long an extended token's JWT is valid (``exp - iat``): one year."""


def refresh_after(expiration_seconds: int) -> int:
    """Seconds after issue when the kubelet replaces a token it requested for this long.

    The kubelet refreshes once ``now > exp - 20 % of expirationSeconds`` (integer
    arithmetic, as in Go) or ``now > iat + 24 h``; each time minus a random jitter of
    0–9 s. This returns the moment without jitter.

    Args:
        expirationSeconds: The projection's ``expirationSeconds`` (at least 600).

    Example:
        >>> refresh_after(3607), refresh_after(600), refresh_after(3600), refresh_after(172800)
        (2886, 480, 2880, 86400)
    """
    if expiration_seconds <= 0:
        raise ValueError("expirationSeconds must be positive, e.g. 3607.")
    by_ttl = expiration_seconds - (expiration_seconds * 20) // 100
    return min(by_ttl, KUBELET_MAX_TTL_SECONDS)


def _time_claims(token: Token | str) -> tuple[int, int, int | None]:
    claims = decode_claims(token)
    if "exp" not in claims or "iat" not in claims:
        raise ValueError(
            "This token has no iat/exp (a legacy Secret-based token?): it never expires, "
            "so nothing ever replaces it."
        )
    private = claims.get("kubernetes.io")
    warnafter = private.get("warnafter") if isinstance(private, dict) else None
    return int(claims["iat"]), int(claims["exp"]), None if warnafter is None else int(warnafter)


def is_extended(token: Token | str) -> bool:
    """True if the API server extended the token (it carries ``kubernetes.io.warnafter``)."""
    return _time_claims(token)[2] is not None


def requested_seconds(token: Token | str) -> int:
    """The lifetime that was requested: ``warnafter - iat`` if extended, else ``exp - iat``.

    Raises:
        ValueError: For a token without ``iat``/``exp`` (a legacy token).
    """
    iat, exp, warnafter = _time_claims(token)
    return (warnafter if warnafter is not None else exp) - iat


def format_duration(seconds: float) -> str:
    """A duration in the largest units that fit, e.g. for a table a person reads.

    >>> format_duration(2886), format_duration(3607), format_duration(86400)
    ('48 min 6 s', '1 h 7 s', '1 d')
    >>> format_duration(31536000), format_duration(0)
    ('365 d', '0 s')
    """
    remaining = round(seconds)
    sign = "-" if remaining < 0 else ""
    remaining = abs(remaining)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count} {unit}")
    return sign + (" ".join(parts) if parts else "0 s")


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def refresh_table(
    tokens: Mapping[str, Token | str], *, kubelet: Iterable[str] | None = None
) -> pd.DataFrame:
    """When each token ends, and when the kubelet replaces it: one row per token.

    Args:
        tokens: Tokens keyed by a label.
        kubelet: The labels of tokens the kubelet manages (projected volumes); the others
            (e.g. from ``kubectl create token``) are replaced by nobody. ``None``: all.

    Returns:
        A DataFrame indexed by label with the requested lifetime, the JWT's ``exp - iat``,
        whether it was extended, the refresh moment (seconds after issue, which rule
        fires, and UTC) and the JWT's ``exp`` in UTC.

    Example:
        >>> import jwt
        >>> raw = jwt.encode({"iat": 0, "exp": 600, "kubernetes.io": {}}, None, algorithm="none")
        >>> row = refresh_table({"short": raw}).loc["short"]
        >>> row["requested (s)"], row["replaced after (s)"], row["rule"]
        (600, 480, '80 % of requested')
    """
    managed = set(tokens) if kubelet is None else set(kubelet)
    rows = {}
    for label, token in tokens.items():
        iat, exp, warnafter = _time_claims(token)
        requested = (warnafter if warnafter is not None else exp) - iat
        row: dict[str, object] = {
            "requested (s)": requested,
            "JWT exp − iat (s)": exp - iat,
            "extended": warnafter is not None,
            "80 % of requested (s)": requested - (requested * 20) // 100,
        }
        if label in managed:
            after = refresh_after(requested)
            rule = "24 h" if after == KUBELET_MAX_TTL_SECONDS else "80 % of requested"
            row |= {
                "replaced after (s)": after,
                "rule": rule,
                "replaced after": format_duration(after),
                "replaced at (UTC)": _utc(iat + after),
            }
        else:
            row |= {
                "replaced after (s)": MISSING,
                "rule": "nobody: request a new one",
                "replaced after": MISSING,
                "replaced at (UTC)": MISSING,
            }
        row["valid until (JWT exp, UTC)"] = _utc(exp)
        rows[label] = row
    table = pd.DataFrame.from_dict(rows, orient="index").astype(object)
    table.index.name = "token"
    return table
