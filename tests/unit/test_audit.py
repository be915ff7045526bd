"""Unit tests for helpers.audit: the four checks over hand-built client objects, no cluster."""

from __future__ import annotations

from kubernetes import client

from helpers.audit import (
    BECOMING,
    CAN_BECOME,
    CHECKS,
    COLUMNS,
    EVERY_NAMESPACE,
    SEPARATE_CHECKS,
    USES_API_LABEL,
    Finding,
    Snapshot,
    audit,
    becoming_powers,
    can_become,
    find_can_become,
    find_default_service_account,
    find_legacy_tokens,
    find_powerful_bindings,
    find_unneeded_tokens,
    findings_table,
    mounts_api_token,
    role_power,
)
from helpers.legacy import LAST_USED_LABEL

M = client.V1ObjectMeta
RULE_READ_PODS = client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])


# --- builders ----------------------------------------------------------------------------------
def sa(namespace: str, name: str, *secrets: str) -> client.V1ServiceAccount:
    return client.V1ServiceAccount(
        metadata=M(namespace=namespace, name=name),
        secrets=[client.V1ObjectReference(name=s) for s in secrets] or None,
    )


def token_secret(namespace: str, name: str, owner: str, **labels: str) -> client.V1Secret:
    return client.V1Secret(
        type="kubernetes.io/service-account-token",
        metadata=M(
            namespace=namespace,
            name=name,
            annotations={"kubernetes.io/service-account.name": owner},
            labels=labels or None,
        ),
    )


def subject(kind: str, name: str, namespace: str | None = None) -> client.RbacV1Subject:
    api_group = None if kind == "ServiceAccount" else "rbac.authorization.k8s.io"
    return client.RbacV1Subject(kind=kind, name=name, namespace=namespace, api_group=api_group)


def ref(kind: str, name: str) -> client.V1RoleRef:
    return client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind=kind, name=name)


def crb(name: str, role: str, *subjects: client.RbacV1Subject) -> client.V1ClusterRoleBinding:
    return client.V1ClusterRoleBinding(
        metadata=M(name=name), role_ref=ref("ClusterRole", role), subjects=list(subjects)
    )


def rb(
    namespace: str, name: str, kind: str, role: str, *subjects: client.RbacV1Subject
) -> client.V1RoleBinding:
    return client.V1RoleBinding(
        metadata=M(namespace=namespace, name=name),
        role_ref=ref(kind, role),
        subjects=list(subjects),
    )


def role(namespace: str, name: str, *rules: client.V1PolicyRule) -> client.V1Role:
    return client.V1Role(metadata=M(namespace=namespace, name=name), rules=list(rules))


def cluster_role(name: str, *rules: client.V1PolicyRule) -> client.V1ClusterRole:
    return client.V1ClusterRole(metadata=M(name=name), rules=list(rules))


def pod(
    namespace: str,
    name: str,
    service_account: str | None = None,
    *,
    api_token: bool = True,
    audience: str | None = None,
    labels: dict[str, str] | None = None,
) -> client.V1Pod:
    volumes = []
    if api_token or audience:
        projection = client.V1ServiceAccountTokenProjection(path="token", audience=audience)
        volumes.append(
            client.V1Volume(
                name="kube-api-access-abcde" if not audience else "vault-token",
                projected=client.V1ProjectedVolumeSource(
                    sources=[client.V1VolumeProjection(service_account_token=projection)]
                ),
            )
        )
    volumes.append(client.V1Volume(name="data", empty_dir=client.V1EmptyDirVolumeSource()))
    return client.V1Pod(
        metadata=M(namespace=namespace, name=name, labels=labels),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="main")],
            service_account_name=service_account,
            volumes=volumes,
        ),
    )


def keys(findings: list[Finding]) -> set[tuple[str, str, str]]:
    return {(f.check, f.namespace, f.name) for f in findings}


# --- legacy tokens -----------------------------------------------------------------------------
def test_legacy_tokens_manual_and_auto_generated() -> None:
    secrets = [
        token_secret("a", "manual-token", "app", **{LAST_USED_LABEL: "2026-11-28"}),
        token_secret("a", "auto-token", "app"),
        client.V1Secret(type="Opaque", metadata=M(namespace="a", name="password")),
    ]
    findings = find_legacy_tokens(secrets, [sa("a", "app", "auto-token")])
    assert keys(findings) == {
        ("legacy-token", "a", "manual-token"),
        ("legacy-token", "a", "auto-token"),
    }
    detail = {f.name: f.detail for f in findings}
    assert detail["manual-token"].startswith("manual token of ServiceAccount app")
    assert detail["manual-token"].endswith("last used: 2026-11-28")
    assert detail["auto-token"].startswith("auto-generated")
    assert "never" in detail["auto-token"]


