"""Lab 07: 401 or 403? Diagnose two broken workloads with TokenReview and fix each.

The scenario (namespace ``lab-07-diag``): two workloads that list the ConfigMaps of their
namespace every two seconds, from inside their Pod, with the token they find there
(:mod:`helpers.workloads`) — and both fail; their own logs show it.

- ``reporter`` presents a token the API server rejects (401): someone copied a projected
  volume written for an external reporting service, so the token's audience is
  ``https://reports.example.com``, not the API server.
- ``syncer`` authenticates fine, but RBAC says no (403): its RoleBinding names the
  ServiceAccount ``syncer`` of namespace ``default`` (copied from another cluster).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from kubernetes import client

from ..cluster.config import TOOLS_IMAGE
from ..cluster.errors import ClusterError
from ..course import Course
from ..names import ns
from ..pods import TOKEN_DIR, read_pod_token
from ..reviews import review_token, sa_username
from ..tokens import Token
from ..workloads import CALL_API, OWN_NAMESPACE, ApiCall, api_caller, api_calls, wait_for_call
from .checks import Lab, NotAttempted, NotYet, Question, run_checks, settle
from .common import (
    RBAC_SETTLE,
    Request,
    action,
    apply,
    call_status,
    sa_can_request,
    wait_for_named_pod,
    wait_for_pods,
)

__all__ = ["NAMESPACE", "DiagnoseLab", "start"]

NAMESPACE = ns("lab-07-diag")
WRONG_AUDIENCE = "https://reports.example.com"
ROLE = "configmap-reader"
SYNCER_BINDING = "syncer-configmaps"
RBAC = "rbac.authorization.k8s.io"
#: What both workloads GET, every two seconds: the ConfigMaps of their own namespace.
CONFIGMAPS = f"/api/v1/namespaces/{OWN_NAMESPACE}/configmaps"

#: requests neither workload may make (over-granting is not a fix)
NOT_NEEDED = (
    ("delete", "configmaps", "", None),
    ("get", "secrets", "", None),
    ("list", "secrets", "", None),
    ("create", "pods", "", None),
    ("create", "rolebindings", RBAC, None),
)


def _reporter_pod() -> dict[str, Any]:
    """reporter's Pod: its token is projected for the reporting service, not the API."""
    volume = {
        "name": "api-token",
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": WRONG_AUDIENCE,
                        "expirationSeconds": 3600,
                        "path": "token",
                    }
                },
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
            ]
        },
    }
    mount = {"name": "api-token", "mountPath": TOKEN_DIR, "readOnly": True}
    return api_caller(
        "reporter",
        "reporter",
        [CONFIGMAPS],
        automount=False,
        volumes=[volume],
        volume_mounts=[mount],
        labels={"app": "reporter"},
    )


def _manifests() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reporter"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "syncer"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"interval": "30s"},
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": ROLE},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
            ],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reporter-configmaps"},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": "reporter"}],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": SYNCER_BINDING},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": "syncer", "namespace": "default"}],
        },
        _reporter_pod(),
        api_caller("syncer", "syncer", [CONFIGMAPS], labels={"app": "syncer"}),
    ]


def _list_configmaps(namespace: str) -> Any:
    return lambda api: client.CoreV1Api(api).list_namespaced_config_map(namespace)


def _status_code(value: object, variable: str) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        return value
    match = re.match(r"\s*(\d{3})\b", value) if isinstance(value, str) else None
    if match:
        return int(match.group(1))
    raise NotYet(f"`{variable}` should be an HTTP status code, a number such as `404`.")


