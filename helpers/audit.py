"""A security audit of ServiceAccounts and their tokens, as one pandas table.

Four checks, each a pure function over lists of the official client's objects (so they
are unit-tested without a cluster); :func:`read_cluster` collects those lists from a live
cluster and :func:`audit` runs every check and tabulates the findings.

======================  =====================================================================
check                   finding
======================  =====================================================================
``legacy-token``        a Secret of type ``kubernetes.io/service-account-token``: a token
                        that never expires (auto-generated or made by hand)
``powerful-binding``    a ServiceAccount bound — by a RoleBinding or ClusterRoleBinding,
                        directly or through one of its groups — to the ClusterRole
                        ``cluster-admin`` or to a role with a wildcard rule (``"*"`` among
                        its verbs, apiGroups, resources or nonResourceURLs)
``unneeded-token``      a Pod that mounts a token for the Kubernetes API (a projected
                        ``serviceAccountToken`` without an audience, e.g. the automatic
                        ``kube-api-access-…`` volume) but does not declare that it uses the
                        API: no label :data:`USES_API_LABEL` ``= "true"``
``default-sa``          a Pod that runs as its namespace's ``default`` ServiceAccount
                        (static Pods, which cannot use ServiceAccounts, excepted)
======================  =====================================================================

A ServiceAccount is in the groups ``system:serviceaccounts``,
``system:serviceaccounts:<namespace>`` and ``system:authenticated``; a binding to any of
them binds every ServiceAccount it covers.

One more check runs on its own, :func:`can_become` (notebook 12), not in :func:`audit`:

======================  =====================================================================
``can-become``          a subject (ServiceAccount, user or group) that a binding grants, in a
                        namespace, a permission that lets it act as any ServiceAccount there:
                        see :data:`BECOMING` (create Pods or workloads, exec, ephemeral
                        containers, ``serviceaccounts/token``, read Secrets, impersonate,
                        ``bind``, ``escalate``); a ClusterRoleBinding also
                        :data:`BECOMING_CLUSTER_WIDE` (``nodes/proxy``, approving client
                        certificates, admission webhook configurations). Not every path
                        there is: the paths notebook 12 names.
======================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import pandas as pd
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from . import names
from .accounts import LEGACY_SECRET_TYPE, SA_NAME_ANNOTATION
from .legacy import LAST_USED_LABEL, is_auto_generated
from .namespaces import PROTECTED_LABEL
from .reviews import sa_groups, sa_username

__all__ = [
    "BECOMING",
    "BECOMING_CLUSTER_WIDE",
    "CAN_BECOME",
    "CHECKS",
    "COLUMNS",
    "CONSTRAINED_IMPERSONATION",
    "EVERY_NAMESPACE",
    "SEPARATE_CHECKS",
    "USES_API_LABEL",
    "Finding",
    "Power",
    "Request",
    "Snapshot",
    "audit",
    "becoming_powers",
    "can_become",
    "find_can_become",
    "find_default_service_account",
    "find_legacy_tokens",
    "find_powerful_bindings",
    "find_unneeded_tokens",
    "findings_table",
    "mounts_api_token",
    "powers_to_look_for",
    "read_cluster",
    "role_power",
]

USES_API_LABEL = "audit.sa-course.io/uses-kubernetes-api"
"""The label a Pod carries (value ``"true"``) to declare that it talks to the API server."""

CHECKS: dict[str, str] = {
    "legacy-token": "Move its users to bound tokens, then delete the Secret.",
    "powerful-binding": "Bind a Role with the few verbs and resources it needs instead.",
    "unneeded-token": "Set automountServiceAccountToken: false (Pod or ServiceAccount).",
    "default-sa": "Give the workload a ServiceAccount of its own.",
}
"""Each check's name and its standard remedy (the ``fix`` column)."""

CAN_BECOME = "can-become"
SEPARATE_CHECKS: dict[str, str] = {
    CAN_BECOME: "Grant it only to whom you trust with every ServiceAccount there; narrow it "
    "with resourceNames, or give powerful ServiceAccounts a namespace of their own.",
}
"""Checks that :func:`audit` does not run (each has a function of its own), and remedies."""

