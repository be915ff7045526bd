"""The API server's fences around a workshop's learners: three ValidatingAdmissionPolicies.

Pure functions (no cluster): each returns a policy and its binding as dicts. RBAC decides
*what kinds* a learner may write; these decide *which objects and which contents*, on
every request, whoever makes it:

- :func:`learner_rules` — every write by a ServiceAccount of a learner's namespaces (the
  learner, and every account the learner makes): only in, or named, the learner's prefix;
  namespaces and cluster objects only with the course's own names; bindings only to
  ServiceAccounts (by kind, user or group name) of the learner's namespaces or of
  namespaces no learner can act in — no other user or group, no other learner; Pod Security
  kept at ``baseline`` or ``restricted`` and version ``latest``; no
  ``workshop.sa-course.io/*`` label set, changed or removed; no aggregated ClusterRoles;
  no Service that listens outside the cluster,
  no probe of the node's own addresses, no oversized Secret or ConfigMap;
- :func:`deny_by_default` — every write into a learner's space (their namespaces, and
  cluster objects named with their prefix) by anyone but the instructor, the cluster's
  own components and that learner's own ServiceAccounts is refused — anonymous included;
- :func:`pods_take_a_slot` — every Pod in a learner's space, whoever creates it (a
  Deployment's ReplicaSet too), claims exactly one of that learner's Pod slots per
  container and none of anyone else's (:mod:`helpers.workshop.shares`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import names

__all__ = [
    "ADMISSION",
    "LABEL_DOMAIN",
    "POD_SECURITY_LEVELS",
    "SLOT_DOMAIN",
    "deny_by_default",
    "learner_rules",
    "pods_take_a_slot",
    "policies",
    "slot_resource",
]

ADMISSION = "admissionregistration.k8s.io/v1"
#: A learner's home namespace is ``<prefix>-home`` (helpers.workshop.policy.HOME).
HOME = "home"
#: Every label of the workshop starts with this; learners may not touch any of them.
LABEL_DOMAIN = "workshop.sa-course.io/"
#: The extended resource each learner's Pods claim, one per container (``…/ws1-07``).
SLOT_DOMAIN = "slots.sa-course.io"
#: Pod Security levels a learner's namespace may enforce (never ``privileged``).
POD_SECURITY_LEVELS = ("baseline", "restricted")
PSA = "pod-security.kubernetes.io/"
#: The largest Secret or ConfigMap a learner may write (the sum of its values, in bytes).
MAX_OBJECT_BYTES = 16 * 1024
#: Who is ``system:`` but not a person: kube-controller-manager, the scheduler, kubelets,
#: the API server itself. ServiceAccounts and ``system:anonymous`` are not among them.
USER = "request.userInfo.username"


def slot_resource(prefix: str) -> str:
    """The extended resource a learner's Pods claim: ``slots.sa-course.io/ws1-07``."""
    return f"{SLOT_DOMAIN}/{prefix}"


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _labels(obj: str) -> str:
    return f"({obj} != null && has({obj}.metadata.labels) ? {obj}.metadata.labels : {{}})"


