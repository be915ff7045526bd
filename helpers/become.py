"""Who can become a ServiceAccount: the small verbs behind notebook 12's paths.

A low-privilege identity (``intern``) gets one permission at a time and uses it to act as
a powerful ServiceAccount of its namespace (``deployer``), or to gain its power. Each path
is proven the same way, by creating a ConfigMap the identity itself may not create. The
notebook proves seven paths one by one and names more; no list is complete.

- :func:`may` and :func:`wait_until`: ask RBAC (SubjectAccessReview) what a ServiceAccount
  may do, and wait for RBAC's cache to follow a new or deleted grant;
- :func:`take_away`: a path's reset, the grant deleted and RBAC refusing again;
- :func:`prove`: create the ConfigMap with a client's credentials and say as whom;
- :func:`from_pod_log`: the same proof, read from the log of a Pod that did it;
- :func:`admission_refusal`: whether admission (PodSecurity) refuses a Pod, by a dry run;
- :func:`binding`, :func:`role`, :func:`grant` and :func:`add_rule`: RoleBindings and
  Roles, the ones the identity writes itself on the paths through ``bind`` and
  ``escalate`` included;
- :func:`exec_needs_create` and :func:`read_token_by_exec`: exec over WebSocket, ``get``
  alone before Kubernetes 1.35, ``create`` too since;
- :data:`PATHS` and :func:`summary`: the seven proven paths side by side;
- :func:`ways_in`: every path the notebook names, asked of RBAC for one account (lab 12).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .audit import CLIENT_SIGNER
from .errors import CourseApiError, Forbidden, from_api_exception, translate_api_errors
from .facts import FEATURES
from .pods import read_pod_token
from .preflight import parse_permission
from .reviews import can_i, sa_groups, sa_username, whoami
from .tokens import Token
from .waiting import poll_until

if TYPE_CHECKING:
    from .course import Course

T = TypeVar("T")

__all__ = [
    "CLUSTER_SCOPED",
    "CONSTRAINED_FEATURE",
    "PATHS",
    "WEBSOCKET_FEATURE",
    "Path",
    "Proof",
    "add_rule",
    "admission_refusal",
    "attempt",
    "binding",
    "configmap",
    "exec_needs_create",
    "from_pod_log",
    "grant",
    "impersonation_constrained",
    "may",
    "prove",
    "read_token_by_exec",
    "role",
    "summary",
    "take_away",
    "wait_until",
    "ways_in",
]

RBAC = "rbac.authorization.k8s.io"


def configmap(name: str) -> dict[str, Any]:
    """The manifest of the (empty) ConfigMap that proves a path.

    >>> configmap("made-by-intern")
    {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'made-by-intern'}}
    """
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


@dataclass(frozen=True)
class Proof:
    """A ConfigMap that was created, and the user the API server created it for."""

    configmap: str
    user: str


@translate_api_errors
def prove(api: client.ApiClient, namespace: str, name: str) -> Proof:
    """Create ConfigMap ``name`` with ``api``'s credentials; who the API server says it was.

    A refusal raises :class:`~helpers.errors.Forbidden` (use it in ``expect_forbidden()``).
    """
    client.CoreV1Api(api).create_namespaced_config_map(namespace, configmap(name))
    return Proof(name, whoami(api).username)


def from_pod_log(log: str, name: str) -> Proof | None:
    """The proof a Pod logged: ``I am <user>``, then kubectl's ``configmap/<name> created``.

    ``None`` if the log does not (yet) show both lines.

    >>> log = "I am system:serviceaccount:ns:deployer\\nconfigmap/made-by-a-pod created\\n"
    >>> from_pod_log(log, "made-by-a-pod")
    Proof(configmap='made-by-a-pod', user='system:serviceaccount:ns:deployer')
    >>> from_pod_log("I am someone\\nerror: configmaps is forbidden", "made-by-a-pod") is None
    True
    """
    lines = [line.strip() for line in log.splitlines()]
    users = [line.removeprefix("I am ") for line in lines if line.startswith("I am ")]
    if not users or f"configmap/{name} created" not in lines:
        return None
    return Proof(name, users[0])


@translate_api_errors
def admission_refusal(core: client.CoreV1Api, namespace: str, pod: dict[str, Any]) -> str | None:
    """Create ``pod`` as a server-side dry run: the 403 message if refused, else ``None``.

    A dry run goes through authorization and admission (PodSecurity, quotas …) but stores
    nothing. Any other error is raised, translated (:mod:`helpers.errors`).
    """
    try:
        core.create_namespaced_pod(namespace, pod, dry_run="All")
    except ApiException as exc:
        if exc.status != 403:
            raise
        return from_api_exception(exc).message
    return None


def _attributes(permission: str) -> dict[str, str | None]:
    """``"verb resource[/subresource][.group]"`` as can_i()'s keyword arguments.

    >>> _attributes("create serviceaccounts/token")
    {'verb': 'create', 'resource': 'serviceaccounts', 'subresource': 'token', 'group': ''}
    >>> _attributes("bind clusterroles.rbac.authorization.k8s.io")["group"]
    'rbac.authorization.k8s.io'
    """
    parsed = parse_permission(permission)
    if "url" in parsed:
        raise ValueError(f"{permission!r} names a URL; may() asks about resources only.")
    return {
        "verb": parsed["verb"],
        "resource": parsed["resource"],
        "subresource": parsed["subresource"] or None,
        "group": parsed["group"],
    }


CLUSTER_SCOPED = frozenset(
    {
        "nodes",
        "users",
        "groups",
        "certificatesigningrequests",
        "signers",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
    }
)
"""Resources the paths use that are never asked about in a namespace (what :func:`may`
asks cluster-wide). A request for them carries no namespace, so RBAC consults only
ClusterRoleBindings: a Role that grants ``get nodes/proxy`` grants nothing."""


def may(
    authz: client.AuthorizationV1Api,
    namespace: str,
    service_account: str,
    permission: str,
    *,
    name: str | None = None,
    cluster: bool | None = None,
) -> bool:
    """Would RBAC allow ServiceAccount ``service_account`` (with its groups) ``permission``?

    ``permission`` is written as ``kubectl auth can-i`` takes it: ``"create pods"``,
    ``"create serviceaccounts/token"``, ``"bind clusterroles.rbac.authorization.k8s.io"``;
    ``name`` is the object's name (RBAC's ``resourceNames``). The request is asked in
    ``namespace``, or with ``cluster`` (by default: for :data:`CLUSTER_SCOPED` resources)
    cluster-wide, as the API server asks it.
    """
    attrs = _attributes(permission)
    if cluster is None:
        cluster = attrs["resource"] in CLUSTER_SCOPED
    status = can_i(
        authz,
        attrs["verb"] or "",
        attrs["resource"] or "",
        user=sa_username(namespace, service_account),
        groups=sa_groups(namespace),
        namespace=None if cluster else namespace,
        group=attrs["group"] or "",
        subresource=attrs["subresource"],
        name=name,
    )
    return bool(status.allowed)


def wait_until(
    authz: client.AuthorizationV1Api,
    namespace: str,
    service_account: str,
    permission: str,
    *,
    name: str | None = None,
    allowed: bool = True,
    timeout: float = 10,
    cluster: bool | None = None,
) -> None:
    """Wait until RBAC allows (or, ``allowed=False``, no longer allows) ``permission``.

    RBAC reads Roles and bindings from a cache that follows the API within milliseconds:
    a request right after a new grant may still be refused. Raises a one-sentence
    ``TimeoutError`` if RBAC has not followed within ``timeout`` seconds. ``cluster`` as
    in :func:`may`.
    """
    named = f" on {name}" if name else ""
    what = f"RBAC to {'allow' if allowed else 'refuse'} {service_account} `{permission}`{named}"
    poll_until(
        lambda: (
            may(authz, namespace, service_account, permission, name=name, cluster=cluster)
            == allowed
        ),
        timeout=timeout,
        what=what,
    )


def take_away(
    course: Course,
    namespace: str,
    manifest: str | FilePath,
    service_account: str,
    permission: str,
    *,
    name: str | None = None,
) -> str:
    """A path's reset: ``kubectl delete -f manifest``, then wait until RBAC refuses again.

    Returns kubectl's output. Only the *permission* goes: whatever the identity took with
    it (a token, a Pod, a binding it wrote itself) stays until deleted on its own.
    """
    out = course.kubectl("delete", "-f", str(manifest))
    wait_until(course.authz, namespace, service_account, permission, name=name, allowed=False)
    return out


def binding(
    namespace: str, name: str, role_kind: str, role: str, service_account: str
) -> dict[str, Any]:
    """The manifest of a RoleBinding of ``role`` to a ServiceAccount of ``namespace``.

    >>> rb = binding("become-ns", "intern-edit", "ClusterRole", "edit", "intern")
    >>> rb["roleRef"]
    {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'ClusterRole', 'name': 'edit'}
    >>> rb["subjects"]
    [{'kind': 'ServiceAccount', 'name': 'intern', 'namespace': 'become-ns'}]
    """
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }


def add_rule(verbs: Sequence[str], resource: str, group: str = "") -> list[dict[str, Any]]:
    """A JSON patch that appends one rule to a Role (the client sends a list as JSON patch).

    >>> add_rule(["create"], "configmaps")
    [{'op': 'add', 'path': '/rules/-', 'value': {'apiGroups': [''], 'resources': \
['configmaps'], 'verbs': ['create']}}]
    """
    rule = {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
    return [{"op": "add", "path": "/rules/-", "value": rule}]


def role(name: str, verbs: Sequence[str], resource: str, group: str = "") -> dict[str, Any]:
    """The manifest of a Role with one rule.

    >>> role("intern-execs", ["get"], "pods/exec")["rules"]
    [{'apiGroups': [''], 'resources': ['pods/exec'], 'verbs': ['get']}]
    """
    rule = {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
    return {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": name}, "rules": [rule]}


@translate_api_errors
def grant(
    course: Course,
    namespace: str,
    name: str,
    verbs: Sequence[str],
    resource: str,
    service_account: str,
) -> None:
    """Role ``name`` (``verbs`` on ``resource``) bound to ``service_account``; wait for RBAC.

    Called again with other verbs, it replaces the Role's rule. Returns once RBAC allows
    every verb (SubjectAccessReview).
    """
    body = role(name, verbs, resource)
    try:
        course.rbac.create_namespaced_role(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        course.rbac.replace_namespaced_role(name, namespace, body)
    try:
        course.rbac.create_namespaced_role_binding(
            namespace, binding(namespace, name, "Role", name, service_account)
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
    for verb in verbs:
        wait_until(course.authz, namespace, service_account, f"{verb} {resource}")


# -- exec over WebSocket --------------------------------------------------------------------------
WEBSOCKET_FEATURE = FEATURES["websocket-exec-create"]
"""Since 1.35 a WebSocket exec also needs ``create`` (gate
``AuthorizePodWebsocketUpgradeCreatePermission``: beta, on by default, not GA)."""


def exec_needs_create(version: tuple[int, int], gates: Mapping[str, tuple[str, bool]]) -> bool:
    """Does exec over WebSocket (an HTTP GET, authorized as ``get``) also need ``create``?

    ``gates`` are the API server's own (:func:`helpers.facts.feature_gates`); where the
    gate is missing (before 1.35, or the metrics unreadable) the version decides.

    >>> gate = "AuthorizePodWebsocketUpgradeCreatePermission"
    >>> exec_needs_create((1, 34), {}), exec_needs_create((1, 37), {gate: ("BETA", True)})
    (False, True)
    >>> exec_needs_create((1, 37), {gate: ("BETA", False)})  # switched off
    False
    """
    live = gates.get(WEBSOCKET_FEATURE.gate)
    if live is not None:
        return live[1]
    return version >= WEBSOCKET_FEATURE.on


# -- constrained impersonation --------------------------------------------------------------------
CONSTRAINED_FEATURE = FEATURES["constrained-impersonation"]
"""Since 1.36 (gate ``ConstrainedImpersonation``: alpha and off in 1.35, beta and on by
default in 1.36 and 1.37, not GA) the API server tries ``impersonate:<mode>`` and
``impersonate-on:<mode>:<verb>`` before the old all-or-nothing ``impersonate``."""


def impersonation_constrained(
    version: tuple[int, int], gates: Mapping[str, tuple[str, bool]]
) -> bool:
    """Does this API server run constrained impersonation?

    ``gates`` are the API server's own (:func:`helpers.facts.feature_gates`); where the
    gate is missing (before 1.35, or the metrics unreadable) the version decides.

    >>> gate = "ConstrainedImpersonation"
    >>> impersonation_constrained((1, 35), {gate: ("ALPHA", False)})
    False
    >>> impersonation_constrained((1, 36), {}), impersonation_constrained((1, 34), {})
    (True, False)
    """
    live = gates.get(CONSTRAINED_FEATURE.gate)
    if live is not None:
        return live[1]
    return version >= CONSTRAINED_FEATURE.on


def attempt(call: Callable[[], T]) -> T | Forbidden:
    """``call()``'s result, or the API server's 403 (returned, not raised): both are answers.

    Any other error is raised.
    """
    try:
        return call()
    except ApiException as exc:
        error = from_api_exception(exc)
    except Forbidden as refused:
        return refused
    if isinstance(error, Forbidden):
        return error
    raise error


_HANDSHAKE = re.compile(r"Handshake status (\d{3})")


def _handshake_refusal(err: CourseApiError) -> CourseApiError | None:
    """The API server's answer to a refused WebSocket handshake, as its error class.

    The client reports a refused upgrade as status 0, with the HTTP status and the body in
    its reason: ``Handshake status 403 Forbidden -+-+- {headers} -+-+- {Status}``.
    """
    cause = err.__cause__
    text = str(cause.reason) if isinstance(cause, ApiException) else err.message
    match = _HANDSHAKE.match(text or "")
    if err.status or not match:
        return None
    exc = ApiException(status=int(match.group(1)), reason="Forbidden")
    exc.body = text.rsplit(" -+-+- ", 1)[-1]
    return from_api_exception(exc)


def read_token_by_exec(core: client.CoreV1Api, namespace: str, pod: str) -> Token | Forbidden:
    """The token a Pod mounts, read by exec, or the API server's 403 (returned, not raised).

    The client speaks WebSocket, an HTTP GET that RBAC sees as ``get pods/exec``; whether
    that is enough depends on the cluster (:func:`exec_needs_create`), so a refusal is an
    answer here. Any other error is raised.
    """
    try:
        return read_pod_token(core, namespace, pod)
    except CourseApiError as err:
        refusal = err if err.status else _handshake_refusal(err)
        if isinstance(refusal, Forbidden):
            return refusal
        raise


@dataclass(frozen=True)
class Path:
    """One way to act as (or with the power of) another ServiceAccount of the namespace."""

    key: str
    permission: str
    got: str
    detect: str


PATHS: tuple[Path, ...] = (
    Path(
        "create pods",
        "`create pods` (+ `get pods/log` to read the result)",
        "a Pod running as deployer, with deployer's token mounted",
        "who may create Pods (or Deployments, Jobs …) in the namespace; "
        "Pods whose serviceAccountName is a powerful account",
    ),
    Path(
        "serviceaccounts/token",
        "`create serviceaccounts/token` on deployer",
        "a fresh token of deployer (TokenRequest), valid until it expires",
        "who may create serviceaccounts/token; TokenRequests in the audit log "
        "from anyone but the kubelet",
    ),
    Path(
        "get secrets",
        "`get secrets` on deployer-token",
        "deployer's legacy token: no expiry, valid until its Secret or deployer is deleted "
        "or the Secret is labelled kubernetes.io/legacy-token-invalid-since",
        "who may get, list or watch Secrets; legacy token Secrets (notebook 11)",
    ),
    Path(
        "impersonate",
        "`impersonate serviceaccounts` on deployer",
        "requests authorized as deployer's, without any token of it",
        "who may impersonate; impersonatedUser in the audit log",
    ),
    Path(
        "bind",
        "`bind` on ClusterRole edit + `create rolebindings`",
        "edit, bound to itself",
        "who may bind; RoleBindings created by anyone but the namespace's admins",
    ),
    Path(
        "escalate",
        "`escalate` + `patch` on its own Role",
        "any rule it writes into its own Role",
        "who may escalate; Roles changed by their own subjects",
    ),
    Path(
        "group binding",
        "none of its own: a RoleBinding of edit to its namespace's group",
        "edit, like every ServiceAccount of the namespace",
        "bindings to system:serviceaccounts[:<ns>] and system:authenticated",
    ),
)
"""The seven paths notebook 12 proves one by one, in its order; ``key`` names each in
:func:`summary`. Not every path there is: the notebook names more (:func:`ways_in`)."""


def _keys() -> str:
    return ", ".join(repr(path.key) for path in PATHS)


def summary(proofs: Mapping[str, Proof]) -> pd.DataFrame:
    """The seven proven paths as a table, with the ConfigMap each one made and as whom.

    >>> table = summary({"bind": Proof("made-with-a-bound-role", "system:serviceaccount:n:i")})
    >>> table.loc["bind", "created as"], table.loc["escalate", "ConfigMap"]
    ('system:serviceaccount:n:i', '—')
    """
    unknown = set(proofs) - {path.key for path in PATHS}
    if unknown:
        raise ValueError(f"No such path: {', '.join(sorted(unknown))}; the paths are {_keys()}.")
    rows = [
        {
            "path": path.key,
            "permission": path.permission,
            "what intern got": path.got,
            "how to detect it": path.detect,
            "ConfigMap": proofs[path.key].configmap if path.key in proofs else "—",
            "created as": proofs[path.key].user if path.key in proofs else "—",
        }
        for path in PATHS
    ]
    return pd.DataFrame(rows).set_index("path")


# -- every path the notebook names, asked of RBAC (lab 12) ----------------------------------------
_WORKLOADS = (
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "replicationcontrollers",
)
_ROLES = {"Role": f"roles.{RBAC}", "ClusterRole": f"clusterroles.{RBAC}"}
Ask = tuple[str, str | None]
"""A permission in ``kubectl auth can-i`` words and an object name (or ``None``)."""


def _holds(
    subject: client.RbacV1Subject, binding_namespace: str, namespace: str, account: str
) -> bool:
    """Does ``subject`` (of a RoleBinding in ``binding_namespace``) cover the account?"""
    if subject.kind == "ServiceAccount":
        return (subject.namespace or binding_namespace, subject.name) == (namespace, account)
    if subject.kind == "Group":
        return subject.name in sa_groups(namespace)
    return subject.kind == "User" and subject.name == sa_username(namespace, account)


def _roles_of(
    bindings: Iterable[client.V1RoleBinding], namespace: str, account: str
) -> list[tuple[str, str]]:
    """``(kind, name)`` of every role the namespace's RoleBindings give ``account``."""
    return sorted(
        {
            (b.role_ref.kind, b.role_ref.name)
            for b in bindings
            if any(_holds(s, b.metadata.namespace, namespace, account) for s in b.subjects or [])
        }
    )


