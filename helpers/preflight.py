"""What the course needs from the API server, and whether the identity in use has it.

On its own clusters (local, kind) the course is ``system:masters``. On an existing cluster
(``COURSE_BACKEND=kubeconfig``) it is whoever the kubeconfig names, and a missing
permission would stop a notebook halfway. :data:`NEEDS` lists every request the notebooks,
labs and helpers make as that identity (read from ``preflight_needs.yaml``, a data file)
— API calls, ``kubectl`` commands, and what RBAC's
escalation check demands when a notebook creates a Role or a binding (you may only grant
what you hold, or what you may ``bind``) — each with the notebook or lab that needs it.

- :func:`missing_permissions` asks the API server about every need (SelfSubjectAccessReview,
  several at a time; well under a second) and returns those it refuses;
- :func:`check_permissions` turns that into one sentence (a :class:`ClusterError`);
- :func:`cluster_role` is the least ClusterRole that grants them all, kept in step with
  ``manifests/00-course-access.yaml`` (``python -m helpers.preflight --manifest`` writes it);
- :func:`needs_table` shows the needs as a table.

A ClusterRole bound with a ClusterRoleBinding grants its namespaced rules in every
namespace: RBAC cannot confine them to the course's namespaces (which the course deletes
and re-creates, RoleBindings inside them included). The named scope of a need says where
the course uses it, and is where it is checked.

    >>> need = next(n for n in NEEDS if n.verb == "bind" and n.resource == "roles")
    >>> need.phrase
    '`bind roles.rbac.authorization.k8s.io` named controller-role in namespace controller-ns'
    >>> need.why
    'notebook 04: its RoleBinding names Role controller-role before it exists: that takes `bind`'
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from . import names as course_names
from .cluster.errors import ClusterError
from .names import NAMESPACES

__all__ = [
    "ANY_NAMESPACE",
    "CLUSTER",
    "CLUSTER_ROLE",
    "COURSE_NAMESPACES",
    "MANIFEST",
    "NEEDS",
    "Need",
    "check_permissions",
    "cluster_role",
    "course_access_yaml",
    "covers",
    "explain",
    "load_manifest",
    "localized",
    "missing_permissions",
    "needs_table",
    "parse_permission",
    "readme_needs",
    "rule_atoms",
]

#: Scope of a cluster-scoped resource or a non-resource URL.
CLUSTER = "cluster"
#: Scope of a namespaced resource asked for across all namespaces (``--all-namespaces``).
ANY_NAMESPACE = "any namespace"
#: The name of the ClusterRole in :data:`MANIFEST`.
CLUSTER_ROLE = "sa-course-access"
#: The manifest an administrator applies to let an identity run the course.
MANIFEST = Path(__file__).resolve().parent.parent / "manifests" / "00-course-access.yaml"
RBAC = "rbac.authorization.k8s.io"

#: Every namespace the course creates (and deletes), and who owns it (see helpers.names).
COURSE_NAMESPACES = NAMESPACES


@dataclass(frozen=True)
class Need:
    """One request the course makes: a verb on a resource (or a non-resource URL), and why.

    ``scope`` is :data:`CLUSTER`, :data:`ANY_NAMESPACE` or the namespace where the course
    makes the request; ``name`` restricts it to one object (RBAC ``resourceNames``).

    >>> need = Need("create", "serviceaccounts", subresource="token", scope="controller-ns")
    >>> need.permission, need.where
    ('create serviceaccounts/token', 'in namespace controller-ns')
    >>> Need("bind", "clusterroles", RBAC, name="edit", scope="lab-04-rbac").phrase
    '`bind clusterroles.rbac.authorization.k8s.io` named edit in namespace lab-04-rbac'
    >>> Need("get", url="/metrics").phrase
    '`get /metrics`'
    """

    verb: str
    resource: str = ""
    group: str = ""
    subresource: str = ""
    scope: str = CLUSTER
    name: str = ""
    url: str = ""
    why: str = ""
    #: The notebooks and labs (or tools) that make the request, e.g. ``("notebook 04",)``.
    users: tuple[str, ...] = ()

    @property
    def rbac_resource(self) -> str:
        """The resource as an RBAC rule writes it: ``pods``, ``pods/exec``; '' for a URL."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    @property
    def permission(self) -> str:
        """The request in ``kubectl auth can-i`` words: ``get pods/log``, ``get /metrics``."""
        if self.url:
            return f"{self.verb} {self.url}"
        group = f".{self.group}" if self.group else ""
        return f"{self.verb} {self.rbac_resource}{group}"

    @property
    def where(self) -> str:
        """``in namespace X``, ``in every namespace``, or '' (cluster-scoped, or a URL)."""
        if self.scope == CLUSTER:
            return ""
        if self.scope == ANY_NAMESPACE:
            return "in every namespace"
        return f"in namespace {self.scope}"

    @property
    def phrase(self) -> str:
        """The permission, its object name and where, for a sentence."""
        named = f" named {self.name}" if self.name else ""
        where = f" {self.where}" if self.where else ""
        return f"`{self.permission}`{named}{where}"

    @property
    def atom(self) -> tuple[str, str, str, str, str]:
        """What a ClusterRole must grant for it: (verb, group, resource, name, url)."""
        return (self.verb, self.group, self.rbac_resource, self.name, self.url)

    def review(self) -> client.V1SelfSubjectAccessReview:
        """The SelfSubjectAccessReview that asks whether the caller may do this."""
        if self.url:
            spec = client.V1SelfSubjectAccessReviewSpec(
                non_resource_attributes=client.V1NonResourceAttributes(
                    path=self.url, verb=self.verb
                )
            )
        else:
            namespace = "" if self.scope in (CLUSTER, ANY_NAMESPACE) else self.scope
            spec = client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=self.verb,
                    group=self.group,
                    resource=self.resource,
                    subresource=self.subresource or None,
                    namespace=namespace or None,
                    name=self.name or None,
                )
            )
        return client.V1SelfSubjectAccessReview(spec=spec)


