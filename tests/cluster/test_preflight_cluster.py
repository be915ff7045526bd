"""helpers.preflight against a real API server: who passes, and what the refusal says.

A ServiceAccount stands in for the identity of an existing cluster's kubeconfig: it is
bound (ClusterRoleBinding) to the ClusterRole of manifests/00-course-access.yaml, or to
that role minus one rule, and checked with a client that uses only its token. Every
cluster-scoped object a test makes has a unique name and is deleted even if it fails.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from helpers.accounts import create_service_account, create_token
from helpers.cluster.errors import ClusterError
from helpers.course import Course
from helpers.preflight import (
    MANIFEST,
    NEEDS,
    check_permissions,
    covers,
    load_manifest,
    missing_permissions,
)
from helpers.reviews import sa_username

pytestmark = pytest.mark.cluster

ACCOUNT = "preflight-probe"
TOKEN_RULE = {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}

Bind = Callable[[list[dict[str, Any]]], client.ApiClient]


def _ignore_404(delete: Callable[[], object]) -> None:
    try:
        delete()
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
def bind_probe(course: Course, namespace: str) -> Iterator[Bind]:
    """Bind ServiceAccount ``preflight-probe`` to a ClusterRole of the given rules.

    Returns a client that authenticates with the account's (bound, 10-minute) token only.
    The ClusterRole and its ClusterRoleBinding are deleted afterwards, whatever happened.
    """
    made: list[str] = []
    clients: list[client.ApiClient] = []
    create_service_account(course.core, namespace, ACCOUNT)

    def bind(rules: list[dict[str, Any]]) -> client.ApiClient:
        name = f"sa-course-access-test-{uuid.uuid4().hex[:8]}"
        made.append(name)
        course.rbac.create_cluster_role(
            {
                "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "sa-course"}},
                "rules": rules,
            }
        )
        course.rbac.create_cluster_role_binding(
            {
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}],
            }
        )
        token, _ = create_token(course.core, namespace, ACCOUNT, expiration_seconds=600)
        api = course.client_for_token(token)
        clients.append(api)
        _wait_until_rbac_sees(api)
        return api

    try:
        yield bind
    finally:
        for api in clients:
            api.close()
        for name in made:
            _ignore_404(lambda n=name: course.rbac.delete_cluster_role_binding(n))
            _ignore_404(lambda n=name: course.rbac.delete_cluster_role(n))


def _wait_until_rbac_sees(api: client.ApiClient, timeout: float = 10) -> None:
    """RBAC learns of a new binding from a watch: wait until one granted request is allowed."""
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(verb="list", resource="nodes")
        )
    )
    authz = client.AuthorizationV1Api(api)
    deadline = time.monotonic() + timeout
    while not authz.create_self_subject_access_review(review).status.allowed:
        assert time.monotonic() < deadline, "RBAC never saw the new ClusterRoleBinding"
        time.sleep(0.1)


def test_the_course_admin_has_every_need(course: Course) -> None:
    start = time.monotonic()
    assert missing_permissions(course.api) == []
    check_permissions(course.api)
    print(f"{len(NEEDS)} needs checked in {time.monotonic() - start:.2f} s")


def test_the_manifest_role_is_enough(course: Course, namespace: str, bind_probe: Bind) -> None:
    api = bind_probe(load_manifest(MANIFEST)["rules"])
    start = time.monotonic()
    missing = missing_permissions(api)
    seconds = time.monotonic() - start
    assert missing == [], [n.phrase for n in missing]
    check_permissions(api)
    assert seconds < 5, f"the check took {seconds:.1f} s"


def test_without_one_rule_the_sentence_names_that_permission(
    course: Course, namespace: str, bind_probe: Bind
) -> None:
    rules = load_manifest(MANIFEST)["rules"]
    assert TOKEN_RULE in rules, "the manifest grants `create serviceaccounts/token` on its own"
    api = bind_probe([r for r in rules if r != TOKEN_RULE])

    missing = missing_permissions(api)
    assert missing, "without the rule, something must be missing"
    assert {n.permission for n in missing} == {"create serviceaccounts/token"}
    assert all(covers(TOKEN_RULE, n) for n in missing)

    with pytest.raises(ClusterError) as caught:
        check_permissions(api)
    message = str(caught.value)
    assert message.startswith(f"On this cluster `{sa_username(namespace, ACCOUNT)}` may not ")
    assert "`create serviceaccounts/token` in namespaces " in message
    assert "which notebook 00 needs" in message and "other permission" not in message
    assert "\n" not in message and ". " not in message and message.endswith(".")


def test_an_account_with_no_binding_is_told_what_to_ask_for(course: Course, namespace: str) -> None:
    create_service_account(course.core, namespace, ACCOUNT)
    token, _ = create_token(course.core, namespace, ACCOUNT, expiration_seconds=600)
    api = course.client_for_token(token)
    try:
        missing = missing_permissions(api)
        # what every ServiceAccount holds by default (discovery, OIDC, reviews of itself)
        held = {n.permission for n in NEEDS} - {n.permission for n in missing}
        assert {
            "get /version",
            "get /openid/v1/jwks",
            "create selfsubjectaccessreviews.authorization.k8s.io",
        } <= held
        with pytest.raises(ClusterError, match=r"^On this cluster `system:serviceaccount:"):
            check_permissions(api)
    finally:
        api.close()