EVERY_NAMESPACE = "*"
"""The namespace of a :func:`can_become` finding from a ClusterRoleBinding: every one."""

COLUMNS = ["check", "namespace", "kind", "name", "detail", "fix"]
"""The columns of :func:`findings_table`."""

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
"""Marks the API's copy of a static Pod (etcd, kube-apiserver … on kubeadm/kind nodes)."""


@dataclass(frozen=True, order=True)
class Finding:
    """One problem the audit found on one object."""

    check: str
    namespace: str
    kind: str
    name: str
    detail: str

    @property
    def fix(self) -> str:
        """The standard remedy for this check."""
        return {**CHECKS, **SEPARATE_CHECKS}[self.check]


# -- legacy tokens --------------------------------------------------------------------------------
def find_legacy_tokens(
    secrets: Iterable[client.V1Secret], service_accounts: Iterable[client.V1ServiceAccount]
) -> list[Finding]:
    """Every legacy token Secret, saying whether it is auto-generated and when last used."""
    accounts = {(sa.metadata.namespace, sa.metadata.name): sa for sa in service_accounts}
    findings = []
    for secret in secrets:
        if secret.type != LEGACY_SECRET_TYPE:
            continue
        meta = secret.metadata
        owner = (meta.annotations or {}).get(SA_NAME_ANNOTATION, "?")
        sa = accounts.get((meta.namespace, owner))
        origin = "auto-generated" if sa is not None and is_auto_generated(secret, sa) else "manual"
        last_used = (meta.labels or {}).get(LAST_USED_LABEL, "never (since tracking began)")
        detail = f"{origin} token of ServiceAccount {owner}; last used: {last_used}"
        findings.append(Finding("legacy-token", meta.namespace, "Secret", meta.name, detail))
    return findings


# -- powerful bindings ----------------------------------------------------------------------------
def _wildcards(rule: client.V1PolicyRule) -> list[str]:
    fields = {
        "verbs": rule.verbs,
        "apiGroups": rule.api_groups,
        "resources": rule.resources,
        "nonResourceURLs": rule.non_resource_urls,
    }
    return [name for name, values in fields.items() if "*" in (values or [])]


def role_power(kind: str, name: str, rules: Sequence[client.V1PolicyRule] | None) -> str | None:
    """Why a role is powerful (``full access`` for cluster-admin, or its wildcards), else ``None``.

    >>> rule = client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["*"])
    >>> role_power("Role", "config-anything", [rule])
    'wildcard rule (verbs: *)'
    >>> role_power("ClusterRole", "view", [client.V1PolicyRule(verbs=["get"], resources=["pods"])])
    """
    if kind == "ClusterRole" and name == "cluster-admin":
        return "full access"
    for rule in rules or []:
        wild = _wildcards(rule)
        if wild:
            return f"wildcard rule ({', '.join(wild)}: *)"
    return None


def _match(
    subject: client.RbacV1Subject, binding_namespace: str | None, sa: client.V1ServiceAccount
) -> str | None:
    """How ``subject`` covers ServiceAccount ``sa`` (a phrase), or ``None``."""
    namespace, name = sa.metadata.namespace, sa.metadata.name
    if subject.kind == "ServiceAccount":
        subject_namespace = subject.namespace or binding_namespace
        if subject.name == name and subject_namespace == namespace:
            return "directly"
    elif subject.kind == "Group" and subject.name in sa_groups(namespace):
        return f"via group {subject.name}"
    elif subject.kind == "User" and subject.name == sa_username(namespace, name):
        return "as user " + subject.name
    return None


