"""helpers.auditlog and helpers.signingkeys without a cluster: finding the log and the old key."""

from __future__ import annotations

import json
from types import SimpleNamespace

from helpers.auditlog import AuditLog, audit_log, events_table
from helpers.cluster.controlplane import ControlPlane
from helpers.cluster.node import node_of
from helpers.signingkeys import previous_signing_key


def _course(backend: str, argv: list[str] | None = None) -> SimpleNamespace:
    lines = {"kube-apiserver": argv} if argv else {}
    return SimpleNamespace(
        backend=backend,
        control_plane=ControlPlane(backend, "here", lines),
        node=node_of(backend),
    )


def test_an_existing_cluster_s_log_is_its_administrator_s() -> None:
    assert audit_log(_course("kubeconfig")) is None


def test_no_audit_flag_means_no_log() -> None:
    assert audit_log(_course("local", ["kube-apiserver", "--v=1"])) is None


def test_the_flag_names_the_file(tmp_path) -> None:
    path = tmp_path / "audit.log"
    events = [
        {"verb": "create", "user": {"username": "a"}, "annotations": {"k": "JTI=one"}},
        {"verb": "get", "user": {"username": "b"}},
    ]
    path.write_text("\n".join(json.dumps(e) for e in events) + '\n{"cut short')
    log = audit_log(_course("local", ["kube-apiserver", f"--audit-log-path={path}"]))
    assert isinstance(log, AuditLog) and log.where == "on this machine"
    assert log.events("JTI=one") == events[:1]
    assert log.events("nowhere") == []
    assert list(events_table(log.events('"verb"'))["user"]) == ["a", "b"]


def test_the_previous_key_is_the_course_s_own_clusters_only() -> None:
    assert previous_signing_key(_course("kubeconfig")) is None  # type: ignore[arg-type]
    for backend in ("local", "kind"):
        node = node_of(backend)
        assert node is not None and node.previous_signing_key.name == "sa-previous.key"


def test_a_stale_copy_keeps_the_binding_and_verifies() -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from helpers.signingkeys import signed_with
    from helpers.tokens import Token

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = {"namespace": "n", "serviceaccount": {"name": "a", "uid": "u"}}
    original = Token(jwt.encode({"sub": "s", "jti": "1", "kubernetes.io": private}, key, "RS256"))
    stale = signed_with(original, key, warnafter=5)
    assert stale.claims["kubernetes.io"] == {**private, "warnafter": 5}
    assert jwt.decode(stale.reveal(), key.public_key(), algorithms=["RS256"])["sub"] == "s"
    assert original.claims["kubernetes.io"] == private, "the original is left as it was"


def test_the_policy_s_first_matching_rule_decides() -> None:
    from helpers.auditlog import policy_level
    from helpers.cluster.auditpolicy import POLICY

    def level(**request: object) -> str:
        return policy_level(POLICY, user="jane", groups=["system:authenticated"], **request)

    assert (
        level(verb="create", group="authentication.k8s.io", resource="tokenreviews") == "Metadata"
    )
    assert level(verb="create", resource="serviceaccounts", subresource="token") == "Metadata"
    assert level(verb="watch", resource="secrets") == "None", "no watches"
    assert level(verb="get", path="/healthz") == "None", "no health checks"
    assert level(verb="get", path="/metrics") == "Metadata"
    assert policy_level(POLICY, verb="get", resource="secrets", user="system:apiserver") == "None"
    controller = ["system:serviceaccounts:kube-system"]
    assert policy_level(POLICY, verb="list", resource="secrets", groups=controller) == "None"
    assert policy_level(POLICY, verb="create", resource="secrets", groups=controller) == "Metadata"


def test_resources_match_as_kube_apiserver_matches_them() -> None:
    from helpers.auditlog import policy_level

    def rule(*resources: str, **extra: object) -> dict:
        return {
            "rules": [
                {
                    "level": "Request",
                    "resources": [{"group": "", "resources": list(resources), **extra}],
                }
            ]
        }

    token = {"verb": "create", "resource": "serviceaccounts", "subresource": "token"}
    assert policy_level(rule("serviceaccounts"), **token) == "None", "a subresource is named"
    assert policy_level(rule("serviceaccounts/token"), **token) == "Request"
    assert policy_level(rule("*/token"), **token) == "Request"
    assert policy_level(rule("serviceaccounts/*"), **token) == "Request"
    named = rule("secrets", resourceNames=["a"])
    assert policy_level(named, verb="get", resource="secrets", name="a") == "Request"
    assert policy_level(named, verb="get", resource="secrets", name="b") == "None"
    assert policy_level(rule("secrets"), verb="get", path="/api") == "None", (
        "not a resource request"
    )


def test_a_legacy_copy_gets_no_jti_and_an_old_copy_moves_every_time() -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from helpers.signingkeys import signed_with
    from helpers.tokens import Token

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    legacy = Token(jwt.encode({"sub": "s", "iss": "kubernetes/serviceaccount"}, key, "RS256"))
    assert signed_with(legacy, key, age=100).claims == legacy.claims, "nothing to move, no jti"
    bound = {
        "iat": 10_000,
        "nbf": 10_000,
        "exp": 10_000 + 31_536_000,
        "jti": "j",
        "kubernetes.io": {"warnafter": 10_000 + 3607, "pod": {"name": "p", "uid": "u"}},
    }
    older = signed_with(Token(jwt.encode(bound, key, "RS256")), key, age=3700).claims
    assert older["exp"] - older["iat"] == 31_536_000
    assert older["kubernetes.io"]["warnafter"] - older["iat"] == 3607
    assert older["iat"] == 10_000 - 3700 and older["kubernetes.io"]["pod"] == {
        "name": "p",
        "uid": "u",
    }
    assert older["jti"] != "j"
