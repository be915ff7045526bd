"""What differs between clusters, read from the cluster itself — never written into a cell.

Every Kubernetes cluster makes its own choices: the issuer URL, the audiences its API
server accepts, the longest token lifetime it grants, the node names. The course shows
how each is found the first time it matters (notebooks 00, 03 and 09) and then reads it
with these verbs:

- :func:`issuer`: the ``issuer`` of the OIDC discovery document;
- :func:`api_audiences`: what a TokenReview *without* audiences answers — the API
  server's own audiences (``--api-audiences``, by default the issuer);
- :func:`max_token_seconds`: the lifetime the API server grants for the longest request
  allowed (2³² s), i.e. ``--service-account-max-token-expiration`` if set;
- :func:`kubernetes_version`: ``(major, minor)`` of the API server, and
  :data:`MIN_KUBERNETES`, the oldest version on which every lesson holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Protocol

from kubernetes import client

from .cluster import versions
from .cluster.errors import ClusterError
from .errors import translate_api_errors


class Course(Protocol):
    """What these verbs read from a connected course (:class:`helpers.course.Course`): facts
    sits below the course module, which checks the version with it at connect time."""

    @property
    def core(self) -> client.CoreV1Api: ...

    @property
    def authn(self) -> client.AuthenticationV1Api: ...

    def version(self) -> str: ...

    def get_raw(self, path: str) -> bytes: ...


__all__ = [
    "FEATURES",
    "FEATURE_VERSIONS",
    "MAX_EXPIRATION_SECONDS",
    "MIN_KUBERNETES",
    "Feature",
    "api_audiences",
    "check_version",
    "discovery",
    "feature_gates",
    "features_table",
    "issuer",
    "kubernetes_version",
    "max_token_seconds",
    "parse_feature_gates",
    "parse_version",
]

#: The oldest Kubernetes the course supports (the same floor as its own clusters').
MIN_KUBERNETES = versions.FLOOR


@dataclass(frozen=True)
class Feature:
    """One version-dependent behaviour the course shows, as Kubernetes' own sources date it.

    ``on`` is the first release where it is on by default (beta or GA), ``ga`` the release
    where it became GA (None: not GA in the newest release the course knows). ``gate`` is
    its feature gate, where one exists in the releases the course runs (``gate_since``: the
    release that added the gate, if newer than the floor); ``needed``: every notebook may
    rely on it (it is on in every supported release).
    """

    what: str
    on: tuple[int, int]
    ga: tuple[int, int] | None
    gate: str = ""
    needed: bool = True
    notebook: str = ""
    #: The first release whose components know ``gate`` (None: older than the course's floor).
    gate_since: tuple[int, int] | None = None

    def stage_in(self, version: tuple[int, int]) -> str:
        """What a release does by default: ``GA``, ``on by default (beta)`` or ``off``."""
        if self.ga and version >= self.ga:
            return "GA"
        return "on by default (beta)" if version >= self.on else "off by default"


#: Every version-dependent feature the course shows — the one place each date is written
#: (notebooks 00 and 03 show this table; tests/cluster checks each gate on the live cluster).
FEATURES: dict[str, Feature] = {
    "token-request": Feature(
        "TokenRequest API and projected token volumes", (1, 12), (1, 20), notebook="03"
    ),
    "issuer-discovery": Feature(
        "OIDC discovery of the ServiceAccount issuer", (1, 18), (1, 21), notebook="08"
    ),
    "bound-token-volume": Feature(
        "a bound, projected token in every Pod (kube-api-access-…)", (1, 21), (1, 22), notebook="05"
    ),
    "stale-token": Feature(
        "warnafter and the stale-token mark (one-year kubelet tokens)",
        (1, 20),
        (1, 20),
        notebook="09",
    ),
    "no-token-secrets": Feature(
        "no token Secret generated for new ServiceAccounts", (1, 24), (1, 26), notebook="02"
    ),
    "self-subject-review": Feature(
        "SelfSubjectReview (kubectl auth whoami)", (1, 27), (1, 28), notebook="01"
    ),
    "legacy-token-tracking": Feature(
        "legacy-token tracking (last-used label)", (1, 27), (1, 28), notebook="10"
    ),
    "legacy-token-cleanup": Feature(
        "legacy-token clean-up (invalid-since label)", (1, 29), (1, 30), notebook="10"
    ),
    "jti-node-info": Feature(
        "JTI and node info in bound tokens (credential-id, node-name)",
        (1, 30),
        (1, 32),
        "ServiceAccountTokenJTI",
        notebook="03",
    ),
    "node-binding": Feature(
        "tokens bound to a Node", (1, 31), (1, 33), "ServiceAccountTokenNodeBinding", notebook="03"
    ),
    "node-audience-restriction": Feature(
        "a node may request a Pod's token only for audiences the Pod uses",
        (1, 33),
        None,
        "ServiceAccountNodeAudienceRestriction",
        notebook="13",
    ),
    "structured-authentication": Feature(
        "structured authentication configuration (JWT authenticators, anonymous paths)",
        (1, 30),
        (1, 34),
        needed=False,
        notebook="08",
    ),
    "external-signer": Feature(
        "an external signer for ServiceAccount tokens",
        (1, 34),
        (1, 36),
        "ExternalServiceAccountTokenSigner",
        needed=False,
        notebook="15",
    ),
    "websocket-exec-create": Feature(
        "exec over WebSocket needs create pods/exec, not only get",
        (1, 35),
        None,
        "AuthorizePodWebsocketUpgradeCreatePermission",
        needed=False,
        notebook="12",
        gate_since=(1, 35),
    ),
    "constrained-impersonation": Feature(
        "constrained impersonation (impersonate only for some requests)",
        (1, 36),
        None,
        "ConstrainedImpersonation",
        needed=False,
        notebook="12",
        gate_since=(1, 35),
    ),
    "cluster-trust-bundles": Feature(
        "ClusterTrustBundles, projected into Pods",
        (1, 37),
        (1, 37),
        "ClusterTrustBundle",
        needed=False,
    ),
    "pod-certificates": Feature(
        "Pod certificates (PodCertificateRequest)",
        (1, 37),
        (1, 37),
        "PodCertificateRequest",
        needed=False,
        gate_since=(1, 34),
    ),
}

#: What each feature needs to be on by default: feature -> (major, minor) (compatibility).
FEATURE_VERSIONS: dict[str, tuple[int, int]] = {f.what: f.on for f in FEATURES.values()}


def features_table(version: tuple[int, int], gates: dict[str, tuple[str, bool]] | None = None):
    """The features as a table for ``version``; with ``gates`` (:func:`feature_gates`), the
    live cluster's own answer beside what the release does by default."""
    import pandas as pd

    rows = []
    for f in FEATURES.values():
        live = (gates or {}).get(f.gate) if f.gate else None
        rows.append(
            {
                "feature": f.what,
                "on by default since": ".".join(map(str, f.on)),
                "GA since": ".".join(map(str, f.ga)) if f.ga else "not yet",
                "this release": f.stage_in(version),
                "on this cluster": "—" if live is None else ("on" if live[1] else "off"),
            }
        )
    return pd.DataFrame(rows)