def find_powerful_bindings(
    service_accounts: Iterable[client.V1ServiceAccount],
    roles: Iterable[client.V1Role],
    cluster_roles: Iterable[client.V1ClusterRole],
    role_bindings: Iterable[client.V1RoleBinding],
    cluster_role_bindings: Iterable[client.V1ClusterRoleBinding],
) -> list[Finding]:
    """ServiceAccounts bound to ``cluster-admin`` or to a role with a wildcard rule.

    One finding per (ServiceAccount, binding). A RoleBinding only grants inside its own
    namespace, which the detail says; it is still reported.
    """
    accounts = list(service_accounts)
    role_rules = {(r.metadata.namespace, r.metadata.name): r.rules for r in roles}
    cluster_role_rules = {r.metadata.name: r.rules for r in cluster_roles}
    bindings: list[Any] = [*cluster_role_bindings, *role_bindings]
    findings = []
    for binding in bindings:
        binding_namespace = binding.metadata.namespace  # None for a ClusterRoleBinding
        ref = binding.role_ref
        if ref.kind == "ClusterRole":
            if ref.name not in cluster_role_rules:
                continue
            rules = cluster_role_rules[ref.name]
        elif (binding_namespace, ref.name) in role_rules:
            rules = role_rules[(binding_namespace, ref.name)]
        else:
            continue
        power = role_power(ref.kind, ref.name, rules)
        if power is None:
            continue
        if binding_namespace:
            where = f"RoleBinding {binding_namespace}/{binding.metadata.name}"
            scope = f"in namespace {binding_namespace}"
        else:
            where = f"ClusterRoleBinding {binding.metadata.name}"
            scope = "cluster-wide"
        for sa in accounts:
            how = next(
                (m for s in binding.subjects or [] if (m := _match(s, binding_namespace, sa))),
                None,
            )
            if how is None:
                continue
            detail = f"{where} → {ref.kind} {ref.name}: {power}, {scope}; {how}"
            findings.append(
                Finding(
                    "powerful-binding",
                    sa.metadata.namespace,
                    "ServiceAccount",
                    sa.metadata.name,
                    detail,
                )
            )
    return findings


# -- Pods -----------------------------------------------------------------------------------------
def mounts_api_token(pod: client.V1Pod) -> str | None:
    """The name of a volume that gives the Pod a token for the Kubernetes API, else ``None``.

    That is a projected ``serviceAccountToken`` source without an audience (so the API
    server's audiences apply): what automounting adds as ``kube-api-access-…``. A token
    projected for another audience (a vault, a cloud) is a deliberate choice, not counted.
    """
    for volume in pod.spec.volumes or []:
        for source in volume.projected.sources or [] if volume.projected else []:
            token = source.service_account_token
            if token is not None and not token.audience:
                return volume.name
    return None


def find_unneeded_tokens(pods: Iterable[client.V1Pod]) -> list[Finding]:
    """Pods that mount an API token without declaring (label) that they use the API."""
    findings = []
    for pod in pods:
        volume = mounts_api_token(pod)
        if volume is None:
            continue
        if (pod.metadata.labels or {}).get(USES_API_LABEL) == "true":
            continue
        detail = f"mounts an API token (volume {volume}) but is not labelled {USES_API_LABEL}=true"
        findings.append(
            Finding("unneeded-token", pod.metadata.namespace, "Pod", pod.metadata.name, detail)
        )
    return findings


def _is_mirror(pod: client.V1Pod) -> bool:
    """A static Pod's mirror (a node's own Pod file): it cannot use a ServiceAccount at all."""
    return MIRROR_ANNOTATION in (pod.metadata.annotations or {})


def find_default_service_account(pods: Iterable[client.V1Pod]) -> list[Finding]:
    """Pods that run as their namespace's ``default`` ServiceAccount (static Pods excepted)."""
    return [
        Finding(
            "default-sa",
            pod.metadata.namespace,
            "Pod",
            pod.metadata.name,
            "runs as ServiceAccount default, shared by everything in the namespace",
        )
        for pod in pods
        if (pod.spec.service_account_name or "default") == "default" and not _is_mirror(pod)
    ]


# -- who can become a ServiceAccount (notebook 12; not part of audit()) ---------------------------
RBAC = "rbac.authorization.k8s.io"
CERTIFICATES = "certificates.k8s.io"
ADMISSION_REGISTRATION = "admissionregistration.k8s.io"
AUTHENTICATION = "authentication.k8s.io"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
"""The signer whose certificates the API server accepts as client certificates (any user)."""
_WORKLOADS = (
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("", "replicationcontrollers"),
)


