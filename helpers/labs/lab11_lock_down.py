"""Lab 11: lock down a namespace. Find legacy tokens, stop mounting tokens nobody needs,
move the one workload that calls the API to a projected token.

The scenario (namespace ``lab-11-lock``): three Deployments.

- ``web`` and ``batch`` never call the Kubernetes API, yet get a token (automount).
- ``operator`` lists the Pods of its namespace through the API every two seconds, from
  inside its Pod (:mod:`helpers.workloads`), with a *legacy* token: its Pod mounts the
  Secret ``operator-token`` where the projected token would normally be. Its log shows
  every answer, so "the operator keeps working" is observed, not assumed.
- ``ci-token`` is a forgotten legacy token of ServiceAccount ``ci`` (no workload uses it);
  ``operator-config`` and ``web-settings`` are ordinary Secrets.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubernetes import client

from ..accounts import legacy_token_secret
from ..cluster.errors import ClusterError
from ..cluster.waiting import read_until
from ..course import Course
from ..names import ns
from ..pods import TOKEN_DIR, busybox_pod, read_pod_token
from ..reviews import review_token, sa_username
from ..tokens import Token
from ..workloads import CALL_API, OWN_NAMESPACE, api_caller, api_calls, wait_for_call
from .checks import Lab, NotAttempted, NotYet, Question, run_checks
from .common import (
    AUTH_SETTLE,
    INVALID_SINCE_LABEL,
    apply,
    call_status,
    legacy_secrets,
    live_pods,
    name_set,
    plural,
    pod_trouble,
    set_mismatch,
    token_source,
    wait_for_pods,
    wait_for_tokens,
    wait_until_rejected,
    why_legacy_token_refused,
)

__all__ = ["NAMESPACE", "LockDownLab", "start"]

NAMESPACE = ns("lab-11-lock")
QUIET_APPS = ("web", "batch")  # never call the API
LEGACY = {"operator-token": "operator", "ci-token": "ci"}
RBAC = "rbac.authorization.k8s.io"


#: What the operator GETs every two seconds, from inside its Pod: the Pods of its namespace.
OPERATOR_CALL = f"/api/v1/namespaces/{OWN_NAMESPACE}/pods"


def _deployment(app: str, **pod_options: Any) -> dict[str, Any]:
    if app == "operator":  # the one workload that really calls the API
        pod = api_caller(app, app, [OPERATOR_CALL], labels={"app": app}, **pod_options)
    else:
        pod = busybox_pod(app, app, labels={"app": app}, **pod_options)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "labels": {"app": app}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": pod["spec"]},
        },
    }


def _manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        for name in (*QUIET_APPS, "operator", "ci")
    ]
    docs += [legacy_token_secret(secret, account) for secret, account in LEGACY.items()]
    docs += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": name},
            "stringData": data,
        }
        for name, data in (
            ("operator-config", {"resync": "5m", "watch-namespace": NAMESPACE}),
            ("web-settings", {"greeting": "hello"}),
        )
    ]
    docs += [
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": "operator"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
            ],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "operator"},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "operator"},
            "subjects": [{"kind": "ServiceAccount", "name": "operator"}],
        },
    ]
    docs += [_deployment(app) for app in QUIET_APPS]
    docs.append(
        _deployment(
            "operator",
            automount=False,
            volumes=[{"name": "api-token", "secret": {"secretName": "operator-token"}}],
            volume_mounts=[{"name": "api-token", "mountPath": TOKEN_DIR, "readOnly": True}],
        )
    )
    return docs


def wait_for_rollout(course: Course, namespace: str, name: str, timeout: float = 20) -> Any:
    """The Deployment once its rollout is complete (or as it is after ``timeout``)."""
    apps = client.AppsV1Api(course.api)

    def rolled_out(dep: Any) -> bool:
        want = dep.spec.replicas or 0
        st = dep.status
        return (
            (st.observed_generation or 0) >= dep.metadata.generation
            and (st.updated_replicas or 0) == want
            and (st.replicas or 0) == want
            and (st.available_replicas or 0) == want
        )

    return read_until(
        lambda: apps.read_namespaced_deployment(name, namespace),
        rolled_out,
        timeout=timeout,
        interval=0.3,
    )


def _names(pods: list[client.V1Pod]) -> str:
    return ", ".join(f"`{p.metadata.name}`" for p in pods)


class FindLegacy(Question):
    title = "audit: which Secrets hold legacy tokens?"
    variables = ("LEGACY_SECRETS",)
    hints = (
        "A legacy token lives in a Secret of one particular `type`.",
        "`kubectl get secrets --field-selector type=kubernetes.io/service-account-token` "
        "lists exactly those.",
    )
    solution_code = """
        secrets = course.core.list_namespaced_secret(
            NS, field_selector="type=kubernetes.io/service-account-token"
        ).items
        LEGACY_SECRETS = {s.metadata.name for s in secrets}
        LEGACY_SECRETS
        """

    def evaluate(self, LEGACY_SECRETS: object) -> str:
        lab: LockDownLab = self.lab  # type: ignore[assignment]
        ns = lab.namespace
        answer = name_set(
            LEGACY_SECRETS, "LEGACY_SECRETS", "Secret", strip_prefix=(f"{ns}/", "secret/")
        )
        now = {s.metadata.name for s in legacy_secrets(lab.course.core, ns)}
        if answer in (now, set(LEGACY)):
            return (
                "both never expire, and `ci-token` is used by nobody at all. Bound tokens "
                "replace the one, the other can simply go."
            )
        secrets = {s.metadata.name: s for s in lab.course.core.list_namespaced_secret(ns).items}
        raise set_mismatch(
            answer - (now - set(LEGACY)),  # a legacy Secret the learner added counts as right
            set(LEGACY),
            lambda name: (
                f"`{name}` is an ordinary Secret (type `{secrets[name].type}`)"
                if name in secrets
                else f"there is no Secret `{name}`"
            ),
            lambda n: f"you missed {n} legacy token {plural(n, 'Secret')}",
        )


class NoTokenWhereNotNeeded(Question):
    title = "web and batch: no token, now or later"
    hints = (
        "`automountServiceAccountToken: false` exists on the ServiceAccount and on the Pod "
        "spec; the Pod's setting wins. Which one also covers Pods created tomorrow?",
        "A running Pod keeps the volumes it was created with: after the change, "
        "`kubectl rollout restart` the Deployments and wait for `kubectl rollout status`.",
    )
    solution_code = f"""
        %%bash
        for app in web batch; do
          kubectl -n {NAMESPACE} patch serviceaccount $app \\
              -p '{{"automountServiceAccountToken": false}}'
          kubectl -n {NAMESPACE} rollout restart deployment/$app
        done
        for app in web batch; do
          kubectl -n {NAMESPACE} rollout status deployment/$app --timeout=60s
        done
        """

    def evaluate(self) -> str:
        lab: LockDownLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        accounts = {
            name: course.core.read_namespaced_service_account(name, ns)
            for name in (*QUIET_APPS, "default")
        }
        versions = {name: sa.metadata.resource_version for name, sa in accounts.items()}
        apps = client.AppsV1Api(course.api)
        generations = {
            app: apps.read_namespaced_deployment(app, ns).metadata.generation for app in QUIET_APPS
        }
        initial = {app: lab.initial_generations[app] for app in QUIET_APPS}
        if versions == lab.initial_accounts and generations == initial:
            raise NotAttempted(
                "the ServiceAccounts and Deployments `web` and `batch` are as the lab made them."
            )
        problems = run_checks([lambda app=app: self._no_token(app) for app in QUIET_APPS])
        if accounts["default"].automount_service_account_token is False and any(
            "would still get" in p for p in problems
        ):
            problems.append(
                "ServiceAccount `default` hands out no token now, but `web` and `batch` do not "
                "run as `default`"
            )
        if problems:
            raise NotYet("; ".join(problems) + ".")
        open_accounts = [
            a for a in QUIET_APPS if accounts[a].automount_service_account_token is not False
        ]
        if not open_accounts:
            return (
                "`web` and `batch` run without a token, and their ServiceAccounts give none to "
                "future Pods either. A stolen container of theirs holds no credential at all."
            )
        listed = " and ".join(f"`{a}`" for a in open_accounts)
        accounts_words = (
            f"ServiceAccount {listed} would still give one to any other Pod that runs as it"
            if len(open_accounts) == 1
            else f"ServiceAccounts {listed} would still give one to any other Pod that runs as them"
        )
        return (
            "`web` and `batch` run without a token, and their Pod templates opt out, so a "
            "restart or a scale-up brings none either (the API server, asked for a new Pod, "
            f"adds no token). {accounts_words}: `automountServiceAccountToken: false` on a "
            "ServiceAccount covers those too."
        )

    def _no_token(self, app: str) -> None:
        """Deployment ``app`` runs, its Pods hold no token, and a new Pod of it would get none."""
        lab: LockDownLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        dep = wait_for_rollout(course, ns, app)
        if not dep.spec.replicas:
            raise NotYet(f"Deployment `{app}` is scaled to 0: lock it down, keep it running")
        pods = wait_for_pods(course.core, ns, f"app={app}", timeout=10)
        problems = [
            f"Pod `{pod.metadata.name}` does not run: {trouble}"
            for pod in pods
            if (trouble := pod_trouble(course.core, pod))
        ]
        with_token = [p for p in pods if token_source(course.core, p)]
        if with_token:
            problems.append(
                f"Pod {_names(with_token)} of `{app}` still mounts a token (a Pod keeps the "
                "volumes it was created with)"
            )
        source = token_source(course.core, _next_pod(course, ns, dep))
        if source:
            template = dep.spec.template.spec
            account = template.service_account_name or "default"
            if "kube-api-access-" not in source:
                why = "its Pod template mounts it itself"
            elif template.automount_service_account_token:
                why = "its Pod template asks for one (`automountServiceAccountToken: true` wins)"
            else:
                why = (
                    f"ServiceAccount `{account}` gives every new Pod a token unless the Pod "
                    "template says otherwise"
                )
            problems.append(
                f"a new Pod of `{app}` (a restart, a scale-up) would still get {source}: {why}"
            )
        if problems:
            raise NotYet("; ".join(problems))


def _next_pod(course: Course, namespace: str, dep: Any) -> client.V1Pod:
    """The Pod the Deployment would create next, as the API server admits it (a dry run).

    Admission (the ServiceAccount plugin) adds the token volume here, exactly as it would
    for a real new Pod, so the answer covers every way to turn automounting off.
    """
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(generate_name=f"{dep.metadata.name}-next-"),
        spec=dep.spec.template.spec,
    )
    return course.core.create_namespaced_pod(namespace, body, dry_run="All")


class RetireLegacy(Question):
    title = "operator: a projected token instead of the legacy one"
    hints = (
        "The operator's Deployment turns automount off and mounts Secret `operator-token` at "
        f"`{TOKEN_DIR}`. What must change so that the kubelet puts a projected token there?",
        "Change the Deployment first and wait for the rollout; then delete every legacy token "
        "Secret. The other order breaks the operator (its old Pod keeps a revoked token).",
    )
    solution_code = f"""
        %%bash
        # 1. let the operator's Pods get a projected token: drop the Secret volume, allow automount
        kubectl -n {NAMESPACE} patch deployment operator --type=json -p '[
          {{"op": "remove", "path": "/spec/template/spec/volumes"}},
          {{"op": "remove", "path": "/spec/template/spec/containers/0/volumeMounts"}},
          {{"op": "replace", "value": true,
            "path": "/spec/template/spec/automountServiceAccountToken"}}
        ]'
        kubectl -n {NAMESPACE} rollout status deployment/operator --timeout=60s
        # 2. retire every legacy token Secret of the namespace
        kubectl -n {NAMESPACE} delete secret \\
            --field-selector type=kubernetes.io/service-account-token
        """

    def evaluate(self) -> str:
        lab: LockDownLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        apps = client.AppsV1Api(course.api)
        generation = apps.read_namespaced_deployment("operator", ns).metadata.generation
        remaining = sorted(s.metadata.name for s in legacy_secrets(course.core, ns))
        if generation == lab.initial_generations["operator"] and remaining == sorted(LEGACY):
            raise NotAttempted("Deployment `operator` and the legacy token Secrets are unchanged.")
        problems = self._operator_runs() + self._no_legacy_secret_left(remaining)
        if problems:
            raise NotYet("; ".join(problems) + ".")
        for name, token in lab.legacy_tokens.items():
            rejected, _, _ = wait_until_rejected(course.authn, token)
            if not rejected:
                raise NotYet(f"the API server still accepts the token of `{name}`.")
        return (
            "the operator authenticates with a projected token bound to its Pod (rotated by "
            "the kubelet, dead with the Pod), and no legacy token is left in the namespace."
        )

    def _operator_runs(self) -> list[str]:
        """The operator's Pods run, with a projected token that works (their own log says so)."""
        lab: LockDownLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        stuck = any(
            "does not exist" in (pod_trouble(course.core, p) or "")
            for p in live_pods(course.core, ns, "app=operator")
        )
        wait = 0 if stuck else 20  # a Pod whose Secret is gone never starts: do not wait
        dep = wait_for_rollout(course, ns, "operator", timeout=wait)
        pods = live_pods(course.core, ns, "app=operator")
        if dep.spec.replicas and not stuck:
            pods = wait_for_pods(course.core, ns, "app=operator", timeout=10)
        problems = []
        if not [p for p in pods if pod_trouble(course.core, p) is None]:
            problems.append("Deployment `operator` has no running Pod: the operator is down")
        for pod in pods:
            trouble = pod_trouble(course.core, pod)
            if trouble:
                problems.append(f"Pod `{pod.metadata.name}` cannot start: {trouble}")
            else:
                problems += self._pod_problems(pod)
        return problems

    def _no_legacy_secret_left(self, remaining: list[str]) -> list[str]:
        """What each legacy token Secret still in the namespace means."""
        lab: LockDownLab = self.lab  # type: ignore[assignment]
        secrets = {s.metadata.name: s for s in legacy_secrets(lab.course.core, lab.namespace)}
        marked = [
            n
            for n in remaining
            if n in secrets and (secrets[n].metadata.labels or {}).get(INVALID_SINCE_LABEL)
        ]
        valid = [n for n in remaining if n not in marked]
        problems = []
        if valid:
            names = ", ".join(f"`{n}`" for n in valid)
            verb = "holds a legacy token" if len(valid) == 1 else "hold legacy tokens"
            problems.append(f"{names} still {verb}, valid until deleted")
        if marked:
            names = ", ".join(f"`{n}`" for n in marked)
            one = len(marked) == 1
            problems.append(
                f"{names} {'is' if one else 'are'} marked `{INVALID_SINCE_LABEL}`, so the API "
                f"server refuses {'its token' if one else 'their tokens'}, but a label is removed "
                "in a second and the token works again: once nothing complains, delete the "
                f"{'Secret' if one else 'Secrets'}"
            )
        return problems

    def _pod_problems(self, pod: client.V1Pod) -> list[str]:
        lab: LockDownLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        name = pod.metadata.name
        try:
            token = read_pod_token(course.core, ns, name)
        except (RuntimeError, ValueError):
            return [f"Pod `{name}` has no token at `{TOKEN_DIR}/token`, but the operator needs one"]
        if token.kind == "legacy":
            broken = not review_token(course.authn, token).authenticated or self._refused(
                name, token
            )
            why = ", which the API server now rejects: the operator is broken" if broken else ""
            source = token_source(course.core, pod) or "a Secret"
            return [f"Pod `{name}` still reads a legacy token, from {source}{why}"]
        status = review_token(course.authn, token)
        if not status.authenticated:
            return [f"the API server rejects the token of Pod `{name}`: {status.error}"]
        if status.user.username != sa_username(ns, "operator"):
            return [f"Pod `{name}` authenticates as `{status.user.username}`, not as `operator`"]
        code, message = call_status(
            course, token, lambda api: client.CoreV1Api(api).list_namespaced_pod(ns)
        )
        if code != 200:
            return [f"with the token of Pod `{name}`, listing Pods fails: {code} {message}"]
        return self._operator_worked(name)

    def _refused(self, name: str, token: Token) -> bool:
        """True once the operator in Pod ``name`` logs a 401 (within the 10 s auth cache)."""
        lab: LockDownLab = self.lab  # type: ignore[assignment]
        if why_legacy_token_refused(lab.course.core, lab.namespace, token) is None:
            return False  # its token is still valid
        try:
            wait_for_call(lab.course.core, lab.namespace, name, status=401, timeout=AUTH_SETTLE)
        except ClusterError:
            return False
        return True

    def _operator_worked(self, name: str) -> list[str]:
        """What the operator in Pod ``name`` logged: every call answered, none refused."""
        lab: LockDownLab = self.lab  # type: ignore[assignment]
        core, ns = lab.course.core, lab.namespace
        try:
            wait_for_call(core, ns, name, timeout=15)
        except ClusterError:
            return [
                f"Pod `{name}` does not call the API (its log is empty): keep the operator's "
                f"image and command (`{CALL_API} …`); only its token should change"
            ]
        failed = [c for c in api_calls(core, ns, name) if c.status != 200]
        if failed:
            return [f"the operator in Pod `{name}` was refused: its log shows {failed[-1]}"]
        return []