_GATE = re.compile(
    r'^kubernetes_feature_enabled\{name="(?P<name>[^"]+)",stage="(?P<stage>[^"]*)"\}\s+(?P<v>\S+)'
)


def parse_feature_gates(metrics_text: str) -> dict[str, tuple[str, bool]]:
    """``kubernetes_feature_enabled`` from a component's metrics: gate -> (stage, enabled).

    The stage is ``ALPHA``, ``BETA``, ``DEPRECATED`` or ``''`` for GA.

    >>> parse_feature_gates('kubernetes_feature_enabled{name="A",stage="BETA"} 1\\n'
    ...                     'kubernetes_feature_enabled{name="B",stage=""} 1\\n')
    {'A': ('BETA', True), 'B': ('', True)}
    """
    out = {}
    for line in metrics_text.splitlines():
        if m := _GATE.match(line):
            out[m["name"]] = (m["stage"], float(m["v"]) == 1)
    return out


def feature_gates(course: Course) -> dict[str, tuple[str, bool]]:
    """The API server's own feature gates, as it reports them (GET ``/metrics``)."""
    return parse_feature_gates(course.get_raw("/metrics").decode())


#: The longest lifetime a TokenRequest may ask for: 2^32 seconds (about 136 years).
MAX_EXPIRATION_SECONDS = 2**32