class Request(NamedTuple):
    """One request a power needs: ``(verb, apiGroup, resource)``, a resource may be
    ``pods/exec``. ``names``: if given, a rule limited by ``resourceNames`` counts only if
    it names one of them (a signer)."""

    verb: str
    group: str
    resource: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Power:
    """A way to act as a namespace's ServiceAccounts: a label, why, and the requests.

    Each request is a :class:`Request` (or a plain ``(verb, apiGroup, resource)``). One of
    them is enough, or with ``every`` all of them. A ``cluster_wide`` power is over
    cluster-scoped objects (Nodes, CSRs, webhook configurations): only a
    ClusterRoleBinding grants it, a RoleBinding of the same rules grants nothing.
    """

    label: str
    why: str
    requests: tuple[Request | tuple[str, str, str], ...]
    every: bool = False
    cluster_wide: bool = False

    @property
    def permissions(self) -> str:
        """The requests in ``kubectl auth can-i`` words, verbs shared by resources.

        >>> print(next(p for p in BECOMING if p.label == "read secrets").permissions)
        get, list, watch secrets
        >>> print(next(p for p in BECOMING if p.label == "bind").permissions)
        bind roles.rbac.authorization.k8s.io, clusterroles.rbac.authorization.k8s.io
        >>> print(BECOMING_CLUSTER_WIDE[1].permissions)  # doctest: +NORMALIZE_WHITESPACE
        all of: create certificatesigningrequests.certificates.k8s.io; update
        certificatesigningrequests/approval.certificates.k8s.io; approve
        signers.certificates.k8s.io (kubernetes.io/kube-apiserver-client or kubernetes.io/*)
        """
        verbs_of: dict[str, list[str]] = {}
        for verb, group, resource, only in map(_request, self.requests):
            named = f" ({' or '.join(only)})" if only else ""
            if resource == "*":
                target = "the request's resource"
            else:
                target = f"{resource}.{group}{named}" if group else resource
            verbs_of.setdefault(target, []).append(verb)
        resources_of: dict[tuple[str, ...], list[str]] = {}
        for resource, verbs in verbs_of.items():
            resources_of.setdefault(tuple(verbs), []).append(resource)
        text = "; ".join(f"{', '.join(v)} {', '.join(r)}" for v, r in resources_of.items())
        return f"all of: {text}" if self.every else text


def _request(request: Request | tuple[str, str, str]) -> Request:
    return request if isinstance(request, Request) else Request(*request)


EXEC = "exec into pods"
"""The label of the exec power (which :data:`WEBSOCKET_GET_EXEC` extends on older clusters)."""
WEBSOCKET_GET_EXEC = Request("get", "", "pods/exec")
"""Before Kubernetes 1.35 (or with ``AuthorizePodWebsocketUpgradeCreatePermission`` off) an
exec over WebSocket, an HTTP GET, is authorized as ``get pods/exec`` only."""

CONSTRAINED_IMPERSONATION = Power(
    "impersonate, constrained",
    "requests as the ServiceAccount it names, those its impersonate-on verbs allow "
    "(Kubernetes 1.36+, gate ConstrainedImpersonation)",
    (
        ("impersonate:serviceaccount", AUTHENTICATION, "serviceaccounts"),
        ("impersonate-on:serviceaccount:*", "*", "*"),
    ),
    every=True,
)
"""Constrained impersonation of a ServiceAccount: *whom* (``impersonate:serviceaccount``)
and *what* (any ``impersonate-on:serviceaccount:<verb>``, on the request's own resource)."""

