"""Workshop namespaces: made by the instructor, emptied (never deleted) by the course.

On a workshop cluster a learner's namespaces exist before the course starts, each with the
RoleBinding that lets the learner work there (and a quota). Deleting one would take those
with it, so ``course.fresh_namespace()`` and ``course.delete_namespace()`` *empty* such a
namespace instead: every object the course creates goes, the workshop's own stay.

    >>> is_workshop_namespace({"metadata": {"labels": {WORKSHOP_LABEL: "ws1"}}})
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client

from .cluster.errors import ClusterError
from .cluster.waiting import deleted, get_or_none, poll_until

__all__ = [
    "EMPTIED",
    "KEPT",
    "PROTECTED_LABEL",
    "WORKSHOP_LABEL",
    "empty",
    "is_workshop_namespace",
]

#: The label of every object a workshop made (its name).
WORKSHOP_LABEL = "workshop.sa-course.io/name"
#: Objects of the workshop inside a learner's namespace: emptying leaves them.
PROTECTED_LABEL = "workshop.sa-course.io/protected"
#: What emptying deletes, as (API group, plural): the kinds the course creates, owners first.
EMPTIED: tuple[tuple[str, str], ...] = (
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("", "pods"),
    ("", "services"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "serviceaccounts"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("", "resourcequotas"),
    ("", "limitranges"),
)
#: Objects the cluster itself keeps in every namespace.
KEPT = {("", "serviceaccounts"): {"default"}, ("", "configmaps"): {"kube-root-ca.crt"}}


def is_workshop_namespace(namespace: Any) -> bool:
    """Was this namespace (a V1Namespace or a dict) made by a workshop?"""
    meta = namespace.get("metadata", {}) if isinstance(namespace, dict) else namespace.metadata
    labels = (meta.get("labels") if isinstance(meta, dict) else meta.labels) or {}
    return WORKSHOP_LABEL in labels


def _api(api: client.ApiClient, group: str, plural: str) -> tuple[Callable, Callable]:
    """(list, delete) functions of the official client for one kind."""
    singular = {
        "deployments": "deployment",
        "replicasets": "replica_set",
        "jobs": "job",
        "pods": "pod",
        "services": "service",
        "configmaps": "config_map",
        "secrets": "secret",
        "serviceaccounts": "service_account",
        "roles": "role",
        "rolebindings": "role_binding",
        "resourcequotas": "resource_quota",
        "limitranges": "limit_range",
    }[plural]
    typed = {
        "": client.CoreV1Api,
        "apps": client.AppsV1Api,
        "batch": client.BatchV1Api,
        "rbac.authorization.k8s.io": client.RbacAuthorizationV1Api,
    }[group](api)
    return (
        getattr(typed, f"list_namespaced_{singular}"),
        getattr(typed, f"delete_namespaced_{singular}"),
    )


def empty(api: client.ApiClient, namespace: str, timeout: float = 90) -> list[str]:
    """Delete what the course made in ``namespace``; keep the workshop's objects. What went.

    Returns once the namespace's Pods are gone (a new Pod may then reuse a name).
    """
    gone: list[str] = []
    for group, plural in EMPTIED:
        list_, delete = _api(api, group, plural)
        kept = KEPT.get((group, plural), set())
        found = get_or_none(
            lambda list_=list_: list_(namespace, label_selector=f"!{PROTECTED_LABEL}")
        )
        if found is None:
            continue
        items = found.items
        for item in items:
            if item.metadata.name in kept:
                continue
            if deleted(
                lambda delete=delete, item=item, plural=plural: delete(
                    item.metadata.name,
                    namespace,
                    grace_period_seconds=0 if plural == "pods" else None,
                    propagation_policy="Background",
                )
            ):
                gone.append(f"{plural}/{item.metadata.name}")
    core = client.CoreV1Api(api)
    poll_until(
        lambda: not core.list_namespaced_pod(namespace).items,
        timeout=timeout,
        what=f"the Pods of namespace {namespace} to go (run the cell again)",
        error=ClusterError,
    )
    return gone
