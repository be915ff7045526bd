"""Trust a cluster from outside: OIDC discovery, the JWKS, and verifying tokens offline.

A service outside the cluster (a secrets vault, a cloud's IAM, a CI system) that accepts
Kubernetes ServiceAccount tokens does not ask the API server about every token. Now and
then it fetches the issuer's OpenID Connect **discovery document** and **JSON Web Key Set**
(JWKS) over HTTPS; then it checks each token itself with a JWT library (PyJWT here):
the key chosen by the token's ``kid``, the algorithm, issuer and audience pinned.

- :func:`ca_from_kubeconfig`, :func:`ssl_context`: trust the cluster's CA, nothing else.
- :func:`http_get`, :func:`fetch_json`, :func:`discover`: plain HTTPS requests, with a
  bearer token or anonymously; refusals become :class:`~helpers.errors.Forbidden` and
  friends, one line each.
- :func:`jwks_client`, :func:`verify_external`: the external verifier.
- :func:`tamper`, :func:`attempt`, :func:`review_outcome`: show what fails, and why.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import yaml
from kubernetes.client import V1TokenReviewStatus
from kubernetes.client.exceptions import ApiException

from .errors import CourseApiError, from_api_exception
from .tokens import REQUIRED_CLAIMS, Token

__all__ = [
    "DISCOVERY_PATH",
    "JWKS_PATH",
    "HttpResponse",
    "Outcome",
    "attempt",
    "ca_from_kubeconfig",
    "discover",
    "fetch_json",
    "http_get",
    "jwks_client",
    "review_outcome",
    "ssl_context",
    "tamper",
    "verify_external",
]

DISCOVERY_PATH = "/.well-known/openid-configuration"
"""Where an OIDC issuer publishes its discovery document (relative to the issuer URL)."""

JWKS_PATH = "/openid/v1/jwks"
"""Where kube-apiserver serves its public keys (the discovery document's default ``jwks_uri``)."""


def _raw_of(token: Token | str) -> str:
    """The raw JWT of a :class:`~helpers.tokens.Token` or string."""
    return token.reveal() if isinstance(token, Token) else token.strip()


# -- trusting the cluster's CA --------------------------------------------------------------
def ca_from_kubeconfig(path: str | Path, context: str | None = None) -> str:
    """The PEM CA bundle of a kubeconfig's cluster (the current context's, by default).

    Reads ``certificate-authority-data`` (base64) or the file named by
    ``certificate-authority`` (relative to the kubeconfig's directory).

    Args:
        path: The kubeconfig file.
        context: A context name; ``None`` means ``current-context``.

    Returns:
        The CA certificate(s) as PEM text.

    Raises:
        ValueError: If the kubeconfig names no such context or its cluster has no CA.
    """
    path = Path(path)
    config = yaml.safe_load(path.read_text()) or {}
    wanted = context or config.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    if wanted not in contexts:
        raise ValueError(f"The kubeconfig {path} has no context {wanted!r}.")
    cluster_name = contexts[wanted].get("cluster")
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
    cluster = clusters.get(cluster_name, {})
    if cluster.get("certificate-authority-data"):
        try:
            return base64.b64decode(cluster["certificate-authority-data"], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(
                f"The kubeconfig {path}: certificate-authority-data of cluster "
                f"{cluster_name!r} is not base64 PEM."
            ) from None
    if cluster.get("certificate-authority"):
        return (path.parent / cluster["certificate-authority"]).read_text()
    raise ValueError(
        f"The kubeconfig {path}: cluster {cluster_name!r} names no certificate authority, "
        "so there is nothing to trust the API server's certificate with."
    )


def ssl_context(ca_pem: str) -> ssl.SSLContext:
    """An SSL context that trusts exactly ``ca_pem`` (not the system's CAs) and checks names.

    Args:
        ca_pem: One or more PEM certificates, e.g. from :func:`ca_from_kubeconfig`.

    Raises:
        ValueError: If ``ca_pem`` holds no PEM certificate.
    """
    if "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise ValueError("Expected a PEM certificate (-----BEGIN CERTIFICATE-----).")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


# -- plain HTTPS ------------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpResponse:
    """What an HTTP request returned: status, headers and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def header_values(self, name: str) -> list[str]:
        """All values of a (case-insensitive) header, e.g. ``Warning``; ``[]`` if absent."""
        getter = getattr(self.headers, "get_all", None)
        if getter is not None:
            return list(getter(name) or [])
        return [v for k, v in self.headers.items() if k.lower() == name.lower()]


def _refusal(status: int, reason: str, body: bytes) -> CourseApiError:
    """The course's error for an HTTP refusal, built from the Kubernetes Status body."""
    exc = ApiException(status=status, reason=reason)
    exc.body = body
    return from_api_exception(exc)


def http_get(
    url: str,
    *,
    context: ssl.SSLContext | None = None,
    token: Token | str | None = None,
    check: bool = True,
    timeout: float = 10,
) -> HttpResponse:
    """GET ``url`` over HTTPS, with ``Authorization: Bearer <token>`` or anonymously.

    Args:
        url: The full URL.
        context: The SSL context (e.g. from :func:`ssl_context`); ignored for ``http://``.
        token: A bearer token; ``None`` sends no credentials at all.
        check: Raise on HTTP 4xx/5xx (as :class:`~helpers.errors.Unauthenticated`,
            :class:`~helpers.errors.Forbidden`, …) instead of returning the response.
        timeout: Seconds to wait for an answer.

    Raises:
        CourseApiError: The server refused the request (only with ``check``).
        ConnectionError: The server could not be reached or its certificate not verified.
    """
    headers = {"Accept": "application/json, application/jwk-set+json;q=0.9, */*;q=0.8"}
    if token is not None:
        headers["Authorization"] = f"Bearer {_raw_of(token)}"
    request = urllib.request.Request(url, headers=headers, method="GET")
    handlers: list[urllib.request.BaseHandler] = []
    if url.startswith("https://"):
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as resp:
            return HttpResponse(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        response = HttpResponse(err.code, err.headers, err.read())
        reason = str(err.reason)
        err.close()
    except urllib.error.URLError as err:
        raise ConnectionError(f"Could not reach {url}: {err.reason}.") from None
    if check:
        raise _refusal(response.status, reason, response.body)
    return response


def fetch_json(
    url: str,
    *,
    context: ssl.SSLContext | None = None,
    token: Token | str | None = None,
    timeout: float = 10,
) -> Any:
    """GET ``url`` and parse the JSON answer; refusals raise one-line course errors."""
    return http_get(url, context=context, token=token, timeout=timeout).json()


def discover(
    base_url: str, *, context: ssl.SSLContext | None = None, token: Token | str | None = None
) -> dict[str, Any]:
    """The OIDC discovery document served under ``base_url`` (issuer, ``jwks_uri``, …)."""
    return fetch_json(base_url.rstrip("/") + DISCOVERY_PATH, context=context, token=token)


# -- the external verifier --------------------------------------------------------------------
def jwks_client(
    jwks_uri: str,
    *,
    context: ssl.SSLContext | None = None,
    token: Token | str | None = None,
    lifespan: float = 300,
) -> jwt.PyJWKClient:
    """A PyJWT key client for ``jwks_uri``: fetches and caches the JWKS, picks keys by ``kid``.

    Args:
        jwks_uri: The JWKS URL, normally the discovery document's ``jwks_uri``.
        context: The SSL context that trusts the cluster's CA.
        token: A bearer token, if the JWKS is not public (Kubernetes' default).
        lifespan: Seconds the fetched key set is reused before it is fetched again.
    """
    headers = {"Authorization": f"Bearer {_raw_of(token)}"} if token is not None else None
    return jwt.PyJWKClient(jwks_uri, headers=headers, ssl_context=context, lifespan=lifespan)


def verify_external(
    token: Token | str,
    keys: jwt.PyJWKClient,
    *,
    issuer: str,
    audience: str | list[str],
    algorithms: Sequence[str] = ("RS256",),
    leeway: float = 0,
) -> dict[str, Any]:
    """Verify a token the way an external service does: JWKS key by ``kid``, all else pinned.

    The key is the JWKS entry whose ``kid`` the token names; the algorithm list, issuer and
    audience come from the caller (never from the token); ``exp``, ``iat``, ``iss``, ``aud``
    and ``sub`` are required and the times checked against the real clock.

    Args:
        token: A :class:`~helpers.tokens.Token` or raw JWT.
        keys: A :func:`jwks_client`.
        issuer: The exact issuer this service trusts.
        audience: The audience this service is (any one of a list).
        algorithms: The accepted algorithms, e.g. ``["RS256"]``.
        leeway: Allowed clock skew in seconds.

    Returns:
        The verified claims.

    Raises:
        jwt.PyJWKClientError: No JWKS key has the token's ``kid`` (or the JWKS is unreachable).
        jwt.InvalidTokenError: Signature, algorithm, issuer, audience, time or a required
            claim is wrong (a subclass names which).
    """
    raw = _raw_of(token)
    if isinstance(algorithms, str):
        algorithms = [algorithms]
    key = keys.get_signing_key_from_jwt(raw)
    return jwt.decode(
        raw,
        key,
        algorithms=list(algorithms),
        audience=audience,
        issuer=issuer,
        options={"require": list(REQUIRED_CLAIMS), "verify_sub": True},  # type: ignore[typeddict-item]
        leeway=leeway,
    )


# -- showing what fails ----------------------------------------------------------------------
def _b64url_json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def _json_b64url(data: Mapping[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def tamper(token: Token | str, **changes: Any) -> Token:
    """A copy of ``token`` with edited claims but the ORIGINAL signature (a forgery).

    Anyone can decode and re-encode a JWT's payload; only the signing key can make a
    matching signature, so any verifier that checks signatures rejects the result.

    >>> raw = jwt.encode({"sub": "system:serviceaccount:a:b"}, "k" * 32, algorithm="HS256")
    >>> forged = tamper(raw, sub="system:serviceaccount:kube-system:admin")
    >>> forged.claims["sub"], forged.reveal().split(".")[2] == raw.split(".")[2]
    ('system:serviceaccount:kube-system:admin', True)
    """
    header, payload, signature = _raw_of(token).split(".")
    claims = _b64url_json(payload) | changes
    return Token(f"{header}.{_json_b64url(claims)}.{signature}")


@dataclass(frozen=True)
class Outcome:
    """Whether a verifier accepted a token and, if not, which error it gave."""

    accepted: bool
    error: str = ""
    message: str = ""

    def __str__(self) -> str:
        if self.accepted:
            return "accepted"
        return f"rejected: {self.error}" + (f" ({self.message})" if self.message else "")


def attempt(verify: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """Run a verifier and record its verdict instead of raising.

    Any PyJWT error (a bad token, an unknown ``kid``) becomes a rejected :class:`Outcome`
    naming the exception class; other errors propagate.

    >>> attempt(lambda: {"sub": "x"})
    Outcome(accepted=True, error='', message='')
    >>> def expired():
    ...     raise jwt.ExpiredSignatureError("Signature has expired")
    >>> str(attempt(expired))
    'rejected: ExpiredSignatureError (Signature has expired)'
    """
    try:
        verify(*args, **kwargs)
    except jwt.PyJWTError as exc:
        return Outcome(False, type(exc).__name__, str(exc))
    return Outcome(True)


def review_outcome(status: V1TokenReviewStatus) -> Outcome:
    """A TokenReview status as an :class:`Outcome` (the error is the API server's text).

    >>> review_outcome(V1TokenReviewStatus(authenticated=True))
    Outcome(accepted=True, error='', message='')
    >>> str(review_outcome(V1TokenReviewStatus(error="[invalid bearer token, x]")))
    'rejected: TokenReview ([invalid bearer token, x])'
    """
    if status.authenticated:
        return Outcome(True)
    return Outcome(False, "TokenReview", status.error or "not authenticated")