def parse_version(git_version: str) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``v1.36.1`` or ``v1.33.5-eks-3025e55``.

    >>> parse_version("v1.36.1"), parse_version("v1.33.5-eks-3025e55"), parse_version("v1.34+")
    ((1, 36), (1, 33), (1, 34))
    """
    match = re.match(r"v?(\d+)\.(\d+)", git_version)
    if not match:
        raise ValueError(f"not a Kubernetes version: {git_version!r}")
    return int(match.group(1)), int(match.group(2))


def kubernetes_version(course: Course) -> tuple[int, int]:
    """``(major, minor)`` of the course cluster's API server."""
    return parse_version(course.version())


def check_version(git_version: str) -> None:
    """Raise a one-sentence ClusterError if the cluster is older than :data:`MIN_KUBERNETES`.

    >>> check_version("v1.36.1")
    >>> try:
    ...     check_version("v1.31.4")
    ... except ClusterError as exc:
    ...     print(str(exc)[:58])
    This cluster runs Kubernetes v1.31.4, but the course needs
    """
    if parse_version(git_version) >= MIN_KUBERNETES:
        return
    needed = [f for f in FEATURES.values() if f.needed]
    newest = max(needed, key=lambda f: f.on).what
    floor = ".".join(map(str, MIN_KUBERNETES))
    raise ClusterError(
        f"This cluster runs Kubernetes {git_version}, but the course needs {floor} or newer "
        f"(it shows {newest}): use the course's own cluster (unset COURSE_BACKEND) "
        "or a newer one."
    )


def discovery(course: Course) -> dict:
    """The API server's OIDC discovery document (``/.well-known/openid-configuration``)."""
    return json.loads(course.get_raw("/.well-known/openid-configuration"))


def issuer(course: Course) -> str:
    """The issuer of this cluster's bound tokens, as its discovery document names it."""
    return str(discovery(course)["issuer"])


@translate_api_errors
def _token_for(
    course: Course, namespace: str, service_account: str, seconds: int | None = None
) -> client.V1TokenRequestStatus:
    spec = client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
    request = client.AuthenticationV1TokenRequest(spec=spec)
    return course.core.create_namespaced_service_account_token(
        service_account, namespace, request
    ).status


def api_audiences(course: Course, namespace: str, service_account: str = "default") -> list[str]:
    """The API server's own audiences: what a TokenReview without ``audiences`` answers.

    A token requested with no audience is made out to exactly these, too.
    """
    from .reviews import review_token

    token = _token_for(course, namespace, service_account).token
    review = review_token(course.authn, token)
    if not review.authenticated or not review.audiences:
        raise ClusterError(
            f"The API server did not accept a fresh token of {namespace}/{service_account} "
            f"({review.error}): run `make cluster-status` and try again."
        )
    return list(review.audiences)


def max_token_seconds(course: Course, namespace: str, service_account: str = "default") -> int:
    """The longest lifetime this API server grants a TokenRequest, in seconds.

    Asks for 2³² s (the most the API accepts) and measures what came back: 2³² unless
    ``--service-account-max-token-expiration`` caps it.
    """
    from .tokens import Token

    status = _token_for(course, namespace, service_account, MAX_EXPIRATION_SECONDS)
    claims = Token(status.token).claims
    return int(claims["exp"]) - int(claims["iat"])