BECOMING: tuple[Power, ...] = (
    Power(
        "create pods",
        "a Pod names any ServiceAccount of its namespace, and gets its token",
        (("create", "", "pods"),),
    ),
    Power(
        "create or change workloads",
        "so does a Pod template, which a controller turns into Pods",
        tuple((verb, g, r) for g, r in _WORKLOADS for verb in ("create", "update", "patch")),
    ),
    Power(
        EXEC,
        "a shell in a running Pod reads the token it mounts",
        (("create", "", "pods/exec"),),
    ),
    Power(
        "add ephemeral containers",
        "a container added to a running Pod can mount its token",
        tuple((verb, "", "pods/ephemeralcontainers") for verb in ("update", "patch")),
    ),
    Power(
        "create serviceaccounts/token",
        "the TokenRequest API mints a token of the account",
        (("create", "", "serviceaccounts/token"),),
    ),
    Power(
        "read secrets",
        "a legacy token Secret holds a token that never expires",
        tuple((verb, "", "secrets") for verb in ("get", "list", "watch")),
    ),
    Power(
        "impersonate",
        "requests as someone else, without any token of theirs",
        tuple(("impersonate", "", r) for r in ("users", "groups", "serviceaccounts")),
    ),
    Power(
        "bind",
        "binds roles whose permissions it does not hold (RBAC's escalation check is off)",
        (("bind", RBAC, "roles"), ("bind", RBAC, "clusterroles")),
    ),
    Power(
        "escalate",
        "writes rules it does not hold into roles (RBAC's escalation check is off)",
        (("escalate", RBAC, "roles"), ("escalate", RBAC, "clusterroles")),
    ),
)
"""What :func:`can_become` looks for in every binding, in the order it reports it."""

BECOMING_CLUSTER_WIDE: tuple[Power, ...] = (
    Power(
        "proxy to kubelets",
        "the kubelet's API runs commands in every Pod on its node (/exec); a WebSocket is a "
        "GET: `get` is enough, in every version, and no admission sees it",
        (("get", "", "nodes/proxy"), ("create", "", "nodes/proxy")),
        cluster_wide=True,
    ),
    Power(
        "approve client certificates",
        "a CSR may name any user, system:serviceaccount:<ns>:<name> included; approved, the "
        "controller-manager signs it, and RBAC matches a ServiceAccount by that name",
        (
            ("create", CERTIFICATES, "certificatesigningrequests"),
            ("update", CERTIFICATES, "certificatesigningrequests/approval"),
            Request("approve", CERTIFICATES, "signers", (CLIENT_SIGNER, "kubernetes.io/*")),
        ),
        every=True,
        cluster_wide=True,
    ),
    Power(
        "write admission webhooks",
        "the API server sends the webhook every matching request (Secrets too); a mutating "
        "one rewrites it, e.g. a Pod's serviceAccountName",
        tuple(
            (verb, ADMISSION_REGISTRATION, r)
            for r in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
            for verb in ("create", "update", "patch")
        ),
        cluster_wide=True,
    ),
)
"""What :func:`can_become` also looks for in ClusterRoleBindings (cluster-scoped objects)."""


def _resource_matches(rule_resource: str, resource: str) -> bool:
    """RBAC's resource match: ``*``, the exact ``resource[/subresource]``, or ``*/subresource``."""
    if rule_resource in ("*", resource):
        return True
    _, _, sub = resource.partition("/")
    return bool(sub) and rule_resource == f"*/{sub}"


def _names_granted(rule: client.V1PolicyRule, request: Request) -> tuple[str, ...] | None:
    """``None`` if ``rule`` does not grant the request; else its resourceNames (``()``: any)."""
    verb, group, resource, wanted = request
    verbs = set(rule.verbs or [])
    if verb.endswith(":*"):  # any verb of a family: impersonate-on:serviceaccount:<verb>
        if "*" not in verbs and not any(v.startswith(verb[:-1]) for v in verbs):
            return None
    elif not {"*", verb} & verbs:
        return None
    if group != "*" and not {"*", group} & set(rule.api_groups or []):
        return None
    if resource != "*" and not any(_resource_matches(r, resource) for r in rule.resources or []):
        return None
    limited = tuple(rule.resource_names or ())
    if limited and verb == "create" and "/" not in resource:
        return None  # a create names no object yet: resourceNames never match it
    if limited and wanted and not set(limited) & set(wanted):
        return None  # e.g. approve, but for another signer
    return limited


def _everything(rule: client.V1PolicyRule) -> bool:
    return all("*" in (values or []) for values in (rule.verbs, rule.api_groups, rule.resources))


