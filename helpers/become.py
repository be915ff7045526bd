"""Who can become a ServiceAccount: the small verbs behind notebook 12's seven paths.

A low-privilege identity (``intern``) gets one permission at a time and uses it to act as
a powerful ServiceAccount of its namespace (``deployer``), or to gain its power. Each path
is proven the same way, by creating a ConfigMap the identity itself may not create:

- :func:`may` and :func:`wait_until`: ask RBAC (SubjectAccessReview) what a ServiceAccount
  may do, and wait for RBAC's cache to follow a new or deleted grant;
- :func:`prove`: create the ConfigMap with a client's credentials and say as whom;
- :func:`from_pod_log`: the same proof, read from the log of a Pod that did it;
- :func:`admission_refusal`: whether admission (PodSecurity) refuses a Pod, by a dry run;
- :func:`binding` and :func:`add_rule`: the RoleBinding and the Role patch the identity
  writes itself on the paths through ``bind`` and ``escalate``;
- :data:`PATHS` and :func:`summary`: the seven paths side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .errors import from_api_exception, translate_api_errors
from .preflight import parse_permission
from .reviews import can_i, sa_groups, sa_username, whoami
from .waiting import poll_until

__all__ = [
    "PATHS",
    "Path",
    "Proof",
    "add_rule",
    "admission_refusal",
    "binding",
    "configmap",
    "from_pod_log",
    "may",
    "prove",
    "summary",
    "wait_until",
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


def may(
    authz: client.AuthorizationV1Api,
    namespace: str,
    service_account: str,
    permission: str,
    *,
    name: str | None = None,
) -> bool:
    """Would RBAC allow ServiceAccount ``service_account`` (with its groups) ``permission``?

    ``permission`` is written as ``kubectl auth can-i`` takes it: ``"create pods"``,
    ``"create serviceaccounts/token"``, ``"bind clusterroles.rbac.authorization.k8s.io"``;
    ``name`` is the object's name (RBAC's ``resourceNames``).
    """
    attrs = _attributes(permission)
    status = can_i(
        authz,
        attrs["verb"] or "",
        attrs["resource"] or "",
        user=sa_username(namespace, service_account),
        groups=sa_groups(namespace),
        namespace=namespace,
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
) -> None:
    """Wait until RBAC allows (or, ``allowed=False``, no longer allows) ``permission``.

    RBAC reads Roles and bindings from a cache that follows the API within milliseconds:
    a request right after a new grant may still be refused. Raises a one-sentence
    ``TimeoutError`` if RBAC has not followed within ``timeout`` seconds.
    """
    named = f" on {name}" if name else ""
    what = f"RBAC to {'allow' if allowed else 'refuse'} {service_account} `{permission}`{named}"
    poll_until(
        lambda: may(authz, namespace, service_account, permission, name=name) == allowed,
        timeout=timeout,
        what=what,
    )


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
        "deployer's legacy token, which never expires",
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
"""The seven paths of notebook 12, in its order; ``key`` names each in :func:`summary`."""


def _keys() -> str:
    return ", ".join(repr(path.key) for path in PATHS)


def summary(proofs: Mapping[str, Proof]) -> pd.DataFrame:
    """The seven paths as a table, with the ConfigMap each one made and as whom.

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