def _doc(name: str, labels: dict[str, str], spec: dict[str, Any]) -> list[dict[str, Any]]:
    policy = {
        "apiVersion": ADMISSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {"failurePolicy": "Fail", **spec},
    }
    binding = {
        "apiVersion": ADMISSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": labels},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    return [policy, binding]


#: Every write: namespaced objects, and the cluster-scoped kinds a learner's prefix can name.
_MATCH = {
    "resourceRules": [
        {
            "apiGroups": ["*"],
            "apiVersions": ["*"],
            "resources": ["*/*"],
            "operations": ["CREATE", "UPDATE", "DELETE", "CONNECT"],
            "scope": "Namespaced",
        },
        {
            "apiGroups": ["", "rbac.authorization.k8s.io"],
            "apiVersions": ["*"],
            "resources": ["namespaces", "clusterroles", "clusterrolebindings"],
            "operations": ["CREATE", "UPDATE", "DELETE"],
            "scope": "Cluster",
        },
    ]
}
#: The object's name, for a cluster-scoped request (``object`` is null on DELETE).
_NAME = "(object != null ? object.metadata.name : oldObject.metadata.name)"
_CLUSTER_SCOPED = "(!has(request.namespace) || request.namespace == '')"


def _learner_re(workshop: str) -> str:
    return f"^{workshop}-[0-9][0-9]-"


def learner_rules(
    workshop: str,
    prefix_length: int,
    labels: dict[str, str],
    name: str,
) -> list[dict[str, Any]]:
    """What any ServiceAccount of a learner's namespaces may write (see the module's text)."""
    own = "variables.own"
    kind = "request.kind.kind"
    writes = "request.operation in ['CREATE', 'UPDATE']"
    course_namespaces = _list(sorted(names.NAMESPACES))
    course_cluster_objects = _list(sorted(names.CLUSTER_SCOPED))
    host_free = _host_free_pods()

    def may_name(namespace: str) -> str:
        """CEL: the ServiceAccounts of ``namespace`` are the learner's, or no learner's."""
        return f"({namespace}.startsWith({own}) || !{namespace}.matches('{_learner_re(workshop)}'))"

    # a subject's namespace: its own field (else the binding's), or the one its name holds
    sa_namespace = "(has(s.namespace) && s.namespace != '' ? s.namespace : request.namespace)"
    named_namespace = "s.name.split(':')[2]"

    validations = [
        (
            f"variables.target.startsWith({own})",
            "'you are learner ' + variables.prefix + ' of workshop "
            f"{workshop}: you may only change what is in, or named, ' + {own} + '…'",
        ),
        (
            f"!variables.protected || (request.operation == 'UPDATE' && {kind} == 'Namespace')",
            "'this object belongs to the workshop, not to you: ask your instructor to reset "
            "your namespaces (python -m helpers.workshop reset)'",
        ),
        (
            # workshop labels: none set on create, none changed or removed on update
            f"request.operation != 'CREATE' || "
            f"!variables.labels.exists(k, k.startsWith('{LABEL_DOMAIN}'))",
            f"'the labels {LABEL_DOMAIN}* belong to the workshop: leave them out'",
        ),
        (
            "request.operation != 'UPDATE' || "
            f"(variables.labels.all(k, !k.startsWith('{LABEL_DOMAIN}') || "
            "(k in variables.oldLabels && variables.oldLabels[k] == variables.labels[k])) && "
            f"variables.oldLabels.all(k, !k.startsWith('{LABEL_DOMAIN}') || "
            "k in variables.labels))",
            f"'the labels {LABEL_DOMAIN}* belong to the workshop: leave them as they are'",
        ),
        (
            f"{kind} != 'Namespace' || !({writes}) || "
            f"('{PSA}enforce' in variables.labels && "
            f"variables.labels['{PSA}enforce'] in {_list(POD_SECURITY_LEVELS)} && "
            f"(!('{PSA}enforce-version' in variables.labels) || "
            f"variables.labels['{PSA}enforce-version'] == 'latest'))",
            f"'a namespace of yours enforces Pod Security baseline or restricted, version "
            f"latest: label it {PSA}enforce=baseline (or restricted)'",
        ),
        (
            f"{kind} != 'Namespace' || request.operation != 'CREATE' || "
            f"!object.metadata.name.startsWith({own}) || "
            f"object.metadata.name.substring(size({own})) in {course_namespaces}",
            "'you may create only the course\\'s own namespaces under your prefix (' + "
            f"{own} + 'controller-ns-demo …)'",
        ),
        (
            f"!({kind} in ['ClusterRole', 'ClusterRoleBinding']) || "
            "request.operation != 'CREATE' || "
            f"!object.metadata.name.startsWith({own}) || "
            f"object.metadata.name.substring(size({own})) in {course_cluster_objects}",
            "'you may create only the course\\'s own cluster roles and bindings under your prefix'",
        ),
        (
            f"{kind} != 'ClusterRole' || !({writes}) || "
            "(!has(object.aggregationRule) && "
            "!variables.labels.exists(k, k.contains('aggregate-to-')))",
            "'a cluster role of yours may not aggregate, nor be aggregated into the "
            "built-in roles (no aggregationRule, no aggregate-to-* label)'",
        ),
        (
            # ServiceAccounts — by kind, by user name or by their namespace's group — of the
            # learner's own namespaces or of namespaces no learner can act in (lab 07 binds
            # one in `default` on purpose, notebook 04 the article's group of a namespace
            # that does not exist); never another learner's, never any other user or group
            f"!({kind} in ['RoleBinding', 'ClusterRoleBinding']) || !({writes}) || "
            "!has(object.subjects) || object.subjects.all(s, "
            "(s.kind == 'ServiceAccount' && "
            f"{may_name(sa_namespace)}) || "
            "(s.kind == 'User' && s.name.matches('^system:serviceaccount:[^:]+:[^:]+$') && "
            f"{may_name(named_namespace)}) || "
            "(s.kind == 'Group' && s.name.matches('^system:serviceaccounts:[^:]+$') && "
            f"{may_name(named_namespace)}))",
            "'a binding of yours may name only ServiceAccounts (by kind, user or group name), "
            "and none of another learner\\'s: no other users, no other groups'",
        ),
        (
            f"{kind} != 'Service' || !({writes}) || "
            "((!has(object.spec.type) || object.spec.type == 'ClusterIP') && "
            "(!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0))",
            "'a Service of yours stays inside the cluster: type ClusterIP, no externalIPs'",
        ),
        (
            f"{kind} != 'Pod' || !({writes}) || ({host_free})",
            "'a probe or lifecycle hook of yours may not name a host: the kubelet would call "
            "that address from the node'",
        ),
        (
            f"!({kind} in ['Secret', 'ConfigMap']) || !({writes}) || "
            f"variables.bytes <= {MAX_OBJECT_BYTES}",
            f"'a Secret or ConfigMap of yours holds at most {MAX_OBJECT_BYTES // 1024} KiB'",
        ),
    ]
    user = USER
    spec = {
        "matchConstraints": _MATCH,
        "matchConditions": [
            {
                "name": f"a-service-account-of-a-learner-of-{workshop}",
                "expression": (
                    f"{user}.matches('^system:serviceaccount:{workshop}-[0-9][0-9]-[^:]+:[^:]+$')"
                ),
            }
        ],
        "variables": [
            {
                "name": "prefix",
                "expression": f"{user}.split(':')[2].substring(0, {prefix_length})",
            },
            {"name": "own", "expression": "variables.prefix + '-'"},
            {
                "name": "target",
                "expression": (
                    "has(request.namespace) && request.namespace != '' ? request.namespace : "
                    f"{_NAME}"
                ),
            },
            {"name": "labels", "expression": _labels("object")},
            {"name": "oldLabels", "expression": _labels("oldObject")},
            {
                "name": "protected",
                "expression": f"'{LABEL_DOMAIN}protected' in variables.oldLabels",
            },
            {"name": "bytes", "expression": _data_bytes()},
        ],
        "validations": [
            {"expression": e, "messageExpression": m, "reason": "Forbidden"} for e, m in validations
        ],
    }
    return _doc(name, labels, spec)


def _data_bytes() -> str:
    """CEL: the size of a Secret's or ConfigMap's values (0 for any other object)."""
    parts = []
    for field in ("data", "binaryData", "stringData"):
        parts.append(
            f"(object != null && has(object.{field}) ? "
            f"object.{field}.map(k, size(object.{field}[k])).sum() : 0)"
        )
    return " + ".join(parts)


def _host_free_pods() -> str:
    """CEL: no probe or lifecycle handler of any container names a ``host``.

    Pod Security ``baseline`` checks this only from policy version 1.34
    (``check_hostProbesAndhostLifecycle.go``); this keeps it on every version.
    """
    handlers = []
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        for action in ("httpGet", "tcpSocket"):
            handlers.append(f"{probe}.{action}")
    for hook in ("postStart", "preStop"):
        for action in ("httpGet", "tcpSocket"):
            handlers.append(f"lifecycle.{hook}.{action}")

    def none(c: str) -> str:
        checks = []
        for h in handlers:
            path = f"{c}.{h}"
            parts = path.split(".")
            guards = [f"has({'.'.join(parts[: i + 1])})" for i in range(1, len(parts))]
            checks.append(f"!({' && '.join(guards)} && has({path}.host) && {path}.host != '')")
        return " && ".join(checks)

    lists = []
    for field in ("containers", "initContainers", "ephemeralContainers"):
        lists.append(f"(!has(object.spec.{field}) || object.spec.{field}.all(c, {none('c')}))")
    return " && ".join(lists)


def deny_by_default(
    workshop: str,
    prefix_length: int,
    instructors: Iterable[str],
    labels: dict[str, str],
    name: str,
    hub: str = "",
) -> list[dict[str, Any]]:
    """Writes into a learner's space: only the instructor, components and that learner.

    The learner's space: their namespaces (``ws1-07-…``), and the namespaces, cluster
    roles and cluster role bindings named with their prefix. Everyone else — another
    learner, any other account, ``system:anonymous`` — is refused, whatever RBAC says.
    ``hub`` (the browser classroom's JupyterHub) may write Pods in learners' homes only.
    """
    user = USER
    pattern = _learner_re(workshop)
    in_space = (
        f"(has(request.namespace) && request.namespace.matches('{pattern}')) || "
        f"({_CLUSTER_SCOPED} && {_NAME}.matches('{pattern}'))"
    )
    component = (
        f"({user}.startsWith('system:') && !{user}.startsWith('system:serviceaccount:') && "
        f"{user} != 'system:anonymous' && "
        "!('system:unauthenticated' in request.userInfo.groups)) || "
        f"{user}.startsWith('system:serviceaccount:kube-system:')"
    )
    allowed = (
        f"{user} in {_list(sorted(set(instructors)))} || "
        "'system:masters' in request.userInfo.groups || "
        f"{user}.startsWith('system:serviceaccount:' + variables.owner + '-')"
    )
    if hub:
        allowed += (
            f" || ({user} == '{hub}' && request.resource.group == '' && "
            "request.resource.resource == 'pods' && "
            "(!has(request.subResource) || request.subResource == '') && "
            f"has(request.namespace) && request.namespace == variables.owner + '-{HOME}')"
        )
    spec = {
        "matchConstraints": _MATCH,
        "matchConditions": [
            {"name": f"in-the-space-of-a-learner-of-{workshop}", "expression": in_space},
            {"name": "not-a-cluster-component", "expression": f"!({component})"},
        ],
        "variables": [
            {
                "name": "owner",
                "expression": (
                    "(has(request.namespace) && request.namespace != '' ? request.namespace : "
                    f"{_NAME}).substring(0, {prefix_length})"
                ),
            }
        ],
        "validations": [
            {
                "expression": allowed,
                "messageExpression": (
                    "'this belongs to learner ' + variables.owner + ' of workshop "
                    f"{workshop}: only they and the instructor may change it'"
                ),
                "reason": "Forbidden",
            }
        ],
    }
    return _doc(name, labels, spec)


def pods_take_a_slot(
    workshop: str,
    prefix_length: int,
    max_cpu_request_millis: int,
    labels: dict[str, str],
    name: str,
) -> list[dict[str, Any]]:
    """Every container of a Pod in a learner's namespace claims one of that learner's slots.

    The LimitRange of each namespace (:func:`helpers.workshop.policy.quota`) fills the
    claim in; this refuses a Pod that claims none, more than one, or another learner's,
    that asks for more CPU than a slot carries (the LimitRange caps memory and storage),
    or that sets Pod-level resources (which the scheduler would count instead).
    """
    slot = f"'{SLOT_DOMAIN}/' + request.namespace.substring(0, {prefix_length})"
    one = (
        "has(c.resources) && has(c.resources.limits) && "
        f"{slot} in c.resources.limits && string(c.resources.limits[{slot}]) == '1' && "
        f"c.resources.limits.all(r, !r.startsWith('{SLOT_DOMAIN}/') || r == {slot}) && "
        f"(!has(c.resources.requests) || c.resources.requests.all(r, "
        f"!r.startsWith('{SLOT_DOMAIN}/') || r == {slot})) && "
        "(!has(c.resources.requests) || !('cpu' in c.resources.requests) || "
        f"quantity(c.resources.requests['cpu']).compareTo(quantity('{max_cpu_request_millis}m'))"
        " <= 0)"
    )
    spec = {
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "resources": ["pods"],
                    "operations": ["CREATE"],
                }
            ]
        },
        "matchConditions": [
            {
                "name": f"a-pod-of-a-learner-of-{workshop}",
                # a learner's home holds only the hub's JupyterLab Pod, which only the hub
                # and the instructor may create (RBAC and deny_by_default): no slot
                "expression": (
                    f"request.namespace.matches('{_learner_re(workshop)}') && "
                    f"!request.namespace.endsWith('-{HOME}')"
                ),
            }
        ],
        "validations": [
            {
                "expression": (
                    "!has(object.spec.resources) && "
                    # dyn(): the type checker's Pod schema has no fields for resource maps
                    f"dyn(object).spec.containers.all(c, {one}) && "
                    "(!has(object.spec.initContainers) || "
                    f"dyn(object).spec.initContainers.all(c, {one}))"
                ),
                "messageExpression": (
                    "'every container of a learner\\'s Pod takes exactly one of that learner\\'s "
                    "Pod slots (' + " + slot + " + ': 1, which the namespace\\'s LimitRange "
                    f"sets) and requests at most {max_cpu_request_millis}m CPU; no Pod-level "
                    "resources'"
                ),
                "reason": "Forbidden",
            }
        ],
    }
    return _doc(name, labels, spec)


def policies(
    workshop: str,
    prefix_length: int,
    instructors: Iterable[str],
    max_cpu_request_millis: int,
    labels: dict[str, str],
    object_name: Any,
    hub: str = "",
) -> list[dict[str, Any]]:
    """All three policies and their bindings; ``object_name(what)`` names the workshop's."""
    return [
        *learner_rules(workshop, prefix_length, labels, object_name("learners-stay-apart")),
        *deny_by_default(
            workshop, prefix_length, instructors, labels, object_name("deny-by-default"), hub
        ),
        *pods_take_a_slot(
            workshop,
            prefix_length,
            max_cpu_request_millis,
            labels,
            object_name("pods-take-a-slot"),
        ),
    ]
