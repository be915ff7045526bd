"""What a workshop learner may do, as objects for the API server: RBAC and an admission policy.

Pure functions (no cluster): each returns manifests as dicts, so they can be unit-tested
and shown. A learner is the ServiceAccount ``learner`` of the namespace ``<prefix>-home``;
the learner's prefix is ``<workshop>-NN`` (``ws1-07``).

- :func:`namespaced_role` — the course's namespaced needs (:data:`helpers.preflight.NEEDS`),
  one ClusterRole for all learners, granted in each of a learner's namespaces by a
  RoleBinding (:func:`namespace_binding`);
- :func:`cluster_role` — the course's cluster-scoped needs under the learner's prefix
  (its namespaces and cluster objects by name; TokenReview, SubjectAccessReview, Nodes);
- :func:`namespace` and :func:`quota` — a learner's namespace (Pod Security ``baseline``)
  with its object counts and the LimitRange that hands out the learner's fair share.

What RBAC cannot say (which names, which contents, who else may write) the admission
policies of :mod:`helpers.workshop.admission` say; RBAC's own escalation check does the
rest: nobody can grant what they do not hold.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .. import names, preflight
from ..labs import progress
from ..namespaces import EMPTIED, PROTECTED_LABEL, WORKSHOP_LABEL
from ..preflight import ANY_NAMESPACE, CLUSTER, RBAC, Need
from . import admission
from .shares import Shares

__all__ = [
    "HOME",
    "LABEL_LEARNER",
    "LABEL_PROTECTED",
    "LABEL_WORKSHOP",
    "LEARNER",
    "POD_SECURITY",
    "cluster_role",
    "cluster_role_binding",
    "elsewhere",
    "elsewhere_namespaces",
    "labels",
    "learner_prefix",
    "learner_username",
    "namespace_binding",
    "namespaced_role",
    "object_name",
    "precreated",
    "progress_access",
]

LABEL_WORKSHOP = WORKSHOP_LABEL
LABEL_LEARNER = "workshop.sa-course.io/learner"
#: Objects of the workshop inside a learner's namespaces: no learner may change or delete them.
LABEL_PROTECTED = PROTECTED_LABEL
#: The learner's ServiceAccount, in ``<prefix>-home``.
LEARNER = "learner"
HOME = "home"
#: The Pod Security level every learner namespace enforces (no privileged Pods, no hostPath).
POD_SECURITY = "baseline"
#: notebook 01 creates this namespace itself, to watch ``default`` appear: not pre-created.
CREATED_BY_THE_LEARNER = ("controller-ns-demo",)


def learner_prefix(workshop: str, number: int) -> str:
    """``learner_prefix("ws1", 7)`` → ``'ws1-07'``."""
    return names.valid_prefix(f"{workshop}-{number:02d}")


def learner_username(prefix: str) -> str:
    """The API server's name for the learner: ``system:serviceaccount:ws1-07-home:learner``."""
    return f"system:serviceaccount:{prefix}-{HOME}:{LEARNER}"


def object_name(workshop: str, what: str) -> str:
    """Names of the workshop's own cluster objects; never a learner's prefix (``ws1-07-…``)."""
    return f"sa-course-workshop.{workshop}.{what}"


def precreated() -> list[str]:
    """The course namespaces a workshop creates for each learner (all but notebook 01's demo)."""
    return [n for n in names.NAMESPACES if n not in CREATED_BY_THE_LEARNER]


#: The workshop's own objects inside every learner namespace, by (kind, name): revoking
#: and resetting a learner leave these (and only these) in place.
WORKSHOP_OBJECTS = {
    ("RoleBinding", "sa-course-workshop-learner"),
    ("ResourceQuota", "sa-course-workshop"),
    ("LimitRange", "sa-course-workshop"),
}
#: …and inside ``<prefix>-home``.
HOME_OBJECTS = {
    ("ServiceAccount", LEARNER),
    ("Secret", "learner-anchor"),
    ("ConfigMap", progress.CONFIGMAP),
    ("Role", "sa-course-workshop-progress"),
    ("RoleBinding", "sa-course-workshop-progress"),
}