def _candidate_ways(
    target: str,
    legacy_secrets: Sequence[str],
    target_roles: Sequence[tuple[str, str]],
    own_roles: Sequence[tuple[str, str]],
    exec_create: bool,
) -> Iterator[tuple[str, list[list[Ask]]]]:
    """Each path as (what it is, alternatives): a path is open if every ask of one
    alternative is allowed."""
    yield "create pods (a Pod may run as any account of the namespace)", [[("create pods", None)]]
    yield (
        "create or change a workload (Deployment, Job …): a controller makes its Pods",
        [[(f"{verb} {w}", None)] for w in _WORKLOADS for verb in ("create", "update", "patch")],
    )
    execs = [[("create pods/exec", None)]] + ([] if exec_create else [[("get pods/exec", None)]])
    yield f"exec into a Pod that runs as `{target}`, and read its token", execs
    yield (
        f"add an ephemeral container to a Pod that runs as `{target}`",
        [[(f"{verb} pods/ephemeralcontainers", None)] for verb in ("update", "patch")],
    )
    yield (
        f"create serviceaccounts/token for `{target}`",
        [[("create serviceaccounts/token", target)]],
    )
    if legacy_secrets:
        yield (
            f"get the legacy token Secret of `{target}`",
            [[("get secrets", s)] for s in legacy_secrets]
            + [[("list secrets", None)], [("watch secrets", None)]],
        )
    yield f"impersonate `{target}`", [[("impersonate serviceaccounts", target)]]
    for kind, name in target_roles:
        yield (
            f"bind {kind} `{name}` (which `{target}` holds) to itself",
            [[(f"create rolebindings.{RBAC}", None), (f"bind {_ROLES[kind]}", name)]],
        )
    for kind, name in own_roles:
        if kind == "Role":
            yield (
                f"escalate its own Role `{name}`: write into it any rule `{target}` holds",
                [
                    [(f"escalate {_ROLES[kind]}", name), (f"{verb} {_ROLES[kind]}", name)]
                    for verb in ("patch", "update")
                ],
            )
    yield (
        "proxy to the kubelet (`nodes/proxy`): exec into every Pod on a node",
        [[(f"{verb} nodes/proxy", None)] for verb in ("get", "create")],
    )
    csr = "certificatesigningrequests"
    yield (
        f"approve a client certificate named system:serviceaccount:<ns>:{target}",
        [
            [
                (f"create {csr}.certificates.k8s.io", None),
                (f"update {csr}/approval.certificates.k8s.io", None),
                ("approve signers.certificates.k8s.io", signer),
            ]
            for signer in (CLIENT_SIGNER, "kubernetes.io/*")
        ],
    )
    webhooks = ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
    yield (
        "write an admission webhook configuration: see (and rewrite) what is admitted",
        [
            [(f"{verb} {w}.admissionregistration.k8s.io", None)]
            for w in webhooks
            for verb in ("create", "update", "patch")
        ],
    )