def powers_to_look_for(
    *,
    websocket_get_exec: bool = False,
    cluster_wide: bool = False,
    constrained_impersonation: bool = False,
) -> list[Power]:
    """:data:`BECOMING` (with ``get pods/exec`` if ``websocket_get_exec``; with
    :data:`CONSTRAINED_IMPERSONATION` if ``constrained_impersonation``), and with
    ``cluster_wide`` :data:`BECOMING_CLUSTER_WIDE` too.

    >>> [p.label for p in powers_to_look_for(cluster_wide=True)][-3:]
    ['proxy to kubelets', 'approve client certificates', 'write admission webhooks']
    >>> exec_power = powers_to_look_for(websocket_get_exec=True)[2]
    >>> exec_power.label, exec_power.permissions
    ('exec into pods', 'create, get pods/exec')
    """
    powers = [
        replace(p, requests=(*p.requests, WEBSOCKET_GET_EXEC))
        if websocket_get_exec and p.label == EXEC
        else p
        for p in BECOMING
    ]
    if constrained_impersonation:
        at = next(i for i, p in enumerate(powers) if p.label == "impersonate") + 1
        powers.insert(at, CONSTRAINED_IMPERSONATION)
    return [*powers, *BECOMING_CLUSTER_WIDE] if cluster_wide else powers


def becoming_powers(
    rules: Sequence[client.V1PolicyRule] | None,
    *,
    websocket_get_exec: bool = False,
    cluster_wide: bool = False,
    constrained_impersonation: bool = False,
) -> list[str]:
    """Which powers ``rules`` grant, each with its object names if limited.

    The powers are :func:`powers_to_look_for`'s: pass ``cluster_wide=True`` for the rules of
    a ClusterRoleBinding (a RoleBinding cannot grant Nodes, CSRs or webhook
    configurations), and ``websocket_get_exec=True`` for a cluster where a WebSocket exec
    needs only ``get`` (:func:`helpers.become.exec_needs_create` says).

    >>> token = client.V1PolicyRule(api_groups=[""], resources=["serviceaccounts/token"],
    ...                             resource_names=["deployer"], verbs=["create"])
    >>> becoming_powers([token])
    ['create serviceaccounts/token (deployer)']
    >>> becoming_powers([client.V1PolicyRule(api_groups=["*"], resources=["*"], verbs=["*"])])
    ['everything (*)']
    >>> becoming_powers([client.V1PolicyRule(api_groups=[""], resources=["configmaps"],
    ...                                      verbs=["create"])])
    []
    >>> whom = client.V1PolicyRule(api_groups=["authentication.k8s.io"],
    ...     resources=["serviceaccounts"], resource_names=["deployer"],
    ...     verbs=["impersonate:serviceaccount"])
    >>> what = client.V1PolicyRule(api_groups=[""], resources=["configmaps"],
    ...                            verbs=["impersonate-on:serviceaccount:list"])
    >>> becoming_powers([whom, what], constrained_impersonation=True)
    ['impersonate, constrained (deployer)']
    >>> becoming_powers([whom], constrained_impersonation=True)  # whom, but nothing to do
    []
    >>> proxy = client.V1PolicyRule(api_groups=[""], resources=["nodes/proxy"], verbs=["get"])
    >>> becoming_powers([proxy]), becoming_powers([proxy], cluster_wide=True)
    ([], ['proxy to kubelets'])
    """
    rules = list(rules or [])
    if any(_everything(rule) for rule in rules):
        return ["everything (*)"]
    found = []
    for power in powers_to_look_for(
        websocket_get_exec=websocket_get_exec,
        cluster_wide=cluster_wide,
        constrained_impersonation=constrained_impersonation,
    ):
        per_request = [
            [got for rule in rules if (got := _names_granted(rule, request)) is not None]
            for request in map(_request, power.requests)
        ]
        if power.every:
            if all(per_request):
                whom = per_request[0]  # the first request names the objects, if any
                if all(whom):
                    listed = sorted({name for got in whom for name in got})
                    found.append(f"{power.label} ({', '.join(listed)})")
                else:
                    found.append(power.label)
            continue
        grants = [got for granted in per_request for got in granted]
        if not grants:
            continue
        if any(not got for got in grants):
            found.append(power.label)
        else:
            listed = sorted({name for got in grants for name in got})
            found.append(f"{power.label} ({', '.join(listed)})")
    return found


