"""What the lab checkers ask the cluster, in a few verbs.

- :func:`sa_can` / :func:`sa_can_request` — SubjectAccessReview for a ServiceAccount
  *with its groups*.
- :func:`name_set`, :func:`set_mismatch` — a set-of-names answer, and what is wrong with it.
- :func:`call_status` — make a real API call with a token; the HTTP status it got.
- :func:`as_token` — the learner's token answer (``Token`` or string) or *Not yet*.
- :func:`wait_until_rejected` — TokenReview until the API server says no (its 10 s cache).
- :func:`why_legacy_token_refused` — what the API server looks at for a legacy token, read
  from the objects (a TokenReview would count as a use).
- :data:`RBAC_SETTLE`, :data:`AUTH_SETTLE` — how long a check asks again before *Not yet*
  (with :func:`helpers.labs.checks.settle`).
- :func:`token_source` — how a Pod gets its ServiceAccount token, if it gets one.
- :func:`apply` — ``kubectl apply`` a list of manifests (what the set-up cells seed).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .. import revocation
from ..accounts import LEGACY_SECRET_TYPE
from ..bindings import delete_lab_cluster_bindings
from ..cluster.errors import ClusterError
from ..cluster.waiting import get_or_none, gone, poll_until, read_until
from ..course import Course
from ..pods import TOKEN_DIR
from ..reviews import can_i, review_token, sa_groups, sa_username
from ..tokens import Token
from .checks import NotYet

__all__ = [
    "AUTH_SETTLE",
    "INVALID_SINCE_LABEL",
    "LEGACY_SECRET_TYPE",
    "RBAC_SETTLE",
    "Request",
    "action",
    "apply",
    "as_token",
    "call_status",
    "delete_lab_cluster_bindings",
    "exists",
    "legacy_secrets",
    "live_pods",
    "name_set",
    "plural",
    "pod_trouble",
    "rules_allow",
    "sa_can",
    "sa_can_request",
    "secret_token",
    "set_mismatch",
    "token_source",
    "wait_for_named_pod",
    "wait_for_pods",
    "wait_for_tokens",
    "wait_until_rejected",
    "why_legacy_token_refused",
]

#: Seconds a check asks RBAC again before it says *Not yet*: the authorizer's informers see
#: a new or deleted Role or binding about a second after the API does.
RBAC_SETTLE = 3.0
#: Seconds a check asks about a token again before it says it still works: the API server
#: caches a successful authentication for 10 s.
AUTH_SETTLE = float(revocation.AUTH_CACHE_TTL_SECONDS + 2)
#: The label that makes the API server refuse a legacy token (any non-empty value).
INVALID_SINCE_LABEL = "kubernetes.io/legacy-token-invalid-since"


def action(verb: str, resource: str, group: str = "", subresource: str | None = None) -> str:
    """An RBAC request in words, as ``kubectl auth can-i`` spells it.

    >>> action("get", "pods", subresource="log"), action("list", "deployments", "apps")
    ('get pods/log', 'list deployments.apps')
    """
    res = f"{resource}/{subresource}" if subresource else resource
    return f"{verb} {res}.{group}" if group else f"{verb} {res}"


def rules_allow(
    rules: Iterable[Any],
    verb: str,
    resource: str,
    group: str = "",
    subresource: str | None = None,
) -> bool:
    """Would these RBAC rules allow the request (no resource name), as the authorizer decides?

    ``rules`` are ``V1PolicyRule`` objects or dicts (camelCase keys). ``*`` matches any verb,
    group or resource (subresources included); ``*/log`` any resource's ``log``; a rule with
    ``resourceNames`` never allows a request without a name (such as ``list``).

    >>> rule = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    >>> rules_allow([rule], "list", "pods"), rules_allow([rule], "get", "pods", subresource="log")
    (True, False)
    >>> rules_allow([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], "get", "secrets")
    True
    """
    wanted = f"{resource}/{subresource}" if subresource else resource
    for rule in rules:
        get = rule.get if isinstance(rule, dict) else None

        def field(snake: str, camel: str, rule: Any = rule, get: Any = get) -> list[str]:
            value = get(camel) if get else getattr(rule, snake, None)
            return list(value or [])

        if field("resource_names", "resourceNames"):
            continue
        verbs = field("verbs", "verbs")
        groups = field("api_groups", "apiGroups")
        resources = field("resources", "resources")
        if not ("*" in verbs or verb in verbs):
            continue
        if not ("*" in groups or group in groups):
            continue
        if any(
            r == "*" or r == wanted or (subresource and r == f"*/{subresource}") for r in resources
        ):
            return True
    return False


Grant = tuple[str, str, str]  # (verb, resource[/subresource], API group), "*" kept as written


def _grants(rules: Iterable[Any]) -> set[Grant]:
    """Every (verb, resource, group) a list of rules names, expanded, wildcards kept."""
    out: set[Grant] = set()
    for rule in rules:
        get = rule.get if isinstance(rule, dict) else None

        def field(snake: str, camel: str, rule: Any = rule, get: Any = get) -> list[str]:
            value = get(camel) if get else getattr(rule, snake, None)
            return list(value or [])

        for verb in field("verbs", "verbs"):
            for group in field("api_groups", "apiGroups"):
                for resource in field("resources", "resources"):
                    out.add((verb, resource, group))
    return out


def rules_beyond(
    rules: Iterable[Any], allowed: Iterable[tuple[str, str, str, str | None]]
) -> list[str]:
    """What ``rules`` grant beyond ``allowed`` (verb, resource, group, subresource), any API group.

    Each rule is expanded as RBAC reads it (every verb × group × resource); a wildcard is
    beyond anything but itself. The words are sorted, as ``kubectl auth can-i`` spells them.

    >>> needed = [("get", "pods", "", None), ("get", "pods", "", "log")]
    >>> pods = {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get"]}
    >>> rules_beyond([pods], needed)
    []
    >>> jobs = {"apiGroups": ["", "batch"], "resources": ["jobs"], "verbs": ["create"]}
    >>> rules_beyond([jobs], needed)
    ['create jobs', 'create jobs.batch']
    """
    covered = {(v, f"{r}/{s}" if s else r, g) for v, r, g, s in allowed}
    return sorted(action(v, r, g) for v, r, g in _grants(rules) - covered)


def effective_grants(course: Course, namespace: str, account: str) -> set[Grant]:
    """What RBAC lets a ServiceAccount do in ``namespace``, as the API server lists it.

    A SelfSubjectRulesReview made *as* the account (impersonation: the API server adds its
    groups), so every binding counts, whatever names it and whatever API group it grants.
    The self-reviews every authenticated user may create are left out.
    """
    api = client.ApiClient(course.api.configuration)
    api.set_default_header("Impersonate-User", sa_username(namespace, account))
    try:
        review = client.AuthorizationV1Api(api).create_self_subject_rules_review(
            {"spec": {"namespace": namespace}}
        )
    finally:
        api.close()
    grants = _grants(review.status.resource_rules or [])
    return {
        g
        for g in grants
        if not (g[0] == "create" and g[1].startswith("self") and g[2].endswith(".k8s.io"))
    }


def sa_can(
    authz: client.AuthorizationV1Api,
    sa_namespace: str,
    sa_name: str,
    verb: str,
    resource: str,
    *,
    namespace: str | None,
    group: str = "",
    subresource: str | None = None,
) -> bool:
    """Would RBAC let this ServiceAccount do it? (a SubjectAccessReview with its groups)."""
    status = can_i(
        authz,
        verb,
        resource,
        user=sa_username(sa_namespace, sa_name),
        groups=sa_groups(sa_namespace),
        namespace=namespace,
        group=group,
        subresource=subresource,
    )
    return bool(status.allowed)


#: A request as (verb, resource, API group, subresource), e.g. ("get", "pods", "", "log").
Request = tuple[str, str, str, str | None]


def sa_can_request(
    authz: client.AuthorizationV1Api,
    sa_namespace: str,
    sa_name: str,
    req: Request,
    where: str | None = None,
) -> bool:
    """:func:`sa_can` for a :data:`Request`, in ``where`` (default: the SA's namespace)."""
    verb, resource, group, sub = req
    return sa_can(
        authz,
        sa_namespace,
        sa_name,
        verb,
        resource,
        namespace=sa_namespace if where is None else where,
        group=group,
        subresource=sub,
    )


def call_status(
    course: Course, token: Token | str, call: Callable[[client.ApiClient], object]
) -> tuple[int, str]:
    """Make ``call`` with a client that authenticates with ``token`` only.

    Returns:
        ``(200, "")`` if it worked, else the HTTP status and the server's one-line message.
    """
    from ..errors import from_api_exception

    api = course.client_for_token(token)
    try:
        call(api)
    except ApiException as exc:
        err = from_api_exception(exc)
        return err.status, err.message
    finally:
        api.close()
    return 200, ""


def as_token(value: object, variable: str) -> Token:
    """The learner's token answer as a :class:`Token`, or *Not yet* saying why it is none."""
    if isinstance(value, Token):
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if not isinstance(value, str):
        raise NotYet(
            f"`{variable}` should be a token: the string `kubectl create token` prints, "
            f"or a `Token`; it is a {type(value).__name__}."
        )
    try:
        return Token(value)
    except ValueError:
        raise NotYet(
            f"`{variable}` is not a token (a JWT has three parts separated by dots): "
            "copy the whole output of the command that issued it."
        ) from None


def wait_until_rejected(
    authn: client.AuthenticationV1Api,
    token: Token | str,
    *,
    audiences: Sequence[str] | None = None,
    timeout: float = AUTH_SETTLE,
) -> tuple[bool, float, str]:
    """TokenReview until the token is rejected (the API server caches a success for 10 s).

    :func:`helpers.revocation.wait_until_rejected`, answering instead of raising, since a
    check must never raise.

    Returns:
        ``(rejected, seconds_waited, error)``.
    """
    start = time.monotonic()
    try:
        rejection = revocation.wait_until_rejected(
            authn, token, audiences, timeout=timeout, interval=0.5
        )
    except ClusterError:
        return False, time.monotonic() - start, ""
    return True, rejection.seconds, rejection.error


def why_legacy_token_refused(core: client.CoreV1Api, namespace: str, token: Token) -> str | None:
    """Why the API server would refuse this legacy token, from the objects it reads; or ``None``.

    It accepts a legacy token while its ServiceAccount exists with the UID the token names,
    and its Secret exists (not being deleted), holds that very token and has no non-empty
    ``kubernetes.io/legacy-token-invalid-since`` label (``pkg/serviceaccount/legacy.go``).
    Reading those objects changes nothing, whereas a TokenReview of a legacy token counts
    as a use and sets its last-used label. The API server's own answer may lag this by up
    to 10 s (its cache of successful authentications).
    """
    claims = token.claims
    prefix = "kubernetes.io/serviceaccount/"
    account = claims.get(prefix + "service-account.name", "?")
    secret_name = claims.get(prefix + "secret.name", "?")
    sa = get_or_none(lambda: core.read_namespaced_service_account(account, namespace))
    if sa is None:
        return f"ServiceAccount `{account}` is gone"
    if sa.metadata.uid != claims.get(prefix + "service-account.uid"):
        return f"ServiceAccount `{account}` was deleted and created again (a new UID)"
    if sa.metadata.deletion_timestamp is not None:
        return f"ServiceAccount `{account}` is being deleted"
    secret = get_or_none(lambda: core.read_namespaced_secret(secret_name, namespace))
    if secret is None:
        return f"Secret `{secret_name}` was deleted"
    if secret.metadata.deletion_timestamp is not None:
        return f"Secret `{secret_name}` is being deleted"
    if secret_token(secret) != token:
        return f"Secret `{secret_name}` holds another token"
    if (secret.metadata.labels or {}).get(INVALID_SINCE_LABEL):
        return f"Secret `{secret_name}` is labelled `{INVALID_SINCE_LABEL}`"
    return None


def token_of(
    authn: client.AuthenticationV1Api,
    value: object,
    variable: str,
    namespace: str,
    account: str,
    words: str,
) -> tuple[Token, Any]:
    """The learner's token and its TokenReview, or *Not yet* unless it is ``account``'s.

    ``words`` names the account in the message ("the controller's account").
    """
    token = as_token(value, variable)
    status = review_token(authn, token)
    if not status.authenticated:
        raise NotYet(f"the API server does not accept this token: {status.error}.")
    who = status.user.username
    if who != sa_username(namespace, account):
        raise NotYet(f"this token authenticates as `{who}`, not as {words}.")
    return token, status


def name_set(
    value: object, variable: str, what: str, *, strip_prefix: str | tuple[str, ...] = ""
) -> set[str]:
    """The learner's answer as a set of names, or *Not yet* if it is not a collection.

    Each prefix in ``strip_prefix`` is removed from each name (``kubectl get -o name`` writes
    ``secret/a``).

    >>> sorted(name_set(["ns/a", " b ", "secret/c"], "X", "S", strip_prefix=("ns/", "secret/")))
    ['a', 'b', 'c']
    """
    if isinstance(value, str) or not isinstance(value, set | frozenset | list | tuple):
        raise NotYet(f"`{variable}` should be a set of {what} names, like `{{'a', 'b'}}`.")
    prefixes = (strip_prefix,) if isinstance(strip_prefix, str) else strip_prefix
    names = set()
    for item in value:
        name = str(item).strip()
        for prefix in prefixes:
            name = name.removeprefix(prefix)
        names.add(name)
    return names


def set_mismatch(
    answer: set[str], truth: set[str], why_not: Callable[[str], str], missed: Callable[[int], str]
) -> NotYet:
    """*Not yet* for a set answer: why each extra name is wrong, and how many were missed.

    ``missed(n)`` words the count, e.g. ``lambda n: f"you missed {n} Secret(s)"``.
    """
    problems = [why_not(name) for name in sorted(answer - truth)]
    if truth - answer:
        problems.append(missed(len(truth - answer)))
    return NotYet("; ".join(problems) + ".")


def plural(n: int, word: str) -> str:
    """``word`` with an s unless ``n`` is 1.

    >>> plural(1, "Secret"), plural(2, "Secret")
    ('Secret', 'Secrets')
    """
    return word if n == 1 else word + "s"


def secret_token(secret: client.V1Secret) -> Token | None:
    """The token in a Secret's ``data.token``, or ``None``."""
    encoded = (secret.data or {}).get("token")
    if not encoded:
        return None
    try:
        return Token(base64.b64decode(encoded).decode("ascii"))
    except ValueError:
        return None


def legacy_secrets(core: client.CoreV1Api, namespace: str) -> list[client.V1Secret]:
    """The legacy token Secrets of a namespace (not those being deleted)."""
    return [
        s
        for s in core.list_namespaced_secret(namespace).items
        if s.type == LEGACY_SECRET_TYPE and s.metadata.deletion_timestamp is None
    ]


def exists(read: Callable[[], object]) -> bool:
    """True if ``read()`` finds the object, False on 404."""
    return not gone(read)


def live_pods(
    core: client.CoreV1Api, namespace: str, selector: str | None = None
) -> list[client.V1Pod]:
    """Pods that are not being deleted (a rollout leaves terminating ones behind briefly)."""
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def _running(pod: client.V1Pod) -> bool:
    statuses = pod.status.container_statuses or []
    return pod.status.phase == "Running" and bool(statuses) and all(c.ready for c in statuses)


def pod_trouble(core: client.CoreV1Api, pod: client.V1Pod) -> str | None:
    """Why ``pod`` is not running, in words; ``None`` if it runs.

    A Secret volume whose Secret is gone is named (the Pod then waits forever).
    """
    if _running(pod):
        return None
    for volume in pod.spec.volumes or []:
        if volume.secret is not None and not exists(
            lambda v=volume: core.read_namespaced_secret(
                v.secret.secret_name, pod.metadata.namespace
            )
        ):
            return f"it mounts Secret `{volume.secret.secret_name}`, which does not exist"
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason:
            return waiting.reason
    return f"phase {pod.status.phase}"


def wait_for_pods(
    core: client.CoreV1Api, namespace: str, selector: str | None = None, *, timeout: float = 30
) -> list[client.V1Pod]:
    """Wait until every live Pod (matching ``selector``) runs; return them.

    Returns what there is after ``timeout`` (the caller says what is wrong with it).
    """
    return read_until(
        lambda: live_pods(core, namespace, selector),
        lambda pods: bool(pods) and all(_running(p) for p in pods),
        timeout=timeout,
        interval=0.3,
    )


def wait_for_named_pod(
    core: client.CoreV1Api, namespace: str, name: str, *, timeout: float = 30, absent: float = 3
) -> client.V1Pod | None:
    """Pod ``name`` once it runs (or what it is after ``timeout``); ``None`` if there is none.

    A Pod being deleted counts as gone; one still starting is waited for. A Pod that does
    not exist is waited for only ``absent`` seconds (it may be being re-created).
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        pod = get_or_none(lambda: core.read_namespaced_pod(name, namespace))
        if pod is not None and pod.metadata.deletion_timestamp is not None:
            pod = None
        if pod is not None and (_running(pod) or pod.status.phase in {"Failed", "Succeeded"}):
            return pod
        now = time.monotonic()
        if now > deadline or (pod is None and now > start + absent):
            return pod
        time.sleep(0.3)


def wait_for_tokens(
    core: client.CoreV1Api, namespace: str, names: Iterable[str], timeout: float = 30
) -> dict[str, Token]:
    """Wait until the tokens controller has filled each legacy Secret; return the tokens."""
    pending = list(names)
    tokens: dict[str, Token] = {}

    def all_filled() -> bool:
        for name in list(pending):
            token = secret_token(core.read_namespaced_secret(name, namespace))
            if token is not None:
                tokens[name] = token
                pending.remove(name)
        return not pending

    poll_until(
        all_filled,
        timeout=timeout,
        interval=0.1,
        what=f"the tokens controller to fill the legacy token Secrets in {namespace}",
        error=RuntimeError,
        why=lambda: f"{', '.join(pending)} still empty; is kube-controller-manager running?",
    )
    return tokens


def token_source(core: client.CoreV1Api, pod: client.V1Pod) -> str | None:
    """How ``pod`` gets a ServiceAccount token, in words; ``None`` if it has none.

    Looks for a projected ``serviceAccountToken`` source (what automount adds, or a custom
    projection) and for a Secret volume whose Secret is a legacy token Secret.
    """
    namespace = pod.metadata.namespace
    for volume in pod.spec.volumes or []:
        if volume.projected is not None:
            for source in volume.projected.sources or []:
                if source.service_account_token is not None:
                    return f"a projected token (volume `{volume.name}`)"
        if volume.secret is not None:
            secret = get_or_none(
                lambda volume=volume: core.read_namespaced_secret(
                    volume.secret.secret_name, namespace
                )
            )
            mounted_at_token_dir = any(
                m.name == volume.name and m.mount_path.rstrip("/") == TOKEN_DIR
                for c in pod.spec.containers
                for m in c.volume_mounts or []
            )
            if (secret is not None and secret.type == LEGACY_SECRET_TYPE) or mounted_at_token_dir:
                return f"the Secret `{volume.secret.secret_name}`"
    return None


def apply(course: Course, manifests: Sequence[dict[str, Any]], namespace: str) -> str:
    """``kubectl apply`` the manifests into ``namespace`` (one call, server-side defaults)."""
    text = yaml.safe_dump_all(list(manifests), sort_keys=False)
    return course.kubectl("apply", "-n", namespace, "-f", "-", input=text)
