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


# -- more paths than seven: exec over WebSocket, cluster-wide resources -------------------------
GATE = "AuthorizePodWebsocketUpgradeCreatePermission"


def test_may_asks_cluster_scoped_resources_without_a_namespace() -> None:
    authz = FakeAuthz(True, True, True, False)
    assert may(authz, "ns", "intern", "get nodes/proxy")
    assert may(authz, "ns", "intern", "approve signers.certificates.k8s.io", name="kubernetes.io/*")
    assert may(authz, "ns", "intern", "bind clusterroles.rbac.authorization.k8s.io", name="edit")
    assert not may(authz, "ns", "intern", "get nodes/proxy", cluster=False)
    nodes, signers, bind, in_ns = (spec.resource_attributes for spec in authz.asked)
    assert (nodes.resource, nodes.subresource, nodes.namespace) == ("nodes", "proxy", None)
    assert (signers.group, signers.namespace, signers.name) == (
        "certificates.k8s.io",
        None,
        "kubernetes.io/*",
    )
    assert bind.namespace == "ns", "a RoleBinding's escalation check is asked in its namespace"
    assert in_ns.namespace == "ns"
    assert {"nodes", "certificatesigningrequests", "signers"} <= become.CLUSTER_SCOPED


def test_exec_needs_create_from_the_gate_or_the_version() -> None:
    assert not become.exec_needs_create((1, 33), {})
    assert not become.exec_needs_create((1, 34), {})
    assert become.exec_needs_create((1, 35), {}), "on by default from 1.35"
    assert become.exec_needs_create((1, 37), {GATE: ("BETA", True)})
    assert not become.exec_needs_create((1, 37), {GATE: ("BETA", False)}), "switched off"
    assert become.WEBSOCKET_FEATURE.gate == GATE and become.WEBSOCKET_FEATURE.ga is None


def _handshake_error(status: int) -> ApiException:
    body = json.dumps(
        {
            "kind": "Status",
            "reason": "Forbidden",
            "message": 'pods "web" is forbidden: ',
            "code": status,
        }
    )
    return ApiException(
        status=0,
        reason=f"Handshake status {status} Forbidden -+-+- {{'audit-id': 'x'}} -+-+- {body}",
    )


def test_read_token_by_exec_returns_a_refused_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.errors import CourseApiError, translate_api_errors

    def refused(core: Any, namespace: str, pod: str) -> None:
        with translate_api_errors():
            raise _handshake_error(403)

    monkeypatch.setattr(become, "read_pod_token", refused)
    refusal = become.read_token_by_exec(None, "ns", "web")  # type: ignore[arg-type]
    assert isinstance(refusal, Forbidden) and refusal.status == 403
    assert refusal.message.startswith('pods "web" is forbidden'), refusal.message

    def broken(core: Any, namespace: str, pod: str) -> None:
        with translate_api_errors():
            raise ApiException(status=0, reason="Connection refused")

    monkeypatch.setattr(become, "read_pod_token", broken)
    with pytest.raises(CourseApiError, match="Connection refused"):
        become.read_token_by_exec(None, "ns", "web")  # type: ignore[arg-type]
    monkeypatch.setattr(become, "read_pod_token", lambda core, namespace, pod: "a token")
    assert become.read_token_by_exec(None, "ns", "web") == "a token"  # type: ignore[arg-type]


def test_role_and_grant_manifests() -> None:
    body = become.role("intern-execs", ["get", "create"], "pods/exec")
    model = client.ApiClient().deserialize(json.dumps(body), "V1Role", "application/json")
    assert model.metadata.name == "intern-execs"
    assert [(r.api_groups, r.resources, r.verbs) for r in model.rules] == [
        ([""], ["pods/exec"], ["get", "create"])
    ]


# -- ways_in: every path the notebook names, as SubjectAccessReviews -----------------------------
class RuleAuthz:
    """Answers SubjectAccessReviews from grants: (verb, group, resource, name, namespace).

    ``name`` None: any object; ``namespace`` None: a ClusterRoleBinding (any namespace and
    cluster-wide), else a RoleBinding there (never a request without a namespace).
    Subjects are matched by the user or one of its groups (``who``).
    """

    def __init__(
        self, *grants: tuple[str, str, str, str | None, str | None], who: str = ""
    ) -> None:
        self.grants = grants
        self.who = who
        self.asked: list[client.V1ResourceAttributes] = []

    def create_subject_access_review(
        self, body: client.V1SubjectAccessReview
    ) -> client.V1SubjectAccessReview:
        spec = body.spec
        attrs = spec.resource_attributes
        self.asked.append(attrs)
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        covered = not self.who or self.who in [spec.user, *spec.groups]
        allowed = covered and any(
            (verb, group, res) == (attrs.verb, attrs.group, resource)
            and name in (None, attrs.name)
            and (namespace is None or (attrs.namespace or "") == namespace)
            for verb, group, res, name, namespace in self.grants
        )
        status = client.V1SubjectAccessReviewStatus(allowed=allowed)
        return client.V1SubjectAccessReview(spec=spec, status=status)