def find_can_become(
    roles: Iterable[client.V1Role],
    cluster_roles: Iterable[client.V1ClusterRole],
    role_bindings: Iterable[client.V1RoleBinding],
    cluster_role_bindings: Iterable[client.V1ClusterRoleBinding],
    *,
    websocket_get_exec: bool = False,
    constrained_impersonation: bool = False,
) -> list[Finding]:
    """Every subject a binding grants a power (:func:`becoming_powers`); one finding per binding.

    The finding's namespace is the one whose ServiceAccounts the subject can become: the
    RoleBinding's, or :data:`EVERY_NAMESPACE` for a ClusterRoleBinding (which alone grants
    the :data:`BECOMING_CLUSTER_WIDE` powers). Its kind and name are the subject's as the
    binding writes it (a group stays a group); a ServiceAccount of another namespace is
    named ``<namespace>/<name>``.
    """
    role_rules = {(r.metadata.namespace, r.metadata.name): r.rules for r in roles}
    cluster_role_rules = {r.metadata.name: r.rules for r in cluster_roles}
    bindings: list[Any] = [*cluster_role_bindings, *role_bindings]
    findings = []
    for binding in bindings:
        namespace = binding.metadata.namespace  # None for a ClusterRoleBinding
        ref = binding.role_ref
        if ref.kind == "ClusterRole":
            rules = cluster_role_rules.get(ref.name)
        else:
            rules = role_rules.get((namespace, ref.name))
        powers = becoming_powers(
            rules,
            websocket_get_exec=websocket_get_exec,
            cluster_wide=not namespace,
            constrained_impersonation=constrained_impersonation,
        )
        if not powers:
            continue
        if namespace:
            where, target = f"RoleBinding {namespace}/{binding.metadata.name}", namespace
            scope = f"namespace {namespace}"
        else:
            where, target = f"ClusterRoleBinding {binding.metadata.name}", EVERY_NAMESPACE
            scope = "every namespace"
        detail = (
            f"{where} → {ref.kind} {ref.name}: {', '.join(powers)}; "
            f"can act as ServiceAccounts of {scope}"
        )
        for subject in binding.subjects or []:
            name = subject.name
            if subject.kind == "ServiceAccount" and (subject.namespace or namespace) != namespace:
                name = f"{subject.namespace}/{subject.name}"
            findings.append(Finding(CAN_BECOME, target, subject.kind, name, detail))
    return findings


# -- the whole audit ------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """The objects the audit looks at (from :func:`read_cluster`, or built by hand)."""

    service_accounts: list[client.V1ServiceAccount] = field(default_factory=list)
    secrets: list[client.V1Secret] = field(default_factory=list)
    pods: list[client.V1Pod] = field(default_factory=list)
    roles: list[client.V1Role] = field(default_factory=list)
    cluster_roles: list[client.V1ClusterRole] = field(default_factory=list)
    role_bindings: list[client.V1RoleBinding] = field(default_factory=list)
    cluster_role_bindings: list[client.V1ClusterRoleBinding] = field(default_factory=list)
    #: False when the namespaced objects come from some namespaces only (a workshop learner).
    whole_cluster: bool = True


def read_cluster(api: client.ApiClient, namespaces: Iterable[str] | None = None) -> Snapshot:
    """Read every object the audit needs: from all namespaces, or from ``namespaces``.

    With no ``namespaces``, an identity that may not list them cluster-wide (a workshop
    learner) gets the course's namespaces under its prefix, and ``whole_cluster`` is False.
    Cluster roles and their bindings are always read cluster-wide. A workshop's own
    RoleBinding in each learner namespace (the one that lets *you* work there) is left
    out: it is the classroom's scaffolding, not part of the lesson.
    """
    return _without_scaffolding(_read(api, namespaces))


def _without_scaffolding(snap: Snapshot) -> Snapshot:
    snap.role_bindings = [
        b for b in snap.role_bindings if PROTECTED_LABEL not in (b.metadata.labels or {})
    ]
    return snap