def test_legacy_token_of_a_missing_service_account_is_still_reported() -> None:
    (finding,) = find_legacy_tokens([token_secret("a", "orphan", "gone")], [])
    assert finding.detail.startswith("manual token of ServiceAccount gone")


# --- role power ----------------------------------------------------------------------------------
def test_role_power() -> None:
    assert role_power("ClusterRole", "cluster-admin", []) == "full access"
    assert role_power("Role", "cluster-admin", [RULE_READ_PODS]) is None, "only the ClusterRole"
    everything = client.V1PolicyRule(api_groups=["*"], resources=["*"], verbs=["*"])
    assert role_power("ClusterRole", "x", [everything]) == (
        "wildcard rule (verbs, apiGroups, resources: *)"
    )
    urls = client.V1PolicyRule(non_resource_urls=["*"], verbs=["get"])
    assert role_power("ClusterRole", "x", [urls]) == "wildcard rule (nonResourceURLs: *)"
    prefix = client.V1PolicyRule(non_resource_urls=["/api/*"], verbs=["get"])
    assert role_power("ClusterRole", "x", [RULE_READ_PODS, prefix]) is None, "only a bare *"
    assert role_power("ClusterRole", "aggregated-but-empty", None) is None


# --- powerful bindings ---------------------------------------------------------------------------
ACCOUNTS = [
    sa("bad", "ci-bot"),
    sa("bad", "default"),
    sa("good", "operator"),
    sa("good", "default"),
]
WILD = client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["*"])


def bindings(**kw: list) -> list[Finding]:
    return find_powerful_bindings(
        ACCOUNTS,
        kw.get("roles", []),
        kw.get("cluster_roles", [cluster_role("cluster-admin", WILD)]),
        kw.get("role_bindings", []),
        kw.get("cluster_role_bindings", []),
    )


def test_cluster_admin_bound_directly() -> None:
    found = bindings(
        cluster_role_bindings=[
            crb("ci-admin", "cluster-admin", subject("ServiceAccount", "ci-bot", "bad"))
        ]
    )
    assert keys(found) == {("powerful-binding", "bad", "ci-bot")}
    assert found[0].detail == (
        "ClusterRoleBinding ci-admin → ClusterRole cluster-admin: full access, "
        "cluster-wide; directly"
    )


def test_wildcard_role_through_the_namespace_group() -> None:
    found = bindings(
        roles=[role("bad", "config-anything", WILD)],
        role_bindings=[
            rb(
                "bad",
                "all",
                "Role",
                "config-anything",
                subject("Group", "system:serviceaccounts:bad"),
            )
        ],
    )
    assert keys(found) == {
        ("powerful-binding", "bad", "ci-bot"),
        ("powerful-binding", "bad", "default"),
    }
    assert all("via group system:serviceaccounts:bad" in f.detail for f in found)
    assert all("in namespace bad" in f.detail for f in found)


def test_groups_of_all_service_accounts_and_all_users() -> None:
    for group in ("system:serviceaccounts", "system:authenticated"):
        found = bindings(cluster_role_bindings=[crb("x", "cluster-admin", subject("Group", group))])
        assert len(found) == len(ACCOUNTS), group


def test_service_account_named_as_a_user() -> None:
    user = subject("User", "system:serviceaccount:good:operator")
    found = bindings(cluster_role_bindings=[crb("x", "cluster-admin", user)])
    assert keys(found) == {("powerful-binding", "good", "operator")}
    assert found[0].detail.endswith("as user system:serviceaccount:good:operator")


def test_rolebinding_subject_without_namespace_means_the_binding_namespace() -> None:
    found = bindings(
        role_bindings=[
            rb("good", "b", "ClusterRole", "cluster-admin", subject("ServiceAccount", "operator"))
        ]
    )
    assert keys(found) == {("powerful-binding", "good", "operator")}


def test_harmless_missing_and_cross_namespace_bindings() -> None:
    found = bindings(
        roles=[role("good", "reader", RULE_READ_PODS), role("bad", "config-anything", WILD)],
        cluster_roles=[cluster_role("view", RULE_READ_PODS)],
        role_bindings=[
            rb("good", "read", "Role", "reader", subject("ServiceAccount", "operator", "good")),
            rb(
                "good",
                "missing",
                "Role",
                "no-such-role",
                subject("Group", "system:serviceaccounts"),
            ),
            # a Role is looked up in the binding's namespace: "good" has no config-anything
            rb(
                "good",
                "elsewhere",
                "Role",
                "config-anything",
                subject("Group", "system:serviceaccounts"),
            ),
        ],
        cluster_role_bindings=[
            crb("viewers", "view", subject("Group", "system:serviceaccounts")),
            crb("ghost", "no-such-clusterrole", subject("Group", "system:serviceaccounts")),
            crb("other-ns", "cluster-admin", subject("ServiceAccount", "ci-bot", "elsewhere")),
            crb("nobody", "cluster-admin"),
        ],
    )
    assert found == []


