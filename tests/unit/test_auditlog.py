"""helpers.auditlog and helpers.signingkeys without a cluster: finding the log and the old key."""

from __future__ import annotations

import json
from types import SimpleNamespace

from helpers.auditlog import AuditLog, audit_log, events_table
from helpers.cluster.controlplane import ControlPlane
from helpers.signingkeys import previous_key_file, previous_signing_key


def _course(backend: str, argv: list[str] | None = None) -> SimpleNamespace:
    lines = {"kube-apiserver": argv} if argv else {}
    return SimpleNamespace(backend=backend, control_plane=ControlPlane(backend, "here", lines))


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
    assert previous_key_file("kubeconfig") is None
    assert previous_signing_key(SimpleNamespace(backend="kubeconfig")) is None  # type: ignore[arg-type]
    assert previous_key_file("local").name == "sa-previous.key"
    assert previous_key_file("kind").name == "sa-previous.key"


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