def labels(workshop: str, prefix: str = "") -> dict[str, str]:
    """Labels for people reading the cluster (``kubectl get ns -l …``); no command trusts them."""
    return _labels(workshop, prefix)


def _labels(workshop: str, prefix: str = "", protected: bool = False) -> dict[str, str]:
    out = {LABEL_WORKSHOP: workshop, "app.kubernetes.io/part-of": "sa-course"}
    if prefix:
        out[LABEL_LEARNER] = prefix
    if protected:
        out[LABEL_PROTECTED] = "true"
    return out


def namespaced_role(workshop: str) -> dict[str, Any]:
    """The course's namespaced needs, for a RoleBinding in each learner namespace.

    Needs the course makes "in every namespace" (notebook 11's audit) become needs in the
    learner's own namespaces: a learner reads only those. Besides, ``list`` and ``delete``
    of what :func:`helpers.namespaces.empty` removes: in a workshop the course empties a
    namespace where it would delete it.
    """
    needs = [
        replace(n, scope=ANY_NAMESPACE)
        for n in preflight.NEEDS
        if n.scope != CLUSTER and not n.url and n.resource != "namespaces"
    ]
    needs += [
        Need(verb, plural, group, scope=ANY_NAMESPACE)
        for group, plural in EMPTIED
        for verb in ("list", "delete")
    ]
    role = preflight.cluster_role(needs, name=object_name(workshop, "in-a-namespace"))
    role["metadata"]["labels"] = _labels(workshop)
    return role


def cluster_role(workshop: str, prefix: str) -> dict[str, Any]:
    """The course's cluster-scoped needs, with the learner's names (a ClusterRole per learner).

    Besides: ``get`` and ``delete`` of the ``default`` ServiceAccount of any namespace, for
    notebook 01's demo namespace (the learner creates it, so no RoleBinding can be there
    first); the admission policy confines the delete to the learner's namespaces.
    """
    cluster_needs = [n for n in preflight.NEEDS if n.scope == CLUSTER or n.url]
    own = preflight.localized(cluster_needs, prefix)
    demo = [
        Need(verb, "serviceaccounts", scope=CLUSTER, name="default") for verb in ("get", "delete")
    ]
    role = preflight.cluster_role([*own, *demo], name=object_name(workshop, prefix))
    role["metadata"]["labels"] = _labels(workshop, prefix)
    return role


def _subject(prefix: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": LEARNER, "namespace": f"{prefix}-{HOME}"}


def cluster_role_binding(workshop: str, prefix: str) -> dict[str, Any]:
    """Binds :func:`cluster_role` to the learner."""
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": object_name(workshop, prefix), "labels": _labels(workshop, prefix)},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": object_name(workshop, prefix)},
        "subjects": [_subject(prefix)],
    }


def namespace_binding(workshop: str, prefix: str, namespace: str) -> dict[str, Any]:
    """Grants :func:`namespaced_role` to the learner in ``namespace`` (protected)."""
    role = object_name(workshop, "in-a-namespace")
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": "sa-course-workshop-learner",
            "namespace": namespace,
            "labels": _labels(workshop, prefix, protected=True),
        },
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [_subject(prefix)],
    }


def elsewhere_namespaces() -> list[str]:
    """Namespaces outside the learners' where :func:`elsewhere` grants reads (kube-system …)."""
    return sorted(
        {n.scope for n in preflight.NEEDS} - {CLUSTER, ANY_NAMESPACE} - set(names.NAMESPACES)
    )


