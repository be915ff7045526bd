"""Unit tests for helpers.become: notebook 12's verbs, with the API server faked, no cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pandas as pd
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from helpers import become
from helpers.become import (
    PATHS,
    Proof,
    add_rule,
    admission_refusal,
    binding,
    configmap,
    from_pod_log,
    may,
    prove,
    summary,
    wait_until,
)
from helpers.errors import Forbidden, Invalid

DEPLOYER = "system:serviceaccount:become-ns:deployer"


class FakeAuthz:
    """Answers SubjectAccessReviews from a list of verdicts, and records what it was asked."""

    def __init__(self, *answers: bool) -> None:
        self.answers: Iterator[bool] = iter(answers)
        self.asked: list[client.V1SubjectAccessReviewSpec] = []

    def create_subject_access_review(
        self, body: client.V1SubjectAccessReview
    ) -> client.V1SubjectAccessReview:
        self.asked.append(body.spec)
        status = client.V1SubjectAccessReviewStatus(allowed=next(self.answers))
        return client.V1SubjectAccessReview(spec=body.spec, status=status)


# -- asking RBAC ----------------------------------------------------------------------------------
def test_may_asks_about_the_service_account_with_its_groups() -> None:
    authz = FakeAuthz(True)
    assert may(authz, "become-ns", "intern", "create serviceaccounts/token", name="deployer")
    (spec,) = authz.asked
    assert spec.user == "system:serviceaccount:become-ns:intern"
    assert spec.groups == [
        "system:serviceaccounts",
        "system:serviceaccounts:become-ns",
        "system:authenticated",
    ], "without its groups, a group binding would never match"
    attrs = spec.resource_attributes
    assert (attrs.verb, attrs.group, attrs.resource, attrs.subresource) == (
        "create",
        "",
        "serviceaccounts",
        "token",
    )
    assert (attrs.namespace, attrs.name) == ("become-ns", "deployer")


def test_may_takes_an_api_group_and_says_no() -> None:
    authz = FakeAuthz(False)
    assert not may(authz, "ns", "intern", "bind clusterroles.rbac.authorization.k8s.io")
    attrs = authz.asked[0].resource_attributes
    assert (attrs.verb, attrs.group, attrs.resource) == (
        "bind",
        "rbac.authorization.k8s.io",
        "clusterroles",
    )
    assert attrs.subresource is None and attrs.name is None
    with pytest.raises(ValueError, match="names a URL"):
        may(authz, "ns", "intern", "get /metrics")


def test_wait_until_allowed_and_until_refused() -> None:
    authz = FakeAuthz(False, False, True)
    assert wait_until(authz, "ns", "intern", "create pods", timeout=5) is None
    assert len(authz.asked) == 3, "asked until RBAC said yes"
    authz = FakeAuthz(True, False)
    wait_until(authz, "ns", "intern", "create pods", allowed=False, timeout=5)
    assert len(authz.asked) == 2


def test_wait_until_says_what_never_happened() -> None:
    authz = FakeAuthz(*([False] * 1000))
    with pytest.raises(TimeoutError) as caught:
        wait_until(authz, "ns", "intern", "get secrets", name="deployer-token", timeout=0.3)
    assert "RBAC to allow intern `get secrets` on deployer-token" in str(caught.value)


# -- the proof ------------------------------------------------------------------------------------
class FakeCore:
    created: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    refuse: ClassVar[bool] = False

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    def create_namespaced_config_map(self, namespace: str, body: dict[str, Any]) -> None:
        if FakeCore.refuse:
            exc = ApiException(status=403, reason="Forbidden")
            exc.body = json.dumps(
                {
                    "kind": "Status",
                    "reason": "Forbidden",
                    "message": 'configmaps is forbidden: User "x" cannot create resource',
                }
            )
            raise exc
        FakeCore.created.append((namespace, body))


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> client.ApiClient:
    FakeCore.created, FakeCore.refuse = [], False
    monkeypatch.setattr(become.client, "CoreV1Api", FakeCore)
    monkeypatch.setattr(become, "whoami", lambda api: client.V1UserInfo(username=DEPLOYER))
    return client.ApiClient(client.Configuration())


def test_prove_creates_the_configmap_and_says_as_whom(fake_api: client.ApiClient) -> None:
    proof = prove(fake_api, "become-ns", "made-by-impersonation")
    assert proof == Proof("made-by-impersonation", DEPLOYER)
    assert FakeCore.created == [("become-ns", configmap("made-by-impersonation"))]


def test_prove_refused_is_a_forbidden(fake_api: client.ApiClient) -> None:
    FakeCore.refuse = True
    with pytest.raises(Forbidden, match="configmaps is forbidden"):
        prove(fake_api, "become-ns", "made-by-intern")
    assert FakeCore.created == []


def test_from_pod_log() -> None:
    log = "\n".join(
        [
            f"I am {DEPLOYER}",
            "configmap/made-by-a-pod created",
            "2026-12-01T21:50:00Z GET /api/v1/namespaces/become-ns/configmaps/made-by-a-pod 200 "
            "ConfigMap",
        ]
    )
    assert from_pod_log(log, "made-by-a-pod") == Proof("made-by-a-pod", DEPLOYER)
    assert from_pod_log(log, "another") is None
    assert from_pod_log("", "made-by-a-pod") is None, "before the Pod logged anything"
    retried = "error: failed to create configmap: connection refused\nconfigmap/x created\n"
    assert from_pod_log(f"I am {DEPLOYER}\n{retried}", "x") == Proof("x", DEPLOYER)
    assert from_pod_log("configmap/x created\n", "x") is None, "without whoami: as whom?"


class DryRunCore:
    """create_namespaced_pod that answers like admission: admitted, refused, or broken."""

    def __init__(self, status: int | None, message: str = "") -> None:
        self.status, self.message = status, message
        self.dry_runs: list[str | None] = []

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any], **kw: Any) -> None:
        self.dry_runs.append(kw.get("dry_run"))
        if self.status is not None:
            exc = ApiException(status=self.status, reason="Forbidden")
            exc.body = json.dumps({"kind": "Status", "reason": "x", "message": self.message})
            raise exc


def test_admission_refusal_is_a_dry_run() -> None:
    privileged = 'pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged'
    refusing = DryRunCore(403, privileged)
    assert admission_refusal(refusing, "ns", {"metadata": {"name": "p"}}) == privileged
    admitting = DryRunCore(None)
    assert admission_refusal(admitting, "ns", {"metadata": {"name": "p"}}) is None
    assert refusing.dry_runs == admitting.dry_runs == ["All"], "nothing is ever stored"
    with pytest.raises(Invalid):
        admission_refusal(DryRunCore(422, "spec.containers: Required value"), "ns", {})


# -- what intern writes itself --------------------------------------------------------------------
def test_binding_is_a_valid_role_binding() -> None:
    body = binding("become-ns", "intern-edit", "ClusterRole", "edit", "intern")
    model = client.ApiClient().deserialize(json.dumps(body), "V1RoleBinding", "application/json")
    assert (model.metadata.namespace, model.metadata.name) == ("become-ns", "intern-edit")
    assert model.role_ref.kind == "ClusterRole" and model.role_ref.name == "edit"
    assert [(s.kind, s.name, s.namespace) for s in model.subjects] == [
        ("ServiceAccount", "intern", "become-ns")
    ]
    assert model.subjects[0].api_group is None, "a ServiceAccount subject has no apiGroup"


def test_add_rule_is_a_json_patch_that_appends() -> None:
    patch = add_rule(["create", "get"], "deployments", "apps")
    assert isinstance(patch, list), "the client sends a list as application/json-patch+json"
    assert patch == [
        {
            "op": "add",
            "path": "/rules/-",
            "value": {
                "apiGroups": ["apps"],
                "resources": ["deployments"],
                "verbs": ["create", "get"],
            },
        }
    ]


# -- the paths ------------------------------------------------------------------------------------
def test_seven_paths_in_the_notebook_order() -> None:
    keys = [path.key for path in PATHS]
    assert keys == [
        "create pods",
        "serviceaccounts/token",
        "get secrets",
        "impersonate",
        "bind",
        "escalate",
        "group binding",
    ]
    assert all(path.permission and path.got and path.detect for path in PATHS)


def test_summary_fills_in_the_proofs() -> None:
    proofs = {
        "create pods": Proof("made-by-a-pod", DEPLOYER),
        "bind": Proof("made-with-a-bound-role", "system:serviceaccount:become-ns:intern"),
    }
    table = summary(proofs)
    assert isinstance(table, pd.DataFrame) and table.index.name == "path"
    assert list(table.index) == [path.key for path in PATHS]
    assert list(table.columns) == [
        "permission",
        "what intern got",
        "how to detect it",
        "ConfigMap",
        "created as",
    ]
    assert table.loc["create pods", "created as"] == DEPLOYER
    assert table.loc["bind", "ConfigMap"] == "made-with-a-bound-role"
    assert table.loc["impersonate", "ConfigMap"] == "—", "not proven (yet)"
    with pytest.raises(ValueError, match="No such path: typo; the paths are 'create pods', "):
        summary({"typo": Proof("x", "y")})