def parse_permission(text: str) -> dict[str, str]:
    """``verb resource[/subresource][.group]`` or ``verb /url`` as :class:`Need` fields.

    >>> parse_permission("create serviceaccounts/token")
    {'verb': 'create', 'resource': 'serviceaccounts', 'subresource': 'token', 'group': ''}
    >>> parse_permission("create tokenreviews.authentication.k8s.io")["group"]
    'authentication.k8s.io'
    >>> parse_permission("get /openid/v1/jwks")
    {'verb': 'get', 'url': '/openid/v1/jwks'}
    """
    verb, target = text.split()
    if target.startswith("/"):
        return {"verb": verb, "url": target}
    resource, _, group = target.partition(".")
    resource, _, subresource = resource.partition("/")
    return {"verb": verb, "resource": resource, "subresource": subresource, "group": group}


# -- the needs, notebook by notebook ------------------------------------------------------------
_Raw = list[tuple[Need, str, str]]  # (a need without its why, who needs it, what for)

#: Short names of API groups in :class:`_Spec` permissions (``roles.rbac``).
_GROUPS = {
    "rbac": RBAC,
    "authn": "authentication.k8s.io",
    "authz": "authorization.k8s.io",
    "apps": "apps",
    "apiextensions": "apiextensions.k8s.io",
    "discovery": "discovery.k8s.io",
}


def _expand(perms: str) -> list[str]:
    """``"get,list pods secrets; create tokenreviews.authn"`` → one permission per item.

    >>> _expand("get,list pods secrets; get /metrics")
    ['get pods', 'get secrets', 'list pods', 'list secrets', 'get /metrics']
    >>> _expand("create tokenreviews.authn")
    ['create tokenreviews.authentication.k8s.io']
    """
    out = []
    for clause in perms.split(";"):
        verbs, *targets = clause.split()
        for verb in verbs.split(","):
            for target in targets:
                resource, _, group = target.partition(".")
                if group and not target.startswith("/"):
                    target = f"{resource}.{_GROUPS[group]}"
                out.append(f"{verb} {target}")
    return out