class Diagnose(Question):
    title = "401 or 403?"
    variables = ("REPORTER_STATUS", "SYNCER_STATUS")
    hints = (
        "Each workload logs every request it makes, with the status it got: "
        f"`kubectl -n {NAMESPACE} logs reporter`. To see it for yourself, do what each "
        "workload does: read the token from its Pod (`read_pod_token`) and list the "
        "ConfigMaps of the namespace with a client that uses only that token "
        "(`course.client_for_token`). The error's `.status` is the HTTP status.",
        "401 means the API server does not accept the token at all; 403 means it knows who "
        "you are and RBAC refuses. `review_token` tells you which one it is.",
    )
    solution_code = """
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from helpers import read_pod_token

        def status_of(pod):
            token = read_pod_token(course.core, NS, pod)  # what the workload sends
            api = client.CoreV1Api(course.client_for_token(token))
            try:
                api.list_namespaced_config_map(NS)
                return 200
            except ApiException as err:
                return err.status

        REPORTER_STATUS, SYNCER_STATUS = status_of("reporter"), status_of("syncer")
        REPORTER_STATUS, SYNCER_STATUS
        """

    def evaluate(self, REPORTER_STATUS: object, SYNCER_STATUS: object) -> str:
        lab: DiagnoseLab = self.lab  # type: ignore[assignment]
        answers = {
            "reporter": _status_code(REPORTER_STATUS, "REPORTER_STATUS"),
            "syncer": _status_code(SYNCER_STATUS, "SYNCER_STATUS"),
        }
        wrong = [w for w, code in answers.items() if code != lab.initial_status[w]]
        if wrong:
            names = " and ".join(f"`{w.upper()}_STATUS`" for w in wrong)
            verb = "is" if len(wrong) == 1 else "are"
            raise NotYet(
                f"{names} {verb} not what the API server answered. Make each workload's "
                "request with the token from its Pod and read the error's status."
            )
        return (
            "`reporter` gets 401: the API server does not accept its token (authentication "
            "failed), so RBAC is never asked. `syncer` gets 403: the API server knows exactly "
            "who it is, and RBAC refuses. Fix a 401 on the token, a 403 in the bindings."
        )


class FixToken(Question):
    title = "fix reporter (the 401)"
    hints = (
        "`review_token(course.authn, read_pod_token(course.core, NS, 'reporter'))` says why "
        "the token is rejected. Then look at the Pod's volumes "
        "(`kubectl get pod reporter -o yaml`).",
        "A Pod's volumes cannot be changed: delete the Pod and create it again, as "
        "ServiceAccount `reporter`, with a token meant for the API server.",
    )
    solution_code = f"""
        %%bash
        kubectl -n {NAMESPACE} delete pod reporter --wait=true
        kubectl -n {NAMESPACE} apply -f - <<'EOF'
        apiVersion: v1
        kind: Pod
        metadata:
          name: reporter
          labels: {{app: reporter}}
        spec:
          serviceAccountName: reporter   # automount gives it a token for the API server
          terminationGracePeriodSeconds: 1
          containers:
          - name: main                   # the workload itself, unchanged
            image: {TOOLS_IMAGE}
            imagePullPolicy: IfNotPresent
            command: ["{CALL_API}", "{CONFIGMAPS}"]
            env:
            - name: POD_NAMESPACE
              valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}
        EOF
        kubectl -n {NAMESPACE} wait --for=condition=Ready pod/reporter --timeout=60s
        """
    solution_note = (
        "Dropping the custom projection lets the ServiceAccount admission plugin add the "
        "usual `kube-api-access-…` volume. A projection with `audience` left out works too."
    )

    def evaluate(self) -> str:
        lab: DiagnoseLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        pod = wait_for_named_pod(course.core, ns, "reporter")
        if pod is None:
            raise NotYet("there is no Pod `reporter` now: create it again.")
        if pod.metadata.uid == lab.initial_uids["reporter"]:
            raise NotAttempted("Pod `reporter` is still the one the lab created.")
        if pod.status.phase != "Running":
            raise NotYet(f"Pod `reporter` is not running (phase {pod.status.phase}).")
        account = pod.spec.service_account_name
        if account != "reporter":
            raise NotYet(
                f"the new Pod runs as ServiceAccount `{account}`; reporter's permissions belong "
                "to ServiceAccount `reporter`: keep it."
            )
        try:
            token = read_pod_token(course.core, ns, "reporter")
        except (RuntimeError, ValueError):
            raise NotYet(
                f"the new Pod has no token at `{TOKEN_DIR}/token`: the program would have no "
                "credential at all."
            ) from None
        status = review_token(course.authn, token)
        if not status.authenticated:
            raise NotYet(
                f"the API server still rejects the token in Pod `reporter`: {status.error}."
            )
        who = status.user.username
        if who != sa_username(ns, "reporter"):
            raise NotYet(f"the token in Pod `reporter` authenticates as `{who}`.")
        if token.kind == "legacy":
            raise NotYet(
                "the API server accepts it, but it is a legacy token that never expires: "
                "give the Pod a projected token instead."
            )
        code, message = call_status(course, token, _list_configmaps(ns))
        if code != 200:
            raise NotYet(f"with the Pod's token, listing ConfigMaps fails: {code} {message}")
        call = _own_call(course, ns, "reporter", after=pod.status.start_time)
        if call.status != 200:
            raise NotYet(f"the token is fine, but the workload's own calls still fail: {call}.")
        return (
            "the Pod now presents a token for the API server's audience; it authenticates as "
            "`reporter` and lists ConfigMaps. The old token was valid, just for another service "
            "(`aud`): that is a 401, and no RoleBinding could ever fix it."
        )


