"""The course cluster does what every lesson stands on. Real API server, kubelet, runtime."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from helpers.course import Course
from helpers.pods import TOKEN_DIR, busybox_pod, exec_in_pod, read_pod_token, run_pod
from helpers.reviews import review_token, sa_groups, sa_username
from helpers.tokens import Token

pytestmark = pytest.mark.cluster


def test_new_namespace_gets_its_default_service_account(course: Course, namespace: str) -> None:
    sa = course.core.read_namespaced_service_account("default", namespace)
    assert sa.metadata.name == "default"
    assert not sa.secrets, "since Kubernetes 1.24 no token Secret is generated for a new SA"


def test_tokens_controller_fills_a_legacy_token_secret(course: Course, namespace: str) -> None:
    course.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="legacy"))
    )
    course.core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="legacy-token",
                annotations={"kubernetes.io/service-account.name": "legacy"},
            ),
            type="kubernetes.io/service-account-token",
        ),
    )
    deadline = time.monotonic() + 30
    secret = course.core.read_namespaced_secret("legacy-token", namespace)
    while not (secret.data or {}).get("token") and time.monotonic() < deadline:
        time.sleep(0.2)
        secret = course.core.read_namespaced_secret("legacy-token", namespace)
    assert set(secret.data) == {"token", "ca.crt", "namespace"}
    assert base64.b64decode(secret.data["namespace"]).decode() == namespace
    claims = Token.from_secret(secret).claims
    assert claims["iss"] == "kubernetes/serviceaccount"
    assert claims["sub"] == sa_username(namespace, "legacy")
    assert not {"exp", "aud", "jti"} & set(claims), "legacy tokens never expire"


def test_token_request_returns_the_audience_and_lifetime_asked_for(
    course: Course, namespace: str
) -> None:
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["course-tests"], expiration_seconds=600)
    )
    status = course.core.create_namespaced_service_account_token(
        "default", namespace, request
    ).status
    claims = Token(status.token).claims
    assert claims["aud"] == ["course-tests"]
    assert claims["exp"] - claims["iat"] == 600
    # two readings of the clock (notebook 03): exp may be a moment later
    assert 0 <= claims["exp"] - status.expiration_timestamp.timestamp() <= 5
    assert claims["sub"] == sa_username(namespace, "default")


@pytest.fixture(scope="module")
def pod_scenario(course: Course) -> Iterator[tuple[str, client.V1Pod]]:
    """controller-svc and a busybox Pod that uses it, in their own namespace."""
    ns = course.fresh_namespace(f"t-pod-{uuid.uuid4().hex[:5]}")
    course.core.create_namespaced_service_account(
        ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="controller-svc"))
    )
    pod = run_pod(course.core, ns, busybox_pod("controller-pod", "controller-svc"))
    yield ns, pod
    course.delete_namespace(ns)


def test_busybox_pod_runs_with_its_service_account(
    course: Course, pod_scenario: tuple[str, client.V1Pod]
) -> None:
    _, pod = pod_scenario
    assert pod.status.phase == "Running"
    assert pod.spec.service_account_name == "controller-svc"
    volumes = [v.name for v in pod.spec.volumes]
    assert any(v.startswith("kube-api-access-") for v in volumes), volumes


def test_kubectl_exec_can_cat_and_stat_the_token(
    course: Course, pod_scenario: tuple[str, client.V1Pod]
) -> None:
    ns, _ = pod_scenario
    path = f"{TOKEN_DIR}/token"
    token = course.kubectl("exec", "-n", ns, "controller-pod", "--", "cat", path)
    assert Token(token).claims["sub"] == sa_username(ns, "controller-svc")
    link = course.kubectl("exec", "-n", ns, "controller-pod", "--", "stat", path)
    real = course.kubectl("exec", "-n", ns, "controller-pod", "--", "stat", "-L", path)
    assert "symbolic link" in link
    assert "regular file" in real
    # The same through the Python client:
    assert read_pod_token(course.core, ns, "controller-pod") == Token(token)
    result = exec_in_pod(course.core, ns, "controller-pod", ["sh", "-c", "exit 3"], check=False)
    assert result.returncode == 3


def test_token_review_of_the_pod_token_names_pod_and_node(
    course: Course, pod_scenario: tuple[str, client.V1Pod]
) -> None:
    ns, pod = pod_scenario
    token = read_pod_token(course.core, ns, "controller-pod")
    status = review_token(course.authn, token)
    assert status.authenticated
    assert status.user.username == sa_username(ns, "controller-svc")
    assert status.user.groups == sa_groups(ns)
    extra = status.user.extra
    assert extra["authentication.kubernetes.io/pod-name"] == ["controller-pod"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [pod.metadata.uid]
    assert extra["authentication.kubernetes.io/node-name"] == [pod.spec.node_name]
    assert extra["authentication.kubernetes.io/credential-id"] == [f"JTI={token.claims['jti']}"]


def test_jwks_serves_the_key_that_signed_the_token(
    course: Course, pod_scenario: tuple[str, client.V1Pod]
) -> None:
    ns, _ = pod_scenario
    token = read_pod_token(course.core, ns, "controller-pod")
    jwks = json.loads(course.get_raw("/openid/v1/jwks"))
    assert token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    discovery = json.loads(course.get_raw("/.well-known/openid-configuration"))
    assert discovery["issuer"] == token.claims["iss"]


def test_a_deleted_secret_revokes_its_legacy_token(course: Course, namespace: str) -> None:
    course.core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="default-token", annotations={"kubernetes.io/service-account.name": "default"}
            ),
            type="kubernetes.io/service-account-token",
        ),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        secret = course.core.read_namespaced_secret("default-token", namespace)
        if (secret.data or {}).get("token"):
            break
        time.sleep(0.2)
    token = Token.from_secret(secret)
    assert review_token(course.authn, token).authenticated
    course.core.delete_namespaced_secret("default-token", namespace)
    # The API server caches successful token authentications for up to 10 s.
    deleted = time.monotonic()
    status = review_token(course.authn, token)
    while status.authenticated and time.monotonic() - deleted < 15:
        time.sleep(0.5)
        status = review_token(course.authn, token)
    assert not status.authenticated
    assert "invalidated" in status.error
    print(f"revoked {time.monotonic() - deleted:.1f}s after the Secret was deleted")


def test_kubectl_is_the_course_kubectl_and_talks_to_the_cluster(course: Course) -> None:
    out = course.kubectl("version", "-o", "json")
    # on a cluster more than one minor older kubectl adds a skew warning after the JSON
    version, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    assert version["serverVersion"]["gitVersion"] == course.version()
    with pytest.raises(ApiException):
        course.core.read_namespace("this-namespace-does-not-exist")
