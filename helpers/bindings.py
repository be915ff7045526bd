"""Cluster-wide bindings that a lab's accounts got, and their clean-up.

A learner may try a ClusterRoleBinding in a lab (a realistic mistake). It names the lab's
accounts by namespace and name, so it would outlive the namespace and grant the same rights
to the next run's accounts of the same names: the lab removes it when it starts afresh and
when it cleans up. Bindings that also name anyone outside the lab's namespace are left alone.
"""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.exceptions import ApiException

__all__ = ["binds_only", "delete_lab_cluster_bindings"]


def binds_only(subject: client.RbacV1Subject, namespace: str) -> bool:
    """True if ``subject`` is one of ``namespace``'s ServiceAccounts, or their group.

    >>> sa = client.RbacV1Subject(kind="ServiceAccount", name="app", namespace="lab-x")
    >>> binds_only(sa, "lab-x"), binds_only(sa, "lab-y")
    (True, False)
    """
    if subject.kind == "ServiceAccount":
        return subject.namespace == namespace
    if subject.kind == "Group":
        return subject.name == f"system:serviceaccounts:{namespace}"
    if subject.kind == "User":
        return subject.name.startswith(f"system:serviceaccount:{namespace}:")
    return False


def delete_lab_cluster_bindings(rbac: client.RbacAuthorizationV1Api, namespace: str) -> list[str]:
    """Delete ClusterRoleBindings that only bind subjects of ``namespace``; return their names.

    Where this identity may not delete one (an existing cluster grants deletes only for
    the course's own names), it says so in one line and leaves it.
    """
    removed = []
    for crb in rbac.list_cluster_role_binding().items:
        subjects = crb.subjects or []
        if not subjects or not all(binds_only(s, namespace) for s in subjects):
            continue
        try:
            rbac.delete_cluster_role_binding(crb.metadata.name)
            removed.append(crb.metadata.name)
        except ApiException as exc:
            if exc.status == 403:
                print(
                    f"note: ClusterRoleBinding {crb.metadata.name} grants rights to this lab's "
                    "accounts cluster-wide, and you may not delete it: ask your cluster's "
                    f"administrator to (kubectl delete clusterrolebinding {crb.metadata.name})."
                )
            elif exc.status != 404:
                raise
    return removed