class FixBinding(Question):
    title = "fix syncer (the 403)"
    hints = (
        f"`kubectl auth can-i list configmaps -n {NAMESPACE} "
        f"--as=system:serviceaccount:{NAMESPACE}:syncer` agrees with the 403. Which bindings "
        "mention syncer, and exactly which account do they name?",
        "A ServiceAccount subject is namespace *and* name. Grant what syncer needs and no more: "
        "no ClusterRole `edit` or `cluster-admin`, no groups.",
    )
    solution_code = f"""
        %%bash
        kubectl -n {NAMESPACE} get rolebinding {SYNCER_BINDING} -o jsonpath='{{.subjects}}{{"\\n"}}'
        kubectl -n {NAMESPACE} patch rolebinding {SYNCER_BINDING} --type=json \\
            -p '[{{"op": "replace", "path": "/subjects/0/namespace", "value": "{NAMESPACE}"}}]'
        kubectl auth can-i list configmaps -n {NAMESPACE} \\
            --as=system:serviceaccount:{NAMESPACE}:syncer
        """

    def evaluate(self) -> str:
        lab: DiagnoseLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace

        def can(account: str, req: Request, where: str = ns) -> bool:
            return sa_can_request(course.authz, ns, account, req, where)

        bindings = course.rbac.list_namespaced_role_binding(ns).items
        now = {b.metadata.name: b.metadata.resource_version for b in bindings}
        if now == lab.initial_bindings and not can("syncer", LIST_CONFIGMAPS):
            raise NotAttempted("the RoleBindings of the namespace are as the lab created them.")

        pod_token = self._pod_token()

        def rbac_allows_just_that() -> None:
            problems = run_checks(
                [
                    lambda: _may("syncer", LIST_CONFIGMAPS, can),
                    lambda: _nothing_more("syncer", can),
                    lambda: _nowhere_else("syncer", can),
                    lambda: _nobody_else(ns, can),
                ]
            )
            if problems:
                raise NotYet("; ".join(problems) + ".")
            code, message = call_status(course, pod_token, _list_configmaps(ns))
            if code != 200:
                raise NotYet(
                    f"with the token in Pod `syncer`, listing ConfigMaps still fails: "
                    f"{code} {message}"
                )

        settle(rbac_allows_just_that, RBAC_SETTLE)  # RBAC sees a new binding a moment later
        call = _own_call(course, ns, "syncer", status=200)
        if call.status != 200:
            raise NotYet(f"RBAC allows it, but the workload's own calls still fail: {call}.")
        return (
            "the token in Pod `syncer` now lists ConfigMaps: same token, same Pod, no restart. "
            "A 403 is never about the token; RBAC is evaluated on every request."
        )

    def _pod_token(self) -> Token:
        lab: DiagnoseLab = self.lab  # type: ignore[assignment]
        try:
            return read_pod_token(lab.course.core, lab.namespace, "syncer")
        except Exception:
            raise NotYet(
                "Pod `syncer` has no readable token any more; it did not need changing. "
                "Re-run the set-up cell to get it back."
            ) from None