def test_one_finding_per_binding() -> None:
    found = bindings(
        cluster_role_bindings=[
            crb("one", "cluster-admin", subject("ServiceAccount", "ci-bot", "bad")),
            crb(
                "two",
                "cluster-admin",
                subject("ServiceAccount", "ci-bot", "bad"),
                subject("Group", "system:serviceaccounts:bad"),
            ),
        ]
    )
    ci_bot = [f.detail for f in found if f.name == "ci-bot"]
    assert len(ci_bot) == 2
    assert any("ClusterRoleBinding two" in d and d.endswith("directly") for d in ci_bot)


# --- Pods ----------------------------------------------------------------------------------------
def test_mounts_api_token() -> None:
    assert mounts_api_token(pod("a", "p")) == "kube-api-access-abcde"
    assert mounts_api_token(pod("a", "p", api_token=False)) is None
    assert mounts_api_token(pod("a", "p", api_token=False, audience="https://vault")) is None
    no_volumes = client.V1Pod(
        metadata=M(namespace="a", name="bare"), spec=client.V1PodSpec(containers=[])
    )
    assert mounts_api_token(no_volumes) is None


def test_unneeded_tokens() -> None:
    pods = [
        pod("a", "web"),
        pod("a", "operator", "operator", labels={USES_API_LABEL: "true"}),
        pod("a", "says-no", labels={USES_API_LABEL: "false"}),
        pod("a", "worker", "worker", api_token=False),
        pod("a", "vault-client", "vc", api_token=False, audience="https://vault"),
    ]
    assert keys(find_unneeded_tokens(pods)) == {
        ("unneeded-token", "a", "web"),
        ("unneeded-token", "a", "says-no"),
    }


def test_default_service_account() -> None:
    static = pod("kube-system", "etcd-node-1", api_token=False)
    static.metadata.annotations = {"kubernetes.io/config.mirror": "abc"}
    pods = [pod("a", "implicit"), pod("a", "explicit", "default"), pod("a", "own", "web"), static]
    found = find_default_service_account(pods)
    assert keys(found) == {("default-sa", "a", "implicit"), ("default-sa", "a", "explicit")}


# --- the whole audit -----------------------------------------------------------------------------
def snapshot() -> Snapshot:
    return Snapshot(
        service_accounts=[*ACCOUNTS, sa("kube-system", "generic-garbage-collector")],
        secrets=[token_secret("bad", "legacy-app-token", "legacy-app")],
        pods=[
            pod("bad", "web"),
            pod("good", "operator", "operator", labels={USES_API_LABEL: "true"}),
        ],
        cluster_roles=[cluster_role("cluster-admin", WILD), cluster_role("gc", WILD)],
        cluster_role_bindings=[
            crb("ci-admin", "cluster-admin", subject("ServiceAccount", "ci-bot", "bad")),
            crb("gc", "gc", subject("ServiceAccount", "generic-garbage-collector", "kube-system")),
        ],
    )


def test_audit_whole_cluster_and_filtered() -> None:
    everything = audit(snapshot())
    assert list(everything.columns) == COLUMNS
    assert set(everything["namespace"]) == {"bad", "kube-system"}
    filtered = audit(snapshot(), namespaces=["bad", "good"])
    assert set(zip(filtered["check"], filtered["name"], strict=True)) == {
        ("legacy-token", "legacy-app-token"),
        ("powerful-binding", "ci-bot"),
        ("unneeded-token", "web"),
        ("default-sa", "web"),
    }
    assert list(filtered["check"]) == sorted(filtered["check"]), "sorted by check"
    assert (filtered["fix"] == filtered["check"].map(CHECKS)).all()


def test_empty_report_keeps_its_shape() -> None:
    table = findings_table([])
    assert table.empty and list(table.columns) == COLUMNS
    assert audit(snapshot(), namespaces=["good"]).empty


# --- who can become a ServiceAccount (notebook 12) -----------------------------------------------
def rule(
    verbs: list[str], resources: list[str], group: str = "", names: list[str] | None = None
) -> client.V1PolicyRule:
    return client.V1PolicyRule(
        api_groups=[group], resources=resources, verbs=verbs, resource_names=names
    )