NS = "become-ns"
CERTS, RBAC_GROUP, ADMISSION = (
    "certificates.k8s.io",
    "rbac.authorization.k8s.io",
    "admissionregistration.k8s.io",
)


def _role_binding(name: str, kind: str, role: str, subject: client.RbacV1Subject) -> Any:
    return client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=name, namespace=NS),
        role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind=kind, name=role),
        subjects=[subject],
    )


BINDINGS = [
    _role_binding(
        "deployer-edit",
        "ClusterRole",
        "edit",
        client.RbacV1Subject(kind="ServiceAccount", name="deployer"),
    ),
    _role_binding(
        "intern-role",
        "Role",
        "intern-role",
        client.RbacV1Subject(kind="ServiceAccount", name="intern"),
    ),
]


def _ways(*grants: tuple[str, str, str, str | None, str | None], **kw: Any) -> list[str]:
    authz = RuleAuthz(*grants, who=kw.pop("who", ""))
    return list(
        become.ways_in(
            authz,  # type: ignore[arg-type]
            NS,
            "intern",
            "deployer",
            legacy_secrets=kw.pop("secrets", ()),
            bindings=BINDINGS,
            **kw,
        )
    )


@pytest.mark.parametrize(
    ("grants", "expected"),
    [
        ([("create", "", "pods", None, NS)], "create pods"),
        ([("create", "batch", "jobs", None, NS)], "create or change a workload"),
        ([("patch", "apps", "deployments", None, NS)], "create or change a workload"),
        ([("create", "", "pods/exec", None, NS)], "exec into a Pod"),
        ([("update", "", "pods/ephemeralcontainers", None, NS)], "add an ephemeral container"),
        ([("create", "", "serviceaccounts/token", "deployer", NS)], "create serviceaccounts/token"),
        ([("impersonate", "", "serviceaccounts", "deployer", NS)], "impersonate `deployer`"),
        (
            [
                ("create", RBAC_GROUP, "rolebindings", None, NS),
                ("bind", RBAC_GROUP, "clusterroles", "edit", NS),
            ],
            "bind ClusterRole `edit`",
        ),
        (
            [
                ("escalate", RBAC_GROUP, "roles", "intern-role", NS),
                ("patch", RBAC_GROUP, "roles", "intern-role", NS),
            ],
            "escalate its own Role `intern-role`",
        ),
        ([("get", "", "nodes/proxy", None, None)], "proxy to the kubelet"),
        ([("create", "", "nodes/proxy", None, None)], "proxy to the kubelet"),
        (
            [
                ("create", CERTS, "certificatesigningrequests", None, None),
                ("update", CERTS, "certificatesigningrequests/approval", None, None),
                ("approve", CERTS, "signers", "kubernetes.io/kube-apiserver-client", None),
            ],
            "approve a client certificate",
        ),
        (
            [
                ("create", CERTS, "certificatesigningrequests", None, None),
                ("update", CERTS, "certificatesigningrequests/approval", None, None),
                ("approve", CERTS, "signers", "kubernetes.io/*", None),
            ],
            "approve a client certificate",
        ),
        (
            [("patch", ADMISSION, "mutatingwebhookconfigurations", None, None)],
            "write an admission webhook",
        ),
        (
            [("create", ADMISSION, "validatingwebhookconfigurations", None, None)],
            "write an admission webhook",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_ways_in_knows_each_path_the_notebook_names(
    grants: list[tuple[str, str, str, str | None, str | None]], expected: str
) -> None:
    ways = _ways(*grants)
    assert len(ways) == 1 and ways[0].startswith(expected), ways


def test_ways_in_the_legacy_secret_and_its_names() -> None:
    secret = ("get", "", "secrets", "deployer-token", NS)
    assert _ways(secret, secrets=["deployer-token"]) == [
        "get the legacy token Secret of `deployer`"
    ]
    assert _ways(("list", "", "secrets", None, NS), secrets=["deployer-token"])
    assert _ways(secret) == [], "no legacy token of deployer: reading Secrets gives none"
    assert _ways(("get", "", "secrets", "other", NS), secrets=["deployer-token"]) == []


def test_ways_in_is_not_fooled() -> None:
    # names matter: a token of someone else, impersonating someone else
    assert _ways(("create", "", "serviceaccounts/token", "ops-bot", NS)) == []
    assert _ways(("impersonate", "", "serviceaccounts", "ops-bot", NS)) == []
    # a Role cannot grant Nodes: the request has no namespace
    assert _ways(("get", "", "nodes/proxy", None, NS)) == []
    # CSRs: all three are needed, and approve on the client signer
    csr = [
        ("create", CERTS, "certificatesigningrequests", None, None),
        ("update", CERTS, "certificatesigningrequests/approval", None, None),
    ]
    assert _ways(*csr) == []
    assert _ways(*csr, ("approve", CERTS, "signers", "kubernetes.io/kubelet-serving", None)) == []
    # bind without create rolebindings, or on a role deployer does not hold
    assert _ways(("bind", RBAC_GROUP, "clusterroles", "edit", NS)) == []
    rolebindings = ("create", RBAC_GROUP, "rolebindings", None, NS)
    assert _ways(rolebindings, ("bind", RBAC_GROUP, "clusterroles", "view", NS)) == []
    # escalate without patch (or update)
    assert _ways(("escalate", RBAC_GROUP, "roles", "intern-role", NS)) == []


def test_ways_in_get_exec_alone_depends_on_the_cluster() -> None:
    get_exec = ("get", "", "pods/exec", None, NS)
    assert _ways(get_exec) == [], "1.35+: create is needed too"
    assert _ways(get_exec, exec_create=False)[0].startswith("exec into a Pod")


def test_ways_in_asks_with_the_groups_and_stops_when_asked() -> None:
    # a group binding: every ServiceAccount of the namespace may create pods
    pods = ("create", "", "pods", None, NS)
    assert _ways(pods, who=f"system:serviceaccounts:{NS}") == [
        "create pods (a Pod may run as any account of the namespace)"
    ]
    authz = RuleAuthz(pods, ("create", "", "pods/exec", None, NS))
    ways = become.ways_in(authz, NS, "intern", "deployer")  # type: ignore[arg-type]
    assert next(ways).startswith("create pods") and len(authz.asked) == 1, "a generator"
    assert next(ways).startswith("exec into")


# -- the audit looks for the same paths ------------------------------------------------------------
def _rule(
    verbs: list[str], resources: list[str], group: str = "", names: list[str] | None = None
) -> Any:
    return client.V1PolicyRule(
        api_groups=[group], resources=resources, verbs=verbs, resource_names=names
    )


def test_the_audit_knows_the_cluster_wide_paths() -> None:
    from helpers.audit import becoming_powers

    proxy = [_rule(["get"], ["nodes/proxy"])]
    assert becoming_powers(proxy) == [], "a RoleBinding cannot grant Nodes"
    assert becoming_powers(proxy, cluster_wide=True) == ["proxy to kubelets"]
    csr = [
        _rule(["create"], ["certificatesigningrequests"], CERTS),
        _rule(["update"], ["certificatesigningrequests/approval"], CERTS),
    ]
    assert becoming_powers(csr, cluster_wide=True) == [], "no approve on the signer"
    kubelet_signer = _rule(["approve"], ["signers"], CERTS, ["kubernetes.io/kubelet-serving"])
    assert becoming_powers([*csr, kubelet_signer], cluster_wide=True) == []
    for signer in ("kubernetes.io/kube-apiserver-client", "kubernetes.io/*"):
        approve = _rule(["approve"], ["signers"], CERTS, [signer])
        assert becoming_powers([*csr, approve], cluster_wide=True) == [
            "approve client certificates"
        ]
    webhooks = [_rule(["patch"], ["validatingwebhookconfigurations"], ADMISSION)]
    assert becoming_powers(webhooks, cluster_wide=True) == ["write admission webhooks"]
    assert becoming_powers([_rule(["create"], ["jobs"], "batch")]) == ["create or change workloads"]


def test_the_audit_counts_get_pods_exec_where_it_opens_a_shell() -> None:
    from helpers.audit import Snapshot, becoming_powers, can_become

    get_exec = [_rule(["get"], ["pods/exec"])]
    assert becoming_powers(get_exec) == []
    assert becoming_powers(get_exec, websocket_get_exec=True) == ["exec into pods"]
    role = client.V1Role(metadata=client.V1ObjectMeta(name="look", namespace=NS), rules=get_exec)
    snap = Snapshot(
        roles=[role],
        role_bindings=[
            _role_binding(
                "look", "Role", "look", client.RbacV1Subject(kind="ServiceAccount", name="support")
            )
        ],
    )
    assert can_become(snap).empty
    found = can_become(snap, websocket_get_exec=True)
    assert list(found["name"]) == ["support"] and "exec into pods" in found.loc[0, "detail"]


def test_a_cluster_role_binding_alone_grants_the_cluster_wide_paths() -> None:
    from helpers.audit import EVERY_NAMESPACE, find_can_become

    proxy = client.V1ClusterRole(
        metadata=client.V1ObjectMeta(name="node-proxy"), rules=[_rule(["get"], ["nodes/proxy"])]
    )
    sa = client.RbacV1Subject(kind="ServiceAccount", name="support", namespace=NS)
    in_ns = _role_binding("proxy", "ClusterRole", "node-proxy", sa)
    crb = client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name="proxy"),
        role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name="node-proxy"),
        subjects=[sa],
    )
    assert find_can_become([], [proxy], [in_ns], []) == []
    (finding,) = find_can_become([], [proxy], [], [crb])
    assert finding.namespace == EVERY_NAMESPACE and finding.name == f"{NS}/support"
    assert "proxy to kubelets" in finding.detail