class _Spec:
    """Collects (need, who, what) as the notebooks make their requests; see :func:`_spec`.

    Permissions are written ``verbs resources…`` (``"get,list pods secrets"``), clauses
    separated by ``;``, API groups by their short names in :data:`_GROUPS`.
    """

    def __init__(self) -> None:
        self.raw: _Raw = []

    def add(self, who: str, scope: str, perms: str, what: str, names: Sequence[str] = ()) -> None:
        for perm in _expand(perms):
            for name in names or ("",):
                need = Need(**parse_permission(perm), scope=scope, name=name)  # type: ignore[arg-type]
                self.raw.append((replace(need, scope=CLUSTER) if need.url else need, who, what))

    def fresh(self, who: str, namespace: str) -> None:
        """``course.fresh_namespace()``: delete a leftover, create, wait for ``default``."""
        what = "course.fresh_namespace() deletes a leftover namespace and creates it anew"
        self.add(who, CLUSTER, "create namespaces", what)
        self.add(who, CLUSTER, "get,delete namespaces", what, [namespace])
        self.add(who, namespace, "get serviceaccounts", "…and waits for its `default` account")

    def apply(self, who: str, scope: str, kinds: str, what: str, names: Sequence[str] = ()) -> None:
        """``kubectl apply`` of new objects: GET (404), then POST.

        (It also reads the namespace, and carries on when that is refused; and it PATCHes
        only an object that exists and differs, which no cell's re-run makes.)
        """
        self.add(who, scope, f"get {kinds}", what, names)
        self.add(who, scope, f"create {kinds}", what)  # a POST names no object: never named

    def seed(self, who: str, namespace: str, kinds: str) -> None:
        """A lab's set-up: ``helpers.labs.common.apply`` (``kubectl apply``)."""
        self.apply(who, namespace, kinds, "the set-up applies the scenario")

    def audiences(self, who: str, namespace: str) -> None:
        """``facts.api_audiences()``, ``max_token_seconds()``: a token of ``default``, reviewed."""
        what = "helpers.facts reads this cluster's audiences and token lifetimes"
        self.add(who, namespace, "create serviceaccounts/token", what)
        self.add(who, CLUSTER, "create tokenreviews.authn", what)

    def exec(self, who: str, namespace: str, what: str) -> None:
        """``kubectl exec``, ``exec_in_pod()``: GET the Pod, then a WebSocket to ``pods/exec``.

        The WebSocket is a GET that the API server authorizes as ``get`` *and* ``create``
        (kubectl falls back to a SPDY POST, ``create`` only; the Python client does not).
        """
        self.add(who, namespace, "get pods; create,get pods/exec", what)

    def wait(self, who: str, namespace: str, kind: str, what: str) -> None:
        """``kubectl wait``, ``rollout status``: GET, then WATCH (LIST where watch-list is off)."""
        self.add(who, namespace, f"get,list,watch {kind}", what)

    def delete(self, who: str, scope: str, kind: str, what: str, names: Sequence[str] = ()) -> None:
        """``kubectl delete``: DELETE, then (``--wait``) GET until it is gone."""
        self.add(who, scope, f"delete,get {kind}", what, names)
        if kind == "pods":  # a Pod lingers for its grace period: kubectl watches it go
            self.add(who, scope, "list,watch pods", what + ", and waits until it is gone")

    def binds(self, who: str, scope: str, bindings: str, cluster_roles: Sequence[str]) -> None:
        """RoleBindings (``bindings``, comma-separated) to ClusterRoles: that takes ``bind``.

        RBAC's escalation check lets a binding name a role only if you hold all it grants,
        or may ``bind`` it by name.
        """
        many_b = "," in bindings
        many_r = len(cluster_roles) > 1
        what = (
            f"RoleBinding{'s' if many_b else ''} {bindings} bind{'' if many_b else 's'} "
            f"ClusterRole{'s' if many_r else ''} {', '.join(cluster_roles)}: that takes `bind`"
        )
        self.add(who, scope, "bind clusterroles.rbac", what, cluster_roles)

    def holds(self, who: str, scope: str, perms: str, role: str) -> None:
        """RBAC's escalation check: you may only grant (in a Role or binding) what you hold."""
        self.add(who, scope, perms, f"{role} grants it: you may only grant what you hold")


#: Every request of the course, by who makes it: the data :func:`_spec` reads.
NEEDS_FILE = Path(__file__).with_name("preflight_needs.yaml")

#: Each ask's first key names a :class:`_Spec` method and its first argument; the other
#: keys are its other arguments (``in``, ``for``, ``as`` are Python keywords, hence the map).
_ASKS: dict[str, tuple[str, str, dict[str, str]]] = {
    "can": ("add", "perms", {"in": "scope", "for": "what", "names": "names"}),
    "fresh": ("fresh", "namespace", {}),
    "apply": ("apply", "kinds", {"in": "scope", "for": "what", "names": "names"}),
    "seed": ("seed", "kinds", {"in": "namespace"}),
    "audiences": ("audiences", "namespace", {}),
    "exec": ("exec", "namespace", {"for": "what"}),
    "wait": ("wait", "kind", {"in": "namespace", "for": "what"}),
    "delete": ("delete", "kind", {"in": "scope", "for": "what", "names": "names"}),
    "binds": ("binds", "bindings", {"in": "scope", "to": "cluster_roles"}),
    "holds": ("holds", "perms", {"in": "scope", "as": "role"}),
}


