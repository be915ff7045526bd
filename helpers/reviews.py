"""Ask the API server about identities: TokenReview, SelfSubjectReview, SubjectAccessReview.

- :func:`review_token`: *who is this token?* (what a webhook or a proxy asks).
- :func:`whoami`: *who am I?* (``kubectl auth whoami``).
- :func:`can_i`: *may this user do that?* (``kubectl auth can-i --as``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from kubernetes import client

from .errors import translate_api_errors
from .tokens import Token

__all__ = [
    "can_i",
    "review_row",
    "review_token",
    "reviews_table",
    "sa_groups",
    "sa_username",
    "whoami",
]


def sa_username(namespace: str, name: str) -> str:
    """The user name a ServiceAccount authenticates as.

    >>> sa_username("controller-ns", "controller-svc")
    'system:serviceaccount:controller-ns:controller-svc'
    """
    return f"system:serviceaccount:{namespace}:{name}"


def sa_groups(namespace: str) -> list[str]:
    """The groups every ServiceAccount of ``namespace`` is in (keyed by the *namespace*).

    >>> sa_groups("controller-ns")
    ['system:serviceaccounts', 'system:serviceaccounts:controller-ns', 'system:authenticated']
    """
    return ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]


@translate_api_errors
def review_token(
    authn: client.AuthenticationV1Api,
    token: Token | str,
    audiences: Sequence[str] | None = None,
) -> client.V1TokenReviewStatus:
    """Ask the API server whether ``token`` is valid and whom it identifies (TokenReview)."""
    raw = token.reveal() if isinstance(token, Token) else token
    spec = client.V1TokenReviewSpec(token=raw, audiences=list(audiences) if audiences else None)
    return authn.create_token_review(client.V1TokenReview(spec=spec)).status


def review_row(status: client.V1TokenReviewStatus) -> dict[str, object]:
    """One TokenReview status as a flat row: authenticated, user, groups, extras, error."""
    user = status.user or client.V1UserInfo()
    row: dict[str, object] = {
        "authenticated": bool(status.authenticated),
        "username": user.username or "—",
        "uid": user.uid or "—",
        "groups": ", ".join(user.groups or []) or "—",
        "audiences": ", ".join(status.audiences or []) or "—",
    }
    for key, values in sorted((user.extra or {}).items()):
        row[key.removeprefix("authentication.kubernetes.io/")] = ", ".join(values)
    row["error"] = status.error or "—"
    return row


def reviews_table(statuses: Mapping[str, client.V1TokenReviewStatus]) -> pd.DataFrame:
    """Several TokenReview results side by side, one column per labelled token."""
    rows = {label: review_row(st) for label, st in statuses.items()}
    return pd.DataFrame(rows).fillna("—")


@translate_api_errors
def whoami(api: client.ApiClient) -> client.V1UserInfo:
    """Who the API server thinks the caller of ``api`` is (SelfSubjectReview)."""
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    return review.status.user_info


@translate_api_errors
def can_i(
    authz: client.AuthorizationV1Api,
    verb: str,
    resource: str,
    *,
    user: str,
    groups: Sequence[str] | None = None,
    namespace: str | None = None,
    group: str = "",
    subresource: str | None = None,
    name: str | None = None,
) -> client.V1SubjectAccessReviewStatus:
    """Would RBAC allow ``user`` (in ``groups``) to ``verb`` ``resource``? (SubjectAccessReview)

    A SubjectAccessReview evaluates exactly the user and groups you pass: bindings to a
    group only match if you list that group.
    """
    attrs = client.V1ResourceAttributes(
        verb=verb,
        resource=resource,
        group=group,
        namespace=namespace,
        subresource=subresource,
        name=name,
    )
    spec = client.V1SubjectAccessReviewSpec(
        user=user, groups=list(groups) if groups else None, resource_attributes=attrs
    )
    return authz.create_subject_access_review(client.V1SubjectAccessReview(spec=spec)).status