def ways_in(
    authz: client.AuthorizationV1Api,
    namespace: str,
    account: str,
    target: str,
    *,
    legacy_secrets: Sequence[str] = (),
    bindings: Iterable[client.V1RoleBinding] = (),
    exec_create: bool = True,
) -> Iterator[str]:
    """Every path RBAC gives ``account`` to act as ``target`` (or with its power), one by one.

    Each path notebook 12 names is asked by SubjectAccessReview, with the account's
    groups, as the API server asks it (Nodes, CSRs and webhook configurations
    cluster-wide): a Pod, a workload, exec and ephemeral containers (exec by ``get`` alone
    unless ``exec_create``, :func:`exec_needs_create`), a token, ``target``'s
    ``legacy_secrets``, impersonation, ``bind`` on a role of ``target``'s and ``escalate``
    on one of the account's own (both from the namespace's RoleBindings, ``bindings``),
    ``nodes/proxy``, approving a client certificate, webhook configurations. A generator:
    ``next(ways_in(...), None)`` stops at the first.

    Not every path there is (a hostPath volume, a namespace's Pod Security labels …), and
    a grant limited to some Nodes by ``resourceNames`` is not asked about.
    """
    bindings = list(bindings)
    ways = _candidate_ways(
        target,
        legacy_secrets,
        _roles_of(bindings, namespace, target),
        _roles_of(bindings, namespace, account),
        exec_create,
    )
    for what, alternatives in ways:
        for asks in alternatives:
            if all(may(authz, namespace, account, p, name=n) for p, n in asks):
                yield what
                break