def _ask(spec: _Spec, who: str, ask: dict[str, Any]) -> None:
    """Replay one ask of :data:`NEEDS_FILE` on ``spec``."""
    kind = next(iter(ask))
    if kind not in _ASKS:
        raise ValueError(f"{NEEDS_FILE.name}: {who}: {kind!r} is not an ask ({', '.join(_ASKS)})")
    method, first, keys = _ASKS[kind]
    unknown = set(ask) - {kind, *keys}
    if unknown:
        raise ValueError(f"{NEEDS_FILE.name}: {who}: {kind} takes no {', '.join(sorted(unknown))}")
    args = {first: ask[kind], **{keys[k]: v for k, v in ask.items() if k != kind}}
    getattr(spec, method)(who, **args)


def _spec(path: Path = NEEDS_FILE) -> _Raw:
    """Every (need, who, what) of the course, from :data:`NEEDS_FILE`, in its order."""
    s = _Spec()
    for block in yaml.safe_load(path.read_text()):
        for ask in block["asks"]:
            _ask(s, block["who"], ask)
    return s.raw


def _join_whos(whos: Sequence[str]) -> str:
    """``["notebook 01", "notebook 03", "lab 04"]`` → ``"notebooks 01, 03, lab 04"``.

    >>> _join_whos(["notebook 01", "notebook 03", "lab 04", "kubectl"])
    'notebooks 01, 03, lab 04, kubectl'
    """
    parts: list[str] = []
    groups: dict[str, list[str]] = {}
    for who in whos:
        kind, _, number = who.partition(" ")
        if number.isdigit():
            if kind not in groups:
                groups[kind] = []
                parts.append(kind)
            groups[kind].append(number)
        else:
            parts.append(who)
    out = []
    for part in parts:
        numbers = groups.get(part)
        if numbers is None:
            out.append(part)
        else:
            plural = f"{part}s" if len(numbers) > 1 else part
            out.append(f"{plural} {', '.join(numbers)}")
    return ", ".join(out)


def _merge(raw: _Raw) -> tuple[Need, ...]:
    """One :class:`Need` per distinct request; its ``why`` names every notebook that asks."""
    order: dict[Need, dict[str, list[str]]] = {}
    for need, who, what in raw:
        whats = order.setdefault(need, {})
        whos = whats.setdefault(what, [])
        if who not in whos:
            whos.append(who)
    merged = []
    for need, whats in order.items():
        why = "; ".join(f"{_join_whos(whos)}: {what}" for what, whos in whats.items())
        users = sorted({who for whos in whats.values() for who in whos}, key=_user_order)
        merged.append(replace(need, why=why, users=tuple(users)))
    return tuple(merged)


def _user_order(who: str) -> tuple[int, str]:
    """Notebooks first, then labs, then the rest (kubectl, helpers)."""
    kind = who.partition(" ")[0]
    return ({"notebook": 0, "lab": 1}.get(kind, 2), who)


#: Everything the course asks of the API server as the kubeconfig's identity.
NEEDS: tuple[Need, ...] = _merge(_spec())


# -- asking the API server ----------------------------------------------------------------------
def _allowed(api: client.ApiClient, need: Need) -> bool:
    """One SelfSubjectAccessReview; the answer's JSON is read directly (no model objects)."""
    body = api.sanitize_for_serialization(need.review())
    response = client.AuthorizationV1Api(api).create_self_subject_access_review(
        body, _request_timeout=10, _preload_content=False
    )
    return bool(json.loads(response.data).get("status", {}).get("allowed"))


def _everywhere(need: Need) -> Need:
    """The same request in all namespaces at once (a cluster-wide grant covers each one)."""
    return replace(
        need, scope=CLUSTER if need.scope == CLUSTER else ANY_NAMESPACE, why="", users=()
    )


def _unreachable(api: client.ApiClient, exc: Exception) -> ClusterError:
    host = api.configuration.host
    if isinstance(exc, ApiException) and exc.status == 401:
        return ClusterError(
            f"The API server at {host} does not accept the kubeconfig's credentials (401): "
            "ask your instructor for a fresh kubeconfig."
        )
    if isinstance(exc, ApiException) and exc.status == 403:
        return ClusterError(
            f"The API server at {host} refuses even to say what this identity may do "
            "(SelfSubjectAccessReview is forbidden): ask the cluster's administrator to "
            f"apply manifests/{MANIFEST.name} and bind its ClusterRole {CLUSTER_ROLE} to you."
        )
    if isinstance(exc, ApiException):
        return ClusterError(
            f"The API server at {host} answered {exc.status} {exc.reason} to a "
            "SelfSubjectAccessReview: check the cluster (`kubectl get --raw /readyz`), "
            "then try again."
        )
    return ClusterError(
        f"The API server at {host} does not answer ({type(exc).__name__}): check the "
        "kubeconfig's server address and your network, then try again."
    )