def elsewhere(workshop: str, prefix: str) -> list[dict[str, Any]]:
    """Roles (and bindings) for what the course reads outside its namespaces, per namespace.

    ``kube-system``: the controllers' ServiceAccounts (names only) and the legacy-token
    tracking ConfigMap; ``default``: the ``kubernetes`` Service and its endpoints.
    """
    scopes = elsewhere_namespaces()
    docs: list[dict[str, Any]] = []
    for scope in scopes:
        needs = [replace(n, scope=ANY_NAMESPACE) for n in preflight.NEEDS if n.scope == scope]
        name = object_name(workshop, prefix)
        role = preflight.cluster_role(needs, name=name)
        labels = _labels(workshop, prefix, protected=True)
        docs.append(
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "Role",
                "metadata": {"name": name, "namespace": scope, "labels": labels},
                "rules": role["rules"],
            }
        )
        docs.append(
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": scope, "labels": labels},
                "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
                "subjects": [_subject(prefix)],
            }
        )
    return docs


def progress_access(workshop: str, prefix: str) -> list[dict[str, Any]]:
    """The learner's progress ConfigMap in ``<prefix>-home``, and the right to update it only.

    The board reads it (:mod:`helpers.labs.progress` writes it: status, time, attempts).
    """
    home = f"{prefix}-{HOME}"
    protected = _labels(workshop, prefix, protected=True)
    name = "sa-course-workshop-progress"
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": progress.CONFIGMAP,
                "namespace": home,
                "labels": _labels(workshop, prefix),
            },
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": home, "labels": protected},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": [progress.CONFIGMAP],
                    "verbs": ["get", "patch"],
                }
            ],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": home, "labels": protected},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
            "subjects": [_subject(prefix)],
        },
    ]


def namespace(workshop: str, prefix: str, name: str) -> dict[str, Any]:
    """A learner namespace: labelled as the workshop's, Pod Security enforced."""
    labels = _labels(workshop, prefix, protected=True)
    labels["pod-security.kubernetes.io/enforce"] = POD_SECURITY
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def quota(workshop: str, prefix: str, namespace: str, share: Shares) -> list[dict[str, Any]]:
    """The namespace's ResourceQuota (object counts) and LimitRange (the learner's share).

    The LimitRange gives every container its default requests and limits, caps memory and
    ephemeral storage at the learner's per-slot share, and makes each container claim
    exactly one of the learner's Pod slots (:mod:`helpers.workshop.shares`).
    """
    labels = _labels(workshop, prefix, protected=True)
    meta = {"name": "sa-course-workshop", "namespace": namespace, "labels": labels}
    slot = admission.slot_resource(prefix)
    mib = 2**20
    memory = share.memory_limit_bytes // mib
    ephemeral = share.ephemeral_limit_bytes // mib
    return [
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": meta,
            "spec": {
                "hard": {
                    "pods": str(share.slots),
                    "services": "5",
                    "secrets": "20",
                    "configmaps": "20",
                    "count/serviceaccounts": "20",
                    "persistentvolumeclaims": "0",
                    "count/deployments.apps": "5",
                    "count/replicasets.apps": "10",
                    "count/jobs.batch": "5",
                    "count/cronjobs.batch": "0",
                    "count/statefulsets.apps": "0",
                    "count/daemonsets.apps": "0",
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": meta,
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {
                            "cpu": f"{min(5, share.cpu_request_millis)}m",
                            "memory": f"{min(16, memory)}Mi",
                            "ephemeral-storage": f"{min(16, ephemeral)}Mi",
                            slot: "1",
                        },
                        "default": {
                            "cpu": "500m",
                            "memory": f"{min(128, memory)}Mi",
                            "ephemeral-storage": f"{min(256, ephemeral)}Mi",
                            slot: "1",
                        },
                        "max": {
                            "cpu": "1",
                            "memory": f"{memory}Mi",
                            "ephemeral-storage": f"{ephemeral}Mi",
                            slot: "1",
                        },
                        "min": {slot: "1"},
                    }
                ]
            },
        },
    ]
