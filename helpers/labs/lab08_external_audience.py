"""Lab 08: a short-lived token for an external service's audience, verified offline.

The scenario (namespace ``lab-08-ext``): a ServiceAccount ``exporter`` whose Pod pushes
metrics to an external service, ``https://metrics.example.com``. That service trusts the
cluster as an OpenID Connect issuer: it verifies tokens with the cluster's public keys
(JWKS), offline, and accepts only tokens issued *for it*.
"""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from typing import Any, ClassVar
from unittest import mock

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from ..accounts import create_token
from ..cluster.waiting import get_or_none
from ..course import Course
from ..names import ns
from ..pods import busybox_pod
from ..reviews import review_token, sa_username
from ..tokens import Token
from .checks import Lab, NotAttempted, NotYet, Question, is_placeholder, one_sentence
from .common import apply, as_token, wait_for_pods

__all__ = ["AUDIENCE", "NAMESPACE", "ExternalAudienceLab", "start"]

NAMESPACE = ns("lab-08-ext")
ACCOUNT = "exporter"
AUDIENCE = "https://metrics.example.com"
MAX_SECONDS = 600  # ten minutes, the shortest lifetime the TokenRequest API issues


def _manifests() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT}},
        busybox_pod(ACCOUNT, ACCOUNT, labels={"app": ACCOUNT}),
    ]


def _listed(values: list[str]) -> str:
    return ", ".join(f"`{v}`" for v in values) or "empty"


def _pod_is(course: Course, namespace: str, name: object, uid: object) -> bool:
    """True if Pod ``name`` exists and has this UID."""
    pod = get_or_none(lambda: course.core.read_namespaced_pod(str(name), namespace))
    return pod is not None and bool(pod.metadata.uid == uid)


def _check_token_for_service(lab: ExternalAudienceLab, token: Token, variable: str) -> Any:
    """The checks q1 and q3 share; returns the TokenReview status for AUDIENCE."""
    course, ns = lab.course, lab.namespace
    if token.kind == "legacy":
        raise NotYet(
            f"`{variable}` is a legacy token: no audience, no expiry. Ask the TokenRequest API."
        )
    claims = token.claims
    audiences = claims.get("aud") or []
    audiences = [audiences] if isinstance(audiences, str) else list(audiences)
    status = review_token(course.authn, token, [AUDIENCE])
    if not status.authenticated:
        if AUDIENCE not in audiences:
            raise NotYet(
                f"`{variable}` is not meant for the metrics service: its audience is "
                f"{_listed(audiences)}, and the service accepts only tokens whose `aud` names it."
            )
        pod = (claims.get("kubernetes.io") or {}).get("pod") or {}
        if pod and not _pod_is(course, ns, pod.get("name"), pod.get("uid")):
            raise NotYet(
                f"`{variable}` is bound to a Pod `{pod.get('name')}` that no longer exists (a Pod "
                "created again under the same name has a new UID): issue the token again."
            )
        raise NotYet(f"the cluster does not accept `{variable}`: {status.error}.")
    who = status.user.username
    if who != sa_username(ns, ACCOUNT):
        raise NotYet(f"`{variable}` identifies `{who}`, not the exporter's ServiceAccount.")
    if audiences != [AUDIENCE]:
        others = [a for a in audiences if a != AUDIENCE]
        raise NotYet(
            f"`{variable}` is also valid for {_listed(others)}: whoever receives it (the metrics "
            "service, say) could call the Kubernetes API as the exporter. Ask for the "
            "service's audience only."
        )
    lifetime = int(claims["exp"]) - int(claims["iat"])
    if lifetime > MAX_SECONDS:
        raise NotYet(
            f"`{variable}` lives {lifetime} s ({lifetime // 60} min); the service asks for "
            f"tokens of at most {MAX_SECONDS // 60} minutes."
        )
    return status