def missing_permissions(
    api: client.ApiClient, needs: Sequence[Need] = NEEDS, workers: int = 8
) -> list[Need]:
    """The needs the API server says the caller of ``api`` may not do (SelfSubjectAccessReview).

    First one review per distinct request in all namespaces at once: what is granted
    cluster-wide (a ClusterRoleBinding, as :data:`MANIFEST` suggests) is granted in each
    namespace. Then one review per namespaced need that was not, in its own namespace (a
    RoleBinding there may grant it). ``workers`` reviews run at a time; the result keeps
    the order of ``needs``.

    Raises:
        ClusterError: If the API server cannot be asked at all (unreachable, 401, 403).
    """
    answers: dict[Need, bool] = {}

    def ask(batch: Iterable[Need]) -> None:
        todo = [need for need in dict.fromkeys(batch) if need not in answers]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            answers.update(zip(todo, pool.map(lambda n: _allowed(api, n), todo), strict=True))

    try:
        ask(_everywhere(need) for need in needs)
        ask(need for need in needs if not answers[_everywhere(need)])
    except (ApiException, HTTPError, OSError, ValueError) as exc:
        raise _unreachable(api, exc) from None
    return [need for need in needs if not (answers[_everywhere(need)] or answers.get(need))]


def _identity(api: client.ApiClient) -> str:
    """The username the API server sees (SelfSubjectReview), or a description if it won't say."""
    try:
        review = client.AuthenticationV1Api(api).create_self_subject_review(
            client.V1SelfSubjectReview(), _request_timeout=10
        )
        name = review.status.user_info.username
    except Exception:
        name = None
    return f"`{name}`" if name else "the kubeconfig's identity"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def explain(identity: str, missing: Sequence[Need]) -> str:
    """One sentence: who may not do what, which notebook needs it, and what to do.

    ``missing`` must not be empty; the needs sharing the first missing permission are
    named together.

    >>> token = Need("create", "serviceaccounts", subresource="token", why="notebook 01: x")
    >>> print(explain("`jane`", [replace(token, scope="controller-ns")]))
    ... # doctest: +NORMALIZE_WHITESPACE
    On this cluster `jane` may not `create serviceaccounts/token` in namespace controller-ns,
    which notebook 01 needs (x): ask the cluster's administrator to apply
    manifests/00-course-access.yaml and bind its ClusterRole sa-course-access to `jane`,
    or use the course's own cluster (unset COURSE_BACKEND).
    """
    if not missing:
        raise ValueError("explain() needs at least one missing permission.")
    first = missing[0]
    same = [n for n in missing if (n.permission, n.name) == (first.permission, first.name)]
    scopes = [n.scope for n in same if n.scope not in (CLUSTER, ANY_NAMESPACE)]
    if len(scopes) > 1:
        shown = ", ".join(scopes[:3])
        more = f" and {len(scopes) - 3} more" if len(scopes) > 3 else ""
        where = f" in namespaces {shown}{more}"
    else:
        where = f" {first.where}" if first.where else ""
    named = f" named {first.name}" if first.name else ""
    who, _, what = first.why.partition(";")[0].partition(": ")
    needed_by = f"which {who} needs ({what})" if what else f"which {who or 'the course'} needs"
    others = [n for n in missing if n not in same]
    distinct = list(dict.fromkeys(f"`{n.permission}`" for n in others))
    also = ""
    if distinct:
        listed = ", ".join(distinct[:2]) + (", …" if len(distinct) > 2 else "")
        also = f", nor {_plural(len(distinct), 'other permission')} the course needs ({listed})"
    target = identity if identity.startswith("`") else "it"
    return (
        f"On this cluster {identity} may not `{first.permission}`{named}{where}, {needed_by}"
        f"{also}: ask the cluster's administrator to apply manifests/{MANIFEST.name} and bind "
        f"its ClusterRole {CLUSTER_ROLE} to {target}, or use the course's own cluster "
        "(unset COURSE_BACKEND)."
    )


