"""helpers.workshop.policy: what a learner may do, checked without a cluster.

The cluster tests (tests/workshop) prove the same on the API server; these keep the
manifests honest: least privilege, the learner's own names, nothing cluster-wide to read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from helpers import names
from helpers.cluster.errors import ClusterError
from helpers.workshop import admission, kubeconfigs, policy, shares
from helpers.workshop.__main__ import duration
from helpers.workshop.shares import Shares


def rules(role: dict) -> list[dict]:
    return role["rules"]


def test_prefixes_are_numbered_and_valid() -> None:
    assert policy.learner_prefix("ws1", 7) == "ws1-07"
    assert policy.learner_username("ws1-07") == "system:serviceaccount:ws1-07-home:learner"
    with pytest.raises(ValueError):
        policy.learner_prefix("WS", 1)


def test_the_workshops_own_names_never_look_like_a_learners() -> None:
    # the admission policy lets a learner write what starts with "ws1-07-": never ours
    assert not policy.object_name("ws1", "ws1-07").startswith("ws1-07-")


def test_namespaced_role_has_no_cluster_wide_rule_and_no_wildcard_resource() -> None:
    role = policy.namespaced_role("ws1")
    for rule in rules(role):
        assert "nonResourceURLs" not in rule
        assert "*" not in rule.get("resources", [])
        assert "namespaces" not in rule.get("resources", [])
    # what emptying a namespace deletes is deletable
    deletable = {
        (g, r)
        for rule in rules(role)
        for g in rule["apiGroups"]
        for r in rule["resources"]
        if "delete" in rule["verbs"] and "resourceNames" not in rule
    }
    assert ("", "pods") in deletable and ("apps", "deployments") in deletable


def test_cluster_role_names_only_the_learners_own_objects() -> None:
    role = policy.cluster_role("ws1", "ws1-07")
    named = [n for rule in rules(role) for n in rule.get("resourceNames", [])]
    course_own = set(names.course_names("ws1-07").values())
    for name in named:
        assert name in course_own or name in {"default", "system:service-account-issuer-discovery"}
    # nothing namespaced is granted cluster-wide, except the `default` accounts (demo namespace)
    for rule in rules(role):
        resources = set(rule.get("resources", []))
        if resources & {"secrets", "pods", "configmaps", "roles", "rolebindings"}:
            pytest.fail(f"cluster-wide grant of {resources}")
        if "serviceaccounts" in resources:
            assert rule["resourceNames"] == ["default"]
    verbs = {
        (r, v) for rule in rules(role) for r in rule.get("resources", []) for v in rule["verbs"]
    }
    assert ("namespaces", "create") in verbs and ("secrets", "list") not in verbs
    assert not any(v in {"impersonate", "escalate", "bind"} for _, v in verbs), verbs


def _policies() -> dict[str, dict]:
    docs = admission.policies(
        "ws1", len("ws1-07"), ["admin"], 25, {}, lambda w: policy.object_name("ws1", w)
    )
    return {
        d["metadata"]["name"].rsplit(".", 1)[1]: d for d in docs if d["kind"].endswith("Policy")
    }


def test_three_policies_each_bound_to_deny() -> None:
    docs = admission.policies("ws1", 6, ["admin"], 25, {}, lambda w: policy.object_name("ws1", w))
    policies = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"]
    bindings = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert len(policies) == len(bindings) == 3
    for p, b in zip(policies, bindings, strict=True):
        assert b["spec"] == {"policyName": p["metadata"]["name"], "validationActions": ["Deny"]}
        assert p["spec"]["failurePolicy"] == "Fail"


def test_learner_rules_match_every_account_of_the_learners_namespaces() -> None:
    vap = _policies()["learners-stay-apart"]
    condition = vap["spec"]["matchConditions"][0]["expression"]
    assert "ws1-[0-9][0-9]-" in condition
    prefix = vap["spec"]["variables"][0]["expression"]
    assert prefix.endswith("substring(0, 6)")
    scopes = {r["scope"] for r in vap["spec"]["matchConstraints"]["resourceRules"]}
    assert scopes == {"Namespaced", "Cluster"}
    text = json.dumps(vap)
    for fence in ("aggregationRule", "externalIPs", "enforce-version", "system:serviceaccount:"):
        assert fence in text, fence


def test_deny_by_default_matches_everyone_but_components() -> None:
    vap = _policies()["deny-by-default"]
    conditions = {c["name"]: c["expression"] for c in vap["spec"]["matchConditions"]}
    assert "system:anonymous" in conditions["not-a-cluster-component"]
    allowed = vap["spec"]["validations"][0]["expression"]
    assert "['admin']" in allowed and "system:masters" in allowed


def test_slots_name_the_learner() -> None:
    assert admission.slot_resource("ws1-07") == "slots.sa-course.io/ws1-07"
    assert "quantity('25m')" in json.dumps(_policies()["pods-take-a-slot"])


SHARE = Shares(
    learners=6,
    nodes=1,
    slots=10,
    cpu_request_millis=25,
    memory_limit_bytes=200 * 2**20,
    ephemeral_limit_bytes=2**30,
)


def test_learner_namespaces_enforce_pod_security_and_are_protected() -> None:
    ns = policy.namespace("ws1", "ws1-07", "ws1-07-controller-ns")
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels[policy.LABEL_PROTECTED] == "true"
    quota, limits = policy.quota("ws1", "ws1-07", "ws1-07-controller-ns", SHARE)
    assert quota["spec"]["hard"]["pods"] == "10"
    limit = limits["spec"]["limits"][0]
    assert limit["default"]["memory"] == "128Mi" and limit["max"]["memory"] == "200Mi"
    slot = admission.slot_resource("ws1-07")
    assert limit["default"][slot] == limit["defaultRequest"][slot] == limit["min"][slot] == "1"


def test_shares_split_what_the_nodes_offer() -> None:
    cap = shares.Capacity(
        nodes=1, pods=100, cpu_millis=1800, memory_bytes=6 * 2**30, ephemeral_bytes=50 * 2**30
    )
    s = shares.shares(cap, 6)
    assert s.slots == 12 and s.slots_per_node == 12
    assert s.cpu_request_millis * 6 * 12 <= 1800 * 0.9
    assert s.memory_limit_bytes * 6 * 12 <= 6 * 2**30 * 0.9
    two_nodes = shares.shares(shares.Capacity(2, 200, 4000, 2**34, 2**36), 6)
    assert two_nodes.slots_per_node == 6
    with pytest.raises(ClusterError, match="room for 15 learners"):
        shares.shares(cap, 16)


def test_notebook_01s_demo_namespace_is_left_to_the_learner() -> None:
    assert "controller-ns-demo" not in policy.precreated()
    assert len(policy.precreated()) == len(names.NAMESPACES) - 1


def test_kubeconfig_carries_the_prefix_and_expiry(tmp_path) -> None:
    when = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    doc = kubeconfigs.kubeconfig(
        "https://127.0.0.1:6443", b"CA", "not-a-token", "ws1-03", when, "ws1"
    )
    path = kubeconfigs.write(tmp_path / "ws1-03.kubeconfig", doc)
    assert path.stat().st_mode & 0o777 == 0o600
    back = kubeconfigs.read(tmp_path)[0]
    assert (back.prefix, back.token, back.expires) == ("ws1-03", "not-a-token", when)
    assert back.ca_pem == b"CA" and back.server.endswith(":6443")
    assert doc["contexts"][0]["context"]["namespace"] == "ws1-03-setup-ns"


@pytest.mark.parametrize(("text", "seconds"), [("4h", 14400), ("90m", 5400), ("1h30m", 5400)])
def test_durations(text: str, seconds: int) -> None:
    assert duration(text) == seconds


def test_bad_duration_is_one_sentence() -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="not a duration such as 4h"):
        duration("4 hours")


def test_progress_is_recorded_only_in_a_workshop(monkeypatch) -> None:
    from helpers.labs import progress

    monkeypatch.setenv("COURSE_BACKEND", "local")
    assert progress.record(object(), "helpers.labs.lab02_leaked_token", "q1", "Correct") is None
    assert progress.key("helpers.labs.lab12_who_can_become", "q3") == "lab12.q3"


def test_board_knows_every_lab_question() -> None:
    from helpers.workshop import board

    keys = board.questions()
    assert keys[0] == "lab02.q1" and len(keys) == len(set(keys)) >= 18
    assert board.cell({"status": "Not attempted", "attempts": 1}) == "✗1"
    assert board.cell({"status": "Correct", "attempts": 1}, verified="✓") == "✓"


def test_learners_may_update_only_their_own_progress() -> None:
    cm, role, binding = policy.progress_access("ws1", "ws1-07")
    assert cm["metadata"]["namespace"] == role["metadata"]["namespace"] == "ws1-07-home"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["sa-course-progress"],
            "verbs": ["get", "patch"],
        }
    ]
    assert policy.LABEL_PROTECTED not in cm["metadata"]["labels"], "the learner writes it"
    assert binding["subjects"][0]["namespace"] == "ws1-07-home"


def test_reads_outside_the_course_namespaces_are_named() -> None:
    docs = policy.elsewhere("ws1", "ws1-07")
    assert {d["metadata"]["namespace"] for d in docs} == {"kube-system", "default"}
    rules = [r for d in docs if d["kind"] == "Role" for r in d["rules"]]
    assert not any("secrets" in r["resources"] for r in rules)