def _read(api: client.ApiClient, namespaces: Iterable[str] | None) -> Snapshot:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    legacy = f"type={LEGACY_SECRET_TYPE}"
    if namespaces is None:
        try:
            return Snapshot(
                service_accounts=core.list_service_account_for_all_namespaces().items,
                secrets=core.list_secret_for_all_namespaces(field_selector=legacy).items,
                pods=core.list_pod_for_all_namespaces().items,
                roles=rbac.list_role_for_all_namespaces().items,
                cluster_roles=rbac.list_cluster_role().items,
                role_bindings=rbac.list_role_binding_for_all_namespaces().items,
                cluster_role_bindings=rbac.list_cluster_role_binding().items,
            )
        except ApiException as exc:
            if exc.status != 403:
                raise
        namespaces = [names.ns(base) for base in names.NAMESPACES]
    snap = Snapshot(
        cluster_roles=rbac.list_cluster_role().items,
        cluster_role_bindings=rbac.list_cluster_role_binding().items,
        whole_cluster=False,
    )
    for ns in namespaces:
        try:
            snap.service_accounts += core.list_namespaced_service_account(ns).items
            snap.secrets += core.list_namespaced_secret(ns, field_selector=legacy).items
            snap.pods += core.list_namespaced_pod(ns).items
            snap.roles += rbac.list_namespaced_role(ns).items
            snap.role_bindings += rbac.list_namespaced_role_binding(ns).items
        except ApiException as exc:
            if exc.status != 403:  # a namespace you may not read is not yours to audit
                raise
    return snap


def findings_table(findings: Iterable[Finding]) -> pd.DataFrame:
    """Findings as a DataFrame (columns :data:`COLUMNS`), sorted; empty but shaped if none."""
    rows = [[f.check, f.namespace, f.kind, f.name, f.detail, f.fix] for f in sorted(findings)]
    return pd.DataFrame(rows, columns=COLUMNS)


def audit(snapshot: Snapshot, namespaces: Iterable[str] | None = None) -> pd.DataFrame:
    """Run every check; keep only findings in ``namespaces`` (``None``: the whole cluster).

    Every finding belongs to the namespace of its object: a ClusterRoleBinding's finding to
    the namespace of the ServiceAccount it binds.
    """
    findings = [
        *find_legacy_tokens(snapshot.secrets, snapshot.service_accounts),
        *find_powerful_bindings(
            snapshot.service_accounts,
            snapshot.roles,
            snapshot.cluster_roles,
            snapshot.role_bindings,
            snapshot.cluster_role_bindings,
        ),
        *find_unneeded_tokens(snapshot.pods),
        *find_default_service_account(snapshot.pods),
    ]
    return findings_table(_in(findings, namespaces))


def can_become(
    snapshot: Snapshot,
    namespaces: Iterable[str] | None = None,
    *,
    websocket_get_exec: bool = False,
    constrained_impersonation: bool = False,
) -> pd.DataFrame:
    """The ``can-become`` check as a findings table; only ``namespaces`` if given.

    ``namespaces`` keeps findings of exactly those namespaces: add :data:`EVERY_NAMESPACE`
    to see the ClusterRoleBindings too. ``websocket_get_exec``: this cluster lets
    ``get pods/exec`` alone exec (before Kubernetes 1.35, or its gate off);
    ``constrained_impersonation``: this cluster runs it (1.36+, gate on), see
    :func:`becoming_powers`.
    """
    findings = find_can_become(
        snapshot.roles,
        snapshot.cluster_roles,
        snapshot.role_bindings,
        snapshot.cluster_role_bindings,
        websocket_get_exec=websocket_get_exec,
        constrained_impersonation=constrained_impersonation,
    )
    return findings_table(_in(findings, namespaces))


def _in(findings: list[Finding], namespaces: Iterable[str] | None) -> list[Finding]:
    """The findings of ``namespaces`` only; all of them for ``None``."""
    if namespaces is None:
        return findings
    wanted = set(namespaces)
    return [f for f in findings if f.namespace in wanted]