def localized(needs: Iterable[Need] = NEEDS, prefix: str | None = None) -> tuple[Need, ...]:
    """The needs under a prefix (:mod:`helpers.names`): in ``ws1-07-controller-ns``, and so on.

    A need's namespace, a namespace it names and a cluster-scoped course object it names
    take the prefix; other names (``edit``, ``controller-role``) stay as they are.

    >>> need = Need("delete", "namespaces", scope=CLUSTER, name="legacy-ns", why="legacy-ns")
    >>> moved = localized([need], prefix="ws1")[0]
    >>> moved.name, moved.why
    ('ws1-legacy-ns', 'ws1-legacy-ns')
    >>> localized([Need("get", "pods", scope="legacy-ns")], prefix="")[0].scope
    'legacy-ns'
    """
    p = course_names.prefix() if prefix is None else prefix
    if not p:
        return tuple(needs)
    own = course_names.course_names(p)
    out: list[Need] = []
    for n in needs:
        moved = replace(
            n,
            scope=own.get(n.scope, n.scope) if n.scope in NAMESPACES else n.scope,
            name=own.get(n.name, n.name),
            why=course_names.localize(n.why, p),
        )
        if n.scope != ANY_NAMESPACE:
            out.append(moved)
            continue
        # under a prefix "every namespace" is yours: what its notebooks read (a learner
        # of a workshop may not list the whole cluster; the audit then reads these)
        out += [replace(moved, scope=own[ns]) for ns in _owned_by(n.users)]
    return tuple(out)


def _owned_by(users: Sequence[str]) -> list[str]:
    """The course namespaces of the notebooks and labs in ``users``.

    >>> _owned_by(["notebook 11"])
    ['audit-good', 'audit-bad']
    """
    wanted = {(u.split()[0].rstrip("s"), n) for u in users for n in re.findall(r"\d\d", u)}
    return [
        ns
        for ns, owner in NAMESPACES.items()
        if {(owner.split()[0].rstrip("s"), n) for n in re.findall(r"\d\d", owner)} & wanted
    ]


def check_permissions(api: client.ApiClient) -> None:
    """Raise a one-sentence :class:`ClusterError` unless the caller of ``api`` has every need.

    The needs are those of this process's names (:func:`localized`). For ``connect()`` on
    the kubeconfig backend: it takes well under a second.
    """
    missing = missing_permissions(api, localized())
    if missing:
        raise ClusterError(explain(_identity(api), missing))


# -- the ClusterRole and the table ---------------------------------------------------------------
def _atoms(needs: Iterable[Need]) -> set[tuple[str, str, str, str, str]]:
    """What a ClusterRole must grant: each need's atom, unless a broader needed atom covers it.

    A verb ``*`` covers the other verbs on its resource; a grant without a name covers the
    named ones.
    """
    atoms = {need.atom for need in needs}
    starred = {(g, r, n, u) for v, g, r, n, u in atoms if v == "*"}
    unnamed = {(v, g, r) for v, g, r, n, u in atoms if not n and not u}
    return {
        (v, g, r, n, u)
        for v, g, r, n, u in atoms
        if (v == "*" or (g, r, n, u) not in starred) and not (n and (v, g, r) in unnamed)
    }


def covers(rule: dict[str, Any], need: Need) -> bool:
    """Whether an RBAC rule (a camelCase dict, no wildcards but in ``verbs``) allows ``need``.

    >>> covers({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]},
    ...        Need("get", "configmaps", scope="audit-bad"))
    True
    >>> covers({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}, Need("get", url="/version"))
    False
    """
    verbs = rule.get("verbs") or []
    if "*" not in verbs and need.verb not in verbs:
        return False
    if need.url:
        return need.url in (rule.get("nonResourceURLs") or [])
    names = rule.get("resourceNames") or []
    return (
        need.group in (rule.get("apiGroups") or [])
        and need.rbac_resource in (rule.get("resources") or [])
        and (not names or need.name in names)
    )


def _rules(atoms: set[tuple[str, str, str, str, str]]) -> list[dict[str, Any]]:
    """Atoms as RBAC rules: one per resource (or URLs sharing verbs), names grouped by verbs."""
    rules: list[dict[str, Any]] = []
    by_resource: dict[tuple[str, str], dict[str, set[str]]] = {}
    for verb, group, resource, name, url in atoms:
        if not url:
            by_resource.setdefault((group, resource), {}).setdefault(verb, set()).add(name)
    for (group, resource), verbs in sorted(by_resource.items()):
        unnamed = sorted(v for v, names in verbs.items() if "" in names)
        if unnamed:
            rules.append({"apiGroups": [group], "resources": [resource], "verbs": unnamed})
        named: dict[tuple[str, ...], list[str]] = {}
        for verb, names in sorted(verbs.items()):
            if verb in unnamed or not names - {""}:
                continue
            named.setdefault(tuple(sorted(names - {""})), []).append(verb)
        for names, named_verbs in named.items():
            rules.append(
                {
                    "apiGroups": [group],
                    "resources": [resource],
                    "resourceNames": list(names),
                    "verbs": named_verbs,
                }
            )
    urls: dict[str, set[str]] = {}
    for verb, _, _, _, url in atoms:
        if url:
            urls.setdefault(url, set()).add(verb)
    by_verbs: dict[tuple[str, ...], list[str]] = {}
    for url, verbs in sorted(urls.items()):
        by_verbs.setdefault(tuple(sorted(verbs)), []).append(url)
    for verbs_key, url_list in by_verbs.items():
        rules.append({"nonResourceURLs": url_list, "verbs": list(verbs_key)})
    return rules