LIST_CONFIGMAPS: Request = ("list", "configmaps", "", None)
Can = Callable[..., bool]


def _may(account: str, req: Request, can: Can) -> None:
    if not can(account, req):
        raise NotYet(
            f"ServiceAccount `{account}` still may not `{action(*req)}` (a 403 for the workload)"
        )


def _nothing_more(account: str, can: Can) -> None:
    extra = [req for req in NOT_NEEDED if can(account, req)]
    if extra:
        words = ", ".join(f"`{action(*req)}`" for req in extra)
        raise NotYet(f"`{account}` may also {words}: that is more than it needs")


def _nowhere_else(account: str, can: Can) -> None:
    if can(account, LIST_CONFIGMAPS, "kube-system"):
        raise NotYet(f"`{account}` may list ConfigMaps in other namespaces too")


def _nobody_else(ns: str, can: Can) -> None:
    if can("default", LIST_CONFIGMAPS):
        raise NotYet(f"every ServiceAccount of `{ns}` (`default`, for one) may list ConfigMaps now")


def _own_call(course: Course, ns: str, pod: str, **match: Any) -> ApiCall:
    """The workload's newest call that matches (by default any); NotYet if it makes none."""
    try:
        return wait_for_call(course.core, ns, pod, timeout=15, **match)
    except ClusterError:
        calls = api_calls(course.core, ns, pod)
        if calls:
            return calls[-1]
        raise NotYet(
            f"Pod `{pod}` does not call the API (its log is empty): keep the workload's image "
            f"and command (`{CALL_API} …`); only its credentials are broken."
        ) from None


class DiagnoseLab(Lab):
    """The scenario; it records what each workload got before any fix."""

    question_types: ClassVar[tuple[type[Question], ...]] = (Diagnose, FixToken, FixBinding)
    initial_status: dict[str, int]
    initial_uids: dict[str, str]
    initial_bindings: dict[str, str]

    def set_up(self) -> DiagnoseLab:
        course, ns = self.course, self.namespace
        self.fresh()
        apply(course, _manifests(), ns)
        pods = wait_for_pods(course.core, ns)
        self.initial_uids = {p.metadata.name: p.metadata.uid for p in pods}
        # what each workload got, from its own log (and the same request, replayed)
        self.initial_status = {}
        for name in ("reporter", "syncer"):
            own = wait_for_call(course.core, ns, name, timeout=30).status
            token = read_pod_token(course.core, ns, name)
            replayed, _ = call_status(course, token, _list_configmaps(ns))
            if own != replayed:
                raise RuntimeError(f"Workload {name} logged {own}, but its token gets {replayed}.")
            self.initial_status[name] = own
        if self.initial_status != {"reporter": 401, "syncer": 403}:
            raise RuntimeError(
                f"The lab's workloads should fail with 401 and 403, not {self.initial_status}."
            )
        self.initial_bindings = {
            b.metadata.name: b.metadata.resource_version
            for b in course.rbac.list_namespaced_role_binding(ns).items
        }
        return self


def start(course: Course, namespace: str = NAMESPACE) -> DiagnoseLab:
    """Seed the scenario in ``namespace`` (deleting an old one first) and return the lab."""
    return DiagnoseLab(course, namespace).set_up()