class IssueToken(Question):
    title = "a token for the metrics service, for ten minutes"
    variables = ("TOKEN",)
    hints = (
        "`kubectl create token` takes `--audience` and `--duration`; so does "
        "`helpers.accounts.create_token` (`audiences=`, `expiration_seconds=`).",
        "Without `--audience` the token is for the Kubernetes API itself. Ten minutes is "
        "also the shortest lifetime the API server issues.",
    )
    solution_code = f"""
        from helpers import Token

        TOKEN = course.kubectl(
            "create", "token", "{ACCOUNT}", "-n", NS, "--audience", AUDIENCE, "--duration", "10m"
        ).strip()
        Token(TOKEN)  # masked: the subject, the first characters, the length
        """

    def evaluate(self, TOKEN: object) -> str:
        lab: ExternalAudienceLab = self.lab  # type: ignore[assignment]
        token = as_token(TOKEN, "TOKEN")
        _check_token_for_service(lab, token, "TOKEN")
        return (
            f"`aud` is exactly `{AUDIENCE}` and the token expires after ten minutes. The API "
            "server itself rejects it (wrong audience), so a leaked copy cannot be used "
            "against the cluster."
        )


@contextlib.contextmanager
def _offline() -> Iterator[list[str]]:
    """Make every HTTP request fail for the duration; record the attempts.

    At the bottom, ``http.client``, which every client in this process sends through: the
    Kubernetes client (urllib3, however its ``request`` was wrapped: request timeouts,
    ``kubernetes.stream``), ``requests``, ``urllib``. An offline verifier sends nothing.
    """
    calls: list[str] = []

    def refuse(self: http.client.HTTPConnection, method: str, url: str, *a: Any, **k: Any) -> Any:
        calls.append(f"{method} {self.host}:{self.port}{url}")
        raise RuntimeError("an external service cannot call the Kubernetes API")

    with mock.patch.object(http.client.HTTPConnection, "putrequest", refuse):
        yield calls


class VerifyOffline(Question):
    title = "verify like the metrics service: offline"
    variables = ("verify",)
    hints = (
        "The service needs the issuer's public keys (`/openid/v1/jwks`) and its issuer name "
        "(`/.well-known/openid-configuration`). Fetch them once, *before* `verify`.",
        "Pin everything: the algorithm (`RS256`), the issuer and your own audience. "
        "`helpers.verify_offline` does exactly that; so does `jwt.decode` with a "
        "`jwt.PyJWKSet` key.",
    )
    solution_code = """
        import json
        from helpers import verify_offline

        JWKS = json.loads(course.get_raw("/openid/v1/jwks"))  # fetched once, then cached
        ISSUER = json.loads(course.get_raw("/.well-known/openid-configuration"))["issuer"]

        def verify(token):
            return verify_offline(
                token, JWKS, issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]
            )
        """

    def evaluate(self, verify: object) -> str:
        lab: ExternalAudienceLab = self.lab  # type: ignore[assignment]
        if not callable(verify):
            raise NotYet("`verify` should be a function: `def verify(token): …`.")
        course, ns = lab.course, lab.namespace
        good, _ = create_token(
            course.core, ns, ACCOUNT, audiences=[AUDIENCE], expiration_seconds=MAX_SECONDS
        )
        for_api, _ = create_token(course.core, ns, ACCOUNT, expiration_seconds=MAX_SECONDS)
        header, claims = good.header, good.claims
        forged = jwt.encode(
            claims,
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            algorithm="RS256",
            headers={"kid": header.get("kid")},
        )
        unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": header.get("kid")})

        def outcome(token: Token | str) -> tuple[object, str, list[str]]:
            """What verify() made of ``token``: its value (falsy if rejected), why, API calls."""
            with _offline() as calls:
                try:
                    value = verify(token)  # type: ignore[operator]
                except Exception as exc:
                    return None, one_sentence(exc), calls
            return value, "" if value else f"it returned {value!r}", calls

        value, why, calls = outcome(good.reveal())
        if is_placeholder(value):
            raise NotAttempted("`verify` still returns ____: write its body.")
        if calls:
            raise NotYet(
                "`verify` called the Kubernetes API: the metrics service cannot. Fetch the "
                "JWKS once, before, and verify each token with it alone."
            )
        if not value:
            raise NotYet(f"`verify` rejected a valid token issued for `{AUDIENCE}` ({why}).")
        if not isinstance(value, dict) or value.get("sub") != sa_username(ns, ACCOUNT):
            raise NotYet("`verify` should return the token's verified claims (a dict with `sub`).")
        cases = (
            (forged, "a token signed by a key that is not the cluster's (anyone can make one)"),
            (unsigned, 'a token with `"alg": "none"` and no signature at all'),
            (for_api.reveal(), "a genuine token whose audience is the Kubernetes API, not you"),
        )
        for token, words in cases:
            if outcome(token)[0]:
                raise NotYet(f"`verify` accepted {words}.")
        return (
            "it accepts the genuine token and rejects a forged one, an unsigned one and one "
            "meant for someone else, without asking the cluster. What it cannot see: whether "
            "the token's Pod or Secret still exists. Only TokenReview knows that."
        )