def rule_atoms(rules: Iterable[dict[str, Any]]) -> set[tuple[str, str, str, str, str]]:
    """The (verb, group, resource, name, url) a list of RBAC rules (camelCase dicts) grants."""
    atoms = set()
    for rule in rules:
        for verb in rule.get("verbs") or []:
            for url in rule.get("nonResourceURLs") or []:
                atoms.add((verb, "", "", "", url))
            for group in rule.get("apiGroups") or []:
                for resource in rule.get("resources") or []:
                    for name in rule.get("resourceNames") or [""]:
                        atoms.add((verb, group, resource, name, ""))
    return atoms


def cluster_role(needs: Iterable[Need] = NEEDS, name: str = CLUSTER_ROLE) -> dict[str, Any]:
    """The least ClusterRole that grants every need (what :data:`MANIFEST` holds)."""
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "sa-course"}},
        "rules": _rules(_atoms(needs)),
    }


def _where(scopes: Sequence[str]) -> str:
    """Scopes in words; the namespaces of the course in the order they appear.

    >>> _where([CLUSTER]), _where(["kube-system", "legacy-ns"]), _where(list(COURSE_NAMESPACES))
    ('cluster', 'kube-system, legacy-ns', 'every course namespace')
    """
    named = [s for s in scopes if s not in (CLUSTER, ANY_NAMESPACE)]
    parts = [
        word
        for scope, word in ((CLUSTER, "cluster"), (ANY_NAMESPACE, "every namespace"))
        if scope in scopes
    ]
    if set(COURSE_NAMESPACES) <= set(named):
        named = [s for s in named if s not in COURSE_NAMESPACES]
        parts.append("every course namespace")
    parts += named
    return ", ".join(parts)


def needs_table(needs: Iterable[Need] = NEEDS) -> pd.DataFrame:
    """The needs as a table, one row per permission: the objects, where, who, and why.

    >>> table = needs_table()
    >>> table.loc["`bind clusterroles.rbac.authorization.k8s.io`", "objects"]
    'cluster-admin, edit, view'
    >>> table.loc["`get /metrics`", "needed by"]
    'notebooks 09, 10, 12, 16, lab 12'
    """
    rows: dict[str, dict[str, list[str]]] = {}
    for need in needs:
        row = rows.setdefault(
            f"`{need.permission}`", {"objects": [], "scopes": [], "users": [], "whys": []}
        )
        for column, values in (
            ("objects", [need.name] if need.name else []),
            ("scopes", [need.scope]),
            ("users", list(need.users)),
            ("whys", need.why.split("; ")),
        ):
            row[column] += [v for v in values if v not in row[column]]
    table = {
        key: {
            "objects": ", ".join(sorted(row["objects"])) or "any",
            "where": _where(row["scopes"]),
            "needed by": _join_whos(sorted(row["users"], key=_user_order)),
            "why": "; ".join(row["whys"]),
        }
        for key, row in rows.items()
    }
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index.name = "permission"
    return frame


