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