class BindToPod(Question):
    title = "a token that dies with its Pod"
    variables = ("POD_TOKEN",)
    hints = (
        "`kubectl create token --help`: look for the `--bound-object-*` options.",
        "The API server rejects a Pod-bound token once the Pod is gone. The metrics "
        "service, verifying offline, cannot notice that: keep tokens short anyway.",
    )
    solution_code = f"""
        from helpers import Token

        POD_TOKEN = course.kubectl(
            "create", "token", "{ACCOUNT}", "-n", NS, "--audience", AUDIENCE, "--duration", "10m",
            "--bound-object-kind", "Pod", "--bound-object-name", "{ACCOUNT}",
        ).strip()
        Token(POD_TOKEN)  # masked: the subject, the first characters, the length
        """

    def evaluate(self, POD_TOKEN: object) -> str:
        lab: ExternalAudienceLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        token = as_token(POD_TOKEN, "POD_TOKEN")
        status = _check_token_for_service(lab, token, "POD_TOKEN")
        bound = token.claims.get("kubernetes.io", {})
        extra = status.user.extra or {}
        pod_name = (extra.get("authentication.kubernetes.io/pod-name") or [None])[0]
        pod_uid = (extra.get("authentication.kubernetes.io/pod-uid") or [None])[0]
        if pod_name is None:
            kinds = [k for k in ("secret", "node") if k in bound]
            to = f"is bound to a {kinds[0].capitalize()}" if kinds else "is bound to no object"
            raise NotYet(
                f"`POD_TOKEN` {to}, not to a Pod: it stays valid when the exporter's Pod is gone."
            )
        pod = course.core.read_namespaced_pod(ACCOUNT, ns)
        if pod_name != ACCOUNT or pod_uid != pod.metadata.uid:
            raise NotYet(f"`POD_TOKEN` is bound to Pod `{pod_name}`, not to the exporter's Pod.")
        return (
            f"the token names Pod `{pod_name}` (and its UID): delete that Pod and the API "
            "server rejects the token, while an offline verifier keeps accepting it until "
            "`exp`."
        )


class ExternalAudienceLab(Lab):
    """The scenario: ServiceAccount and Pod ``exporter``."""

    question_types: ClassVar[tuple[type[Question], ...]] = (IssueToken, VerifyOffline, BindToPod)

    def set_up(self) -> ExternalAudienceLab:
        course, ns = self.course, self.namespace
        self.fresh()
        apply(course, _manifests(), ns)
        wait_for_pods(course.core, ns)
        self.issuer = json.loads(course.get_raw("/.well-known/openid-configuration"))["issuer"]
        return self

    def names(self) -> dict[str, Any]:
        return {**super().names(), "AUDIENCE": AUDIENCE}


def start(course: Course, namespace: str = NAMESPACE) -> ExternalAudienceLab:
    """Seed the scenario in ``namespace`` (deleting an old one first) and return the lab."""
    return ExternalAudienceLab(course, namespace).set_up()