def readme_needs(needs: Sequence[Need] = NEEDS) -> str:
    """The README's list of permissions (``make nav`` writes it between its markers).

    >>> readme_needs().startswith("<details><summary>Every permission the course asks for (")
    True
    """
    table = needs_table(needs)
    lines = [
        f"<details><summary>Every permission the course asks for ({len(table)}), where, and "
        f"who needs it (from <code>helpers/preflight_needs.yaml</code>)</summary>",
        "",
        "| permission | objects | where | needed by |",
        "|---|---|---|---|",
    ]
    for permission, row in table.iterrows():
        cells = [str(permission), row["objects"], row["where"], row["needed by"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join([*lines, "", "</details>"]) + "\n"


def course_access_yaml(needs: Sequence[Need] = NEEDS) -> str:
    """The text of :data:`MANIFEST`: the ClusterRole with each rule's reasons, and a binding."""
    role = cluster_role(needs)
    lines = [
        "# What an identity needs so that every notebook and lab of the course runs on an",
        "# existing cluster (COURSE_BACKEND=kubeconfig): the ClusterRole below, bound to it.",
        "# Generated from helpers/preflight.py (`python -m helpers.preflight --manifest`); a",
        "# unit test fails when the two differ. connect() checks these permissions (with",
        "# SelfSubjectAccessReview) before a notebook starts.",
        "#",
        "# Read before you bind it: this is NOT a harmless role. Notebook 11 binds cluster-admin",
        "# in a RoleBinding, but RBAC cannot confine `bind` on clusterroles/cluster-admin to",
        "# RoleBindings: whoever holds this role can make itself cluster-admin with a",
        "# ClusterRoleBinding. The labs bind `edit` and `view`; it may impersonate ServiceAccounts",
        "# of a few course names, `escalate` Roles named intern-role (notebook 12), list every",
        "# Secret (the audit of notebook 11), and write ConfigMaps in every namespace. Bind it",
        "# only on a cluster made for the course.",
        "# Some rules are there only because RBAC lets you grant (in a Role or a binding) just",
        "# what you hold yourself, or what you may `bind`: the comments say which.",
        "# Namespaced rules apply in every namespace: RBAC cannot confine a ClusterRole to the",
        "# course's namespaces, which the course deletes and re-creates.",
        "apiVersion: rbac.authorization.k8s.io/v1",
        "kind: ClusterRole",
        "metadata:",
        f"  name: {CLUSTER_ROLE}",
        "  labels:",
        "    app.kubernetes.io/part-of: sa-course",
        "rules:",
    ]
    for rule in role["rules"]:
        covered = [need for need in needs if covers(rule, need)]
        users = {who for need in covered for who in need.users}
        lines.append(f"# {_wrap_whos(sorted(users, key=_user_order))}")
        notes = [why for need in covered for why in need.why.split("; ") if " takes " in why]
        for note in dict.fromkeys(notes):
            lines += textwrap.wrap(note, 98, initial_indent="# ", subsequent_indent="#   ")
        lines.append("- " + _flow(rule).replace("\n", "\n  "))
    lines += [
        "---",
        "# Bind it to the identity in the kubeconfig you hand out (a user, a group, or a",
        "# ServiceAccount whose token is in the kubeconfig), e.g.:",
        "#",
        "# apiVersion: rbac.authorization.k8s.io/v1",
        "# kind: ClusterRoleBinding",
        "# metadata:",
        f"#   name: {CLUSTER_ROLE}-jane",
        "# roleRef:",
        "#   apiGroup: rbac.authorization.k8s.io",
        "#   kind: ClusterRole",
        f"#   name: {CLUSTER_ROLE}",
        "# subjects:",
        "# - apiGroup: rbac.authorization.k8s.io",
        "#   kind: User",
        "#   name: jane@example.com",
        "",
    ]
    return "\n".join(lines)


def _wrap_whos(whos: Sequence[str]) -> str:
    """Who needs a rule, as one comment line (kubectl and the notebooks merged)."""
    text = "needed by " + _join_whos([w for w in whos if w])
    return text if len(text) <= 98 else text[:95] + "…"


def _flow(rule: dict[str, Any], width: int = 96) -> str:
    """A rule as block YAML whose lists are in flow style, wrapped: ``verbs: ["get", "list"]``.

    >>> print(_flow({"resources": ["pods"], "verbs": ["get", "list"]}))
    resources: ["pods"]
    verbs: ["get", "list"]
    """
    out = []
    for key in ("apiGroups", "resources", "resourceNames", "nonResourceURLs", "verbs"):
        if key not in rule:
            continue
        line = f"{key}: ["
        for i, value in enumerate(rule[key]):
            item = f'"{value}"' + (", " if i < len(rule[key]) - 1 else "]")
            if len(line) + len(item.rstrip()) > width:
                out.append(line.rstrip())
                line = "  "
            line += item
        out.append(line)
    return "\n".join(out)


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    """The ClusterRole in ``path`` (the first document), parsed."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs[0]


def main(argv: Sequence[str] | None = None) -> int:
    """``--manifest``: print the manifest; otherwise check the course cluster's identity."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--manifest"]:
        sys.stdout.write(course_access_yaml())
        return 0
    if len(args) == 2 and args[0] == "--manifest":  # --manifest PREFIX: a learner's names
        text = course_access_yaml()
        sys.stdout.write(course_names.localize(text, course_names.valid_prefix(args[1])))
        return 0
    from kubernetes import config

    from . import cluster

    recorded = cluster.current()
    if recorded is None:
        print("No course cluster is recorded: run `make cluster-up`, or set COURSE_BACKEND.")
        return 1
    api = config.new_client_from_config(config_file=recorded["kubeconfig"])
    try:
        check_permissions(api)
    except ClusterError as exc:
        print(exc)
        return 1
    print(f"{_identity(api)} holds all {len(NEEDS)} permissions the course needs.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