RBAC = "rbac.authorization.k8s.io"
INTERN = subject("ServiceAccount", "intern", "ns")


def test_becoming_powers_one_by_one() -> None:
    cases = {
        "create pods": rule(["create"], ["pods"]),
        "create or change workloads": rule(["patch"], ["deployments"], "apps"),
        "exec into pods": rule(["create"], ["pods/exec"]),
        "add ephemeral containers": rule(["update"], ["pods/ephemeralcontainers"]),
        "create serviceaccounts/token": rule(["create"], ["serviceaccounts/token"]),
        "read secrets": rule(["watch"], ["secrets"]),
        "impersonate": rule(["impersonate"], ["groups"]),
        "bind": rule(["bind"], ["clusterroles"], RBAC),
        "escalate": rule(["escalate"], ["roles"], RBAC),
    }
    assert list(cases) == [power.label for power in BECOMING], "one case per power, in order"
    for label, granting in cases.items():
        assert becoming_powers([granting]) == [label], label


def test_becoming_powers_names_wildcards_and_harmless_rules() -> None:
    harmless = [
        rule(["get", "list", "watch"], ["pods", "pods/log", "configmaps"]),
        rule(["create"], ["configmaps", "rolebindings"]),
        rule(["create"], ["pods"], "metrics.k8s.io"),  # another API group
        rule(["create"], ["pods"], names=["web"]),  # a create names no object: never matches
        rule(["get"], ["pods/exec"]),
        client.V1PolicyRule(non_resource_urls=["*"], verbs=["*"]),
    ]
    assert becoming_powers(harmless) == []
    assert becoming_powers(None) == []
    named = [
        rule(["get"], ["secrets"], names=["b-token"]),
        rule(["get"], ["secrets"], names=["a-token"]),
        rule(["impersonate"], ["serviceaccounts"], names=["deployer"]),
    ]
    assert becoming_powers(named) == ["read secrets (a-token, b-token)", "impersonate (deployer)"]
    named.append(rule(["list"], ["secrets"]))
    assert becoming_powers(named)[0] == "read secrets", "an unnamed grant covers every name"
    assert becoming_powers([rule(["*"], ["pods"])]) == ["create pods"]
    assert becoming_powers([rule(["create"], ["*"])]) == [
        "create pods",
        "create or change workloads",  # replicationcontrollers: the core group
        "exec into pods",
        "create serviceaccounts/token",
    ]
    assert becoming_powers([rule(["create"], ["*/token"])]) == ["create serviceaccounts/token"]
    everything = client.V1PolicyRule(api_groups=["*"], resources=["*"], verbs=["*"])
    assert becoming_powers([RULE_READ_PODS, everything]) == ["everything (*)"]


AUTHN = "authentication.k8s.io"


def test_constrained_impersonation_takes_whom_and_what_and_a_cluster_that_runs_it() -> None:
    """impersonate:serviceaccount (whom) and any impersonate-on:serviceaccount:<verb> (what)."""
    whom = rule(["impersonate:serviceaccount"], ["serviceaccounts"], AUTHN, names=["deployer"])
    what = rule(["impersonate-on:serviceaccount:list"], ["configmaps"])
    on = {"constrained_impersonation": True}
    assert becoming_powers([whom, what], **on) == ["impersonate, constrained (deployer)"]
    assert becoming_powers([whom, what]) == [], "a cluster without it (before 1.36, or gate off)"
    assert becoming_powers([whom], **on) == [], "whom, but nothing it may do as them"
    assert becoming_powers([what], **on) == [], "what, but nobody to act as"
    unnamed = rule(["impersonate:serviceaccount"], ["serviceaccounts"], AUTHN)
    assert becoming_powers([unnamed, what], **on) == ["impersonate, constrained"]
    anything = rule(["*"], ["serviceaccounts"], AUTHN)  # RBAC's * matches every verb string
    assert becoming_powers([anything, rule(["*"], ["secrets"])], **on)[-1] == (
        "impersonate, constrained"
    )
    not_sa = [
        rule(["impersonate:serviceaccount"], ["serviceaccounts"], names=["deployer"]),  # core ""
        rule(["impersonate:user-info"], ["users"], AUTHN),  # another mode
        rule(["impersonate-on:user-info:list"], ["configmaps"]),
    ]
    assert becoming_powers(not_sa, **on) == []
    legacy = rule(["impersonate"], ["serviceaccounts"], names=["deployer"])
    assert becoming_powers([legacy, what], **on) == ["impersonate (deployer)"], "the old verb"


