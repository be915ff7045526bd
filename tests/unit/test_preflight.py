"""Unit tests for helpers.preflight: the needs list, its ClusterRole, the one-sentence error.

No cluster: the API server's answers are faked by replacing the one function that asks.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from helpers import preflight
from helpers.cluster.errors import ClusterError
from helpers.preflight import (
    ANY_NAMESPACE,
    CLUSTER,
    COURSE_NAMESPACES,
    MANIFEST,
    NEEDS,
    Need,
    check_permissions,
    cluster_role,
    course_access_yaml,
    covers,
    explain,
    load_manifest,
    missing_permissions,
    needs_table,
    rule_atoms,
)

ROOT = Path(__file__).resolve().parents[2]
VERBS = {
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "bind",
    "escalate",
    "impersonate",
    "*",
}
CLUSTER_SCOPED = {
    "namespaces",
    "nodes",
    "clusterroles",
    "clusterrolebindings",
    "tokenreviews",
    "subjectaccessreviews",
    "selfsubjectaccessreviews",
    "selfsubjectreviews",
    "customresourcedefinitions",
}
USER = re.compile(r"^(notebook \d\d|lab \d\d|kubectl|every notebook and lab|helpers\.preflight)$")


# -- the needs --------------------------------------------------------------------------------
def test_there_are_needs_and_no_duplicates() -> None:
    assert len(NEEDS) > 100
    keys = [replace(n, why="", users=()) for n in NEEDS]
    assert len(keys) == len(set(keys)), "_merge() leaves one Need per request"


#: Constrained impersonation's verbs (1.36+): whom, and what (the request's verb).
CONSTRAINED = re.compile(r"impersonate:serviceaccount|impersonate-on:serviceaccount:([a-z]+)")


@pytest.mark.parametrize("need", NEEDS, ids=lambda n: f"{n.phrase}")
def test_each_need_is_well_formed(need: Need) -> None:
    constrained = CONSTRAINED.fullmatch(need.verb)
    assert need.verb in VERBS or (constrained and constrained.group(1) in {None, *VERBS})
    assert need.why and need.users, "every need says who needs it and why"
    assert all(USER.match(u) for u in need.users), need.users
    assert need.why.startswith(tuple(u.split()[0] for u in need.users))
    if need.url:
        assert need.url.startswith("/") and not need.resource and need.scope == CLUSTER
        assert need.verb == "get" and not need.name
        return
    assert re.fullmatch(r"[a-z]+", need.resource), "a plural, lower-case resource"
    assert need.group in {
        "",
        "apps",
        preflight.RBAC,
        "authentication.k8s.io",
        "authorization.k8s.io",
        "apiextensions.k8s.io",
        "discovery.k8s.io",
    }
    if need.verb == "bind" and need.resource == "clusterroles":
        pass  # a RoleBinding to a ClusterRole is checked in the RoleBinding's namespace
    elif need.resource in CLUSTER_SCOPED:
        assert need.scope == CLUSTER, "a cluster-scoped resource has no namespace"
    else:
        assert need.scope != CLUSTER
        assert need.scope in {ANY_NAMESPACE, "kube-system", "default", *COURSE_NAMESPACES}
    if need.name:
        assert need.verb not in {"create", "list", "watch"}, "a POST or a plain LIST names nothing"


def test_the_powerful_needs_are_named_and_only_one_role_escalates() -> None:
    # notebook 12 grants intern `escalate` on its own Role: to grant it, the course must hold it
    escalates = [(n.resource, n.name, n.scope) for n in NEEDS if n.verb == "escalate"]
    assert escalates == [("roles", "intern-role", "become-ns")]
    assert all(n.name for n in NEEDS if n.verb in {"bind", "escalate", "impersonate"})
    assert all(n.name for n in NEEDS if n.resource == "namespaces" and n.verb != "create")
    binds = {n.name for n in NEEDS if n.verb == "bind"}
    assert binds == {"cluster-admin", "edit", "view", "controller-role"}
    stars = [n for n in NEEDS if n.verb == "*"]
    assert [(n.resource, n.scope) for n in stars] == [("configmaps", "audit-bad")]


def test_every_course_namespace_is_used_and_every_used_one_is_listed() -> None:
    scopes = {n.scope for n in NEEDS} | {n.name for n in NEEDS if n.resource == "namespaces"}
    assert set(COURSE_NAMESPACES) <= scopes
    found: set[str] = set()
    for path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("labs/*.ipynb")]:
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        found |= set(re.findall(r'\bns\("([a-z0-9-]+)"\)', code))
    for path in (ROOT / "helpers" / "labs").glob("lab*.py"):
        found |= set(re.findall(r'^NAMESPACE = ns\("([a-z0-9-]+)"\)', path.read_text(), re.M))
    assert found, "the scan found no namespace at all"
    assert found <= set(COURSE_NAMESPACES), (
        f"add to COURSE_NAMESPACES: {found - set(COURSE_NAMESPACES)}"
    )


def _bindings_in(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d and d.get("kind", "").endswith("Binding")]


def test_every_built_in_cluster_role_the_course_binds_has_a_bind_need() -> None:
    # Binding a built-in ClusterRole takes `bind` (or holding all of it): see the escalation rule.
    built_in = {"cluster-admin", "admin", "edit", "view"}
    referenced = set()
    for path in (ROOT / "manifests").glob("[0-9][0-9]-*.yaml"):
        for doc in _bindings_in(path.read_text()):
            if doc["roleRef"]["kind"] == "ClusterRole":
                referenced.add(doc["roleRef"]["name"])
    for path in (ROOT / "helpers" / "labs").glob("lab*.py"):
        referenced |= set(
            re.findall(r'"kind": "ClusterRole", "name": "([a-z-]+)"', path.read_text())
        )
    bound = {n.name for n in NEEDS if n.verb == "bind"}
    assert referenced & built_in, "the scan found no binding to a built-in ClusterRole"
    assert referenced & built_in <= bound


def test_review_asks_exactly_the_need() -> None:
    need = Need("create", "serviceaccounts", subresource="token", scope="controller-ns")
    attrs = need.review().spec.resource_attributes
    assert (attrs.verb, attrs.group, attrs.resource, attrs.subresource, attrs.namespace) == (
        "create",
        "",
        "serviceaccounts",
        "token",
        "controller-ns",
    )
    named = Need("bind", "clusterroles", preflight.RBAC, name="edit").review().spec
    assert named.resource_attributes.name == "edit" and named.resource_attributes.namespace is None
    url = Need("get", url="/metrics").review().spec
    assert url.resource_attributes is None and url.non_resource_attributes.path == "/metrics"
    wide = Need("list", "secrets", scope=ANY_NAMESPACE).review().spec.resource_attributes
    assert wide.namespace is None, "no namespace: all namespaces"


# -- the manifest ---------------------------------------------------------------------------------
def test_the_manifest_grants_exactly_the_needs() -> None:
    role = load_manifest(MANIFEST)
    assert role["kind"] == "ClusterRole" and role["metadata"]["name"] == preflight.CLUSTER_ROLE
    uncovered = [n.phrase for n in NEEDS if not any(covers(r, n) for r in role["rules"])]
    assert not uncovered, f"{MANIFEST.name} does not grant: {uncovered}"
    wanted = preflight._atoms(NEEDS)
    extra = rule_atoms(role["rules"]) - wanted
    assert not extra, f"{MANIFEST.name} grants what no notebook needs: {sorted(extra)}"
    assert rule_atoms(role["rules"]) == rule_atoms(cluster_role()["rules"])


def test_the_manifest_is_the_generated_one() -> None:
    assert MANIFEST.read_text() == course_access_yaml(), (
        "regenerate it: .venv/bin/python -m helpers.preflight --manifest > "
        "manifests/00-course-access.yaml"
    )


def test_the_manifest_has_a_commented_binding_and_no_wildcard_but_one() -> None:
    text = MANIFEST.read_text()
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert len(docs) == 1, "the ClusterRoleBinding is an example, commented out"
    assert "# kind: ClusterRoleBinding" in text and "#   name: sa-course-access" in text
    for rule in docs[0]["rules"]:
        for key in ("apiGroups", "resources", "nonResourceURLs", "resourceNames"):
            assert "*" not in rule.get(key, []), rule
    assert [r["resources"] for r in docs[0]["rules"] if "*" in r["verbs"]] == [["configmaps"]]
    assert all(len(line) <= 100 for line in text.splitlines())


def test_covers_follows_rbac() -> None:
    rule = {
        "apiGroups": [""],
        "resources": ["namespaces"],
        "resourceNames": ["a"],
        "verbs": ["get"],
    }
    assert covers(rule, Need("get", "namespaces", name="a"))
    assert not covers(rule, Need("get", "namespaces", name="b"))
    assert not covers(rule, Need("delete", "namespaces", name="a"))
    assert not covers(rule, Need("get", "namespaces", preflight.RBAC, name="a"))
    assert not covers(
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        Need("get", "pods", subresource="exec", scope="x"),
    )


# -- the table ------------------------------------------------------------------------------------
def test_needs_table() -> None:
    table = needs_table()
    assert isinstance(table, pd.DataFrame) and table.index.is_unique
    assert list(table.columns) == ["objects", "where", "needed by", "why"]
    row = table.loc["`create serviceaccounts/token`"]
    assert "controller-ns" in row["where"] and "notebooks 00, 01, 03" in row["needed by"]
    assert table.loc["`list secrets`", "where"].startswith("every namespace")
    assert table.loc["`get namespaces`", "objects"].split(", ") == sorted(COURSE_NAMESPACES)


# -- asking, and the sentence ---------------------------------------------------------------------
@pytest.fixture
def api() -> client.ApiClient:
    cfg = client.Configuration()
    cfg.host = "https://192.0.2.1:6443"
    return client.ApiClient(cfg)


def _deny(monkeypatch: pytest.MonkeyPatch, refused: callable) -> list[Need]:
    asked: list[Need] = []

    def fake(api: client.ApiClient, need: Need) -> bool:
        asked.append(need)
        return not refused(need)

    monkeypatch.setattr(preflight, "_allowed", fake)
    monkeypatch.setattr(preflight, "_identity", lambda api: "`jane@example.com`")
    return asked


def test_all_granted_cluster_wide_takes_one_review_per_distinct_request(monkeypatch, api) -> None:
    asked = _deny(monkeypatch, lambda need: False)
    assert missing_permissions(api) == []
    assert len(asked) == len(set(asked)) < len(NEEDS) / 2
    check_permissions(api)  # no error
    assert all(n.scope in (CLUSTER, ANY_NAMESPACE) for n in asked)


def test_a_grant_in_one_namespace_counts_there_only(monkeypatch, api) -> None:
    # create serviceaccounts/token granted by a RoleBinding in controller-ns only
    def refused(need: Need) -> bool:
        return need.rbac_resource == "serviceaccounts/token" and need.scope != "controller-ns"

    asked = _deny(monkeypatch, refused)
    missing = missing_permissions(api)
    assert missing and {n.rbac_resource for n in missing} == {"serviceaccounts/token"}
    assert "controller-ns" not in {n.scope for n in missing}
    assert any(n.scope == "controller-ns" for n in asked), "asked in the namespace itself"


def test_the_error_is_one_sentence_naming_the_permission_and_the_notebook(monkeypatch, api):
    _deny(monkeypatch, lambda need: need.rbac_resource == "serviceaccounts/token")
    with pytest.raises(ClusterError) as caught:
        check_permissions(api)
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".") and ". " not in message
    assert message.startswith("On this cluster `jane@example.com` may not ")
    assert "`create serviceaccounts/token` in namespaces setup-ns, controller-ns, " in message
    assert re.search(r"bound-ns and \d+ more, which notebook 00 needs \(helpers\.facts", message)
    assert "other permission" not in message, "only that permission is missing"
    assert "manifests/00-course-access.yaml" in message and "sa-course-access" in message
    assert "unset COURSE_BACKEND" in message
    assert caught.value._render_traceback_() == [f"ClusterError: {message}"]


def test_the_sentence_names_other_missing_permissions_briefly() -> None:
    metrics = Need("get", url="/metrics", why="notebook 09: the counters", users=("notebook 09",))
    bind = Need(
        "bind",
        "clusterroles",
        preflight.RBAC,
        name="cluster-admin",
        why="notebook 11: x",
        users=("notebook 11",),
    )
    nodes = Need("list", "nodes", why="notebook 00: y", users=("notebook 00",))
    message = explain("`jane`", [metrics, bind, nodes])
    assert message.startswith("On this cluster `jane` may not `get /metrics`, which notebook 09")
    assert "nor 2 other permissions the course needs (`bind clusterroles." in message
    assert ". " not in message and "\n" not in message
    with pytest.raises(ValueError):
        explain("`jane`", [])


def test_an_anonymous_identity_is_described(monkeypatch, api) -> None:
    _deny(monkeypatch, lambda need: need.url == "/metrics")
    monkeypatch.setattr(preflight, "_identity", lambda api: "the kubeconfig's identity")
    with pytest.raises(
        ClusterError,
        match=r"^On this cluster the kubeconfig's identity may "
        r"not `get /metrics`.* bind its ClusterRole "
        r"sa-course-access to it, or",
    ):
        check_permissions(api)


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (ApiException(status=401, reason="Unauthorized"), "does not accept the kubeconfig's"),
        (ApiException(status=403, reason="Forbidden"), "refuses even to say"),
        (ApiException(status=500, reason="Internal"), "answered 500 Internal"),
        (OSError("connection refused"), "does not answer (OSError)"),
    ],
)
def test_a_server_that_cannot_be_asked_is_one_sentence(monkeypatch, api, error, says) -> None:
    def broken(api: client.ApiClient, need: Need) -> bool:
        raise error

    monkeypatch.setattr(preflight, "_allowed", broken)
    with pytest.raises(ClusterError) as caught:
        missing_permissions(api)
    message = str(caught.value)
    assert says in message and "192.0.2.1" in message
    assert "\n" not in message and message.endswith(".")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_main_prints_the_manifest(capsys) -> None:
    assert preflight.main(["--manifest"]) == 0
    assert capsys.readouterr().out == course_access_yaml()


def test_every_notebook_and_lab_has_its_asks_in_the_data_file() -> None:
    """A new notebook or lab fails here until helpers/preflight_needs.yaml lists its requests."""
    blocks = yaml.safe_load(preflight.NEEDS_FILE.read_text())
    whos = {block["who"] for block in blocks}
    wanted = {f"notebook {p.name[:2]}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    wanted |= {f"lab {p.name[:2]}" for p in (ROOT / "labs").glob("[0-9][0-9]_*_lab.ipynb")}
    assert wanted <= whos, f"no asks in {preflight.NEEDS_FILE.name} for {sorted(wanted - whos)}"
    assert whos - wanted <= {"kubectl", "every notebook and lab", "helpers.preflight"}


def test_an_ask_the_data_file_does_not_know_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "needs.yaml"
    bad.write_text("- who: notebook 99\n  asks:\n  - {make: pods, in: x-ns}\n")
    with pytest.raises(ValueError, match=r"notebook 99: 'make' is not an ask \(can, fresh"):
        preflight._spec(bad)
    bad.write_text("- who: notebook 99\n  asks:\n  - {can: get pods, in: x-ns, why: typo}\n")
    with pytest.raises(ValueError, match="notebook 99: can takes no why"):
        preflight._spec(bad)