class LockDownLab(Lab):
    """The scenario; it records the starting state so a check can tell what changed."""

    question_types: ClassVar[tuple[type[Question], ...]] = (
        FindLegacy,
        NoTokenWhereNotNeeded,
        RetireLegacy,
    )
    legacy_tokens: dict[str, Token]
    initial_accounts: dict[str, str]
    initial_generations: dict[str, int]

    def set_up(self) -> LockDownLab:
        course, ns = self.course, self.namespace
        self.fresh()
        apply(course, _manifests(), ns)
        self.legacy_tokens = wait_for_tokens(course.core, ns, LEGACY)
        for app in (*QUIET_APPS, "operator"):
            wait_for_rollout(course, ns, app)
        wait_for_pods(course.core, ns)
        # the operator works with its legacy token: its own log says so
        (operator,) = live_pods(course.core, ns, "app=operator")
        wait_for_call(course.core, ns, operator.metadata.name, status=200, timeout=30)
        self.initial_accounts = {
            name: course.core.read_namespaced_service_account(name, ns).metadata.resource_version
            for name in (*QUIET_APPS, "default")
        }
        apps = client.AppsV1Api(course.api)
        self.initial_generations = {
            app: apps.read_namespaced_deployment(app, ns).metadata.generation
            for app in (*QUIET_APPS, "operator")
        }
        return self


def start(course: Course, namespace: str = NAMESPACE) -> LockDownLab:
    """Seed the scenario in ``namespace`` (deleting an old one first) and return the lab."""
    return LockDownLab(course, namespace).set_up()