def test_can_become_through_role_and_cluster_role_bindings() -> None:
    roles = [
        role("ns", "mints", rule(["create"], ["serviceaccounts/token"], names=["deployer"])),
        role("ns", "reader", RULE_READ_PODS),
    ]
    cluster_roles = [
        cluster_role("edit", rule(["create", "delete"], ["pods"]), rule(["get"], ["secrets"])),
        cluster_role(
            "cluster-admin", client.V1PolicyRule(api_groups=["*"], resources=["*"], verbs=["*"])
        ),
    ]
    role_bindings = [
        rb("ns", "intern-mints", "Role", "mints", INTERN),
        rb("ns", "reads", "Role", "reader", INTERN),  # harmless
        rb("ns", "missing", "Role", "no-such-role", INTERN),
        rb("ns", "deployer-edit", "ClusterRole", "edit", subject("ServiceAccount", "deployer")),
        rb("ns", "everyone", "ClusterRole", "edit", subject("Group", "system:serviceaccounts:ns")),
        rb("ns", "visitor", "ClusterRole", "edit", subject("ServiceAccount", "ci", "other")),
    ]
    cluster_role_bindings = [
        crb("cluster-admin", "cluster-admin", subject("Group", "system:masters")),
        crb("operator", "edit", subject("ServiceAccount", "op", "ops"), subject("User", "jane")),
    ]
    found = find_can_become(roles, cluster_roles, role_bindings, cluster_role_bindings)
    assert {(f.check, f.namespace, f.kind, f.name) for f in found} == {
        (CAN_BECOME, "ns", "ServiceAccount", "intern"),
        (CAN_BECOME, "ns", "ServiceAccount", "deployer"),
        (CAN_BECOME, "ns", "Group", "system:serviceaccounts:ns"),
        (CAN_BECOME, "ns", "ServiceAccount", "other/ci"),
        (CAN_BECOME, EVERY_NAMESPACE, "Group", "system:masters"),
        (CAN_BECOME, EVERY_NAMESPACE, "ServiceAccount", "ops/op"),
        (CAN_BECOME, EVERY_NAMESPACE, "User", "jane"),
    }
    detail = {(f.namespace, f.name): f.detail for f in found}
    assert detail[("ns", "intern")] == (
        "RoleBinding ns/intern-mints → Role mints: create serviceaccounts/token (deployer); "
        "can act as ServiceAccounts of namespace ns"
    )
    assert detail[("ns", "deployer")] == (
        "RoleBinding ns/deployer-edit → ClusterRole edit: create pods, read secrets; "
        "can act as ServiceAccounts of namespace ns"
    )
    assert detail[(EVERY_NAMESPACE, "system:masters")] == (
        "ClusterRoleBinding cluster-admin → ClusterRole cluster-admin: everything (*); "
        "can act as ServiceAccounts of every namespace"
    )


def test_can_become_table_filter_and_fix() -> None:
    snap = Snapshot(
        roles=[role("ns", "self", rule(["patch", "escalate"], ["roles"], RBAC, ["self"]))],
        cluster_roles=[cluster_role("edit", rule(["create"], ["pods"]))],
        role_bindings=[
            rb("ns", "self", "Role", "self", INTERN),
            rb("other", "edit", "ClusterRole", "edit", subject("ServiceAccount", "app")),
        ],
        cluster_role_bindings=[crb("wide", "edit", subject("Group", "system:authenticated"))],
    )
    table = can_become(snap)
    assert list(table.columns) == COLUMNS
    assert set(table["namespace"]) == {"ns", "other", EVERY_NAMESPACE}
    only = can_become(snap, namespaces=["ns"])
    assert list(zip(only["kind"], only["name"], strict=True)) == [("ServiceAccount", "intern")]
    assert only.loc[0, "detail"].startswith("RoleBinding ns/self → Role self: escalate (self);")
    assert only.loc[0, "fix"] == SEPARATE_CHECKS[CAN_BECOME]
    assert set(can_become(snap, namespaces=["ns", EVERY_NAMESPACE])["namespace"]) == {
        "ns",
        EVERY_NAMESPACE,
    }
    assert can_become(snap, namespaces=["nowhere"]).empty


def test_can_become_is_not_part_of_the_four_checks() -> None:
    # notebook 11 lists exactly four checks and counts their findings: can-become stays apart
    assert list(CHECKS) == ["legacy-token", "powerful-binding", "unneeded-token", "default-sa"]
    assert CAN_BECOME not in CHECKS and CAN_BECOME in SEPARATE_CHECKS
    snap = snapshot()
    snap.role_bindings.append(rb("bad", "mint", "ClusterRole", "cluster-admin", INTERN))
    assert CAN_BECOME not in set(audit(snap)["check"])
