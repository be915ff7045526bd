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
from typing import TYPE_CHECKING

from kubernetes import client

from .cluster.errors import ClusterError
from .errors import translate_api_errors

if TYPE_CHECKING:
    from .course import Course

__all__ = [
    "FEATURE_VERSIONS",
    "MAX_EXPIRATION_SECONDS",
    "MIN_KUBERNETES",
    "api_audiences",
    "check_version",
    "discovery",
    "issuer",
    "kubernetes_version",
    "max_token_seconds",
    "parse_version",
]

#: The newest feature every notebook relies on went GA in this version (see FEATURE_VERSIONS).
MIN_KUBERNETES = (1, 33)

#: Version-dependent features the course shows, with the version each became GA (on by default).
FEATURE_VERSIONS: dict[str, tuple[int, int]] = {
    "TokenRequest API and projected token volumes": (1, 20),
    "OIDC discovery of the ServiceAccount issuer": (1, 21),
    "bound, projected token in every Pod (BoundServiceAccountTokenVolume)": (1, 22),
    "no token Secret generated for new ServiceAccounts": (1, 24),
    "SelfSubjectReview (kubectl auth whoami)": (1, 28),
    "legacy-token tracking (last-used label)": (1, 28),
    "legacy-token clean-up (invalid-since label)": (1, 30),
    "JTI and node info in bound tokens (credential-id, node-name)": (1, 32),
    "tokens bound to a Node": (1, 33),
}

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
    newest = max(FEATURE_VERSIONS, key=FEATURE_VERSIONS.__getitem__)
    floor = ".".join(map(str, MIN_KUBERNETES))
    raise ClusterError(
        f"This cluster runs Kubernetes {git_version}, but the course needs {floor} or newer "
        f"({newest} are GA from {floor}): use the course's own cluster (unset COURSE_BACKEND) "
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
