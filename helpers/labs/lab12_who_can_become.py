"""Lab 12: who can become the payments ServiceAccount, a proof, and the least change that stops one.

The scenario (namespace ``lab-12-become``): ``payments`` holds ``edit`` in the namespace and
has an old legacy token Secret, ``payments-token``. Five other accounts hold narrow-looking
grants: ``ci-runner`` may create Pods and read their logs, ``support`` may read one Secret
(``payments-token``), ``ops`` may mint tokens (every account of the namespace: no names),
``viewer`` has ``view``, ``auditor`` may read Pods and ConfigMaps. ``ops-bot`` is the robot
``ops`` is supposed to mint tokens for. ``helpdesk`` may impersonate ``reporter`` (the old,
all-or-nothing ``impersonate``), though it only needs to read Pods as ``reporter``; ``reporter``
reads Pods and writes ConfigMaps for its own job.

Every check asks the API server (SubjectAccessReview, TokenReview) and, where the course can
see it, the audit log, never the shape of the Roles: any correct way is recognised. Which
paths count is :func:`helpers.become.ways_in`'s: every path notebook 12 names (its seven,
workloads, exec — ``get`` alone before Kubernetes 1.35 —, ephemeral containers,
``nodes/proxy``, approving client certificates, webhook configurations).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any, ClassVar

from kubernetes import client

from ..accounts import create_token
from ..auditlog import ISSUED_CREDENTIAL_ID, audit_log
from ..become import attempt, exec_needs_create, impersonation_constrained, may, ways_in
from ..course import Course
from ..errors import CourseApiError, Forbidden
from ..facts import feature_gates, kubernetes_version
from ..legacy import wait_for_legacy_token
from ..names import ns
from ..reviews import sa_username
from .checks import Lab, NotAttempted, NotYet, Question, settle
from .common import (
    AUTH_SETTLE,
    RBAC_SETTLE,
    apply,
    name_set,
    plural,
    set_mismatch,
    token_of,
)

__all__ = ["NAMESPACE", "WhoCanBecomeLab", "start"]

NAMESPACE = ns("lab-12-become")
TARGET = "payments"
ACCOUNTS = (
    "payments", "ci-runner", "support", "ops", "ops-bot", "viewer", "auditor", "helpdesk",
    "reporter",
)  # fmt: skip
RBAC = "rbac.authorization.k8s.io"


def _role(name: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Role and the RoleBinding that gives it to the ServiceAccount of the same name."""
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": name}, "rules": rules},
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name}],
        },
    ]


def _cluster_role_binding(account: str, cluster_role: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": f"{account}-{cluster_role}"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": cluster_role},
        "subjects": [{"kind": "ServiceAccount", "name": account}],
    }


def _manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        for name in ACCOUNTS
    ]
    docs += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": "payments-token",
                "annotations": {"kubernetes.io/service-account.name": TARGET},
            },
        },
        _cluster_role_binding(TARGET, "edit"),
        _cluster_role_binding("viewer", "view"),
        *_role(
            "ci-runner",
            [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            ],
        ),
        *_role(
            "support",
            [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": ["payments-token"],
                    "verbs": ["get"],
                }
            ],
        ),
        *_role(
            "ops",
            [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}],
        ),
        *_role(
            "auditor",
            [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list"]}],
        ),
        *_role(
            "reporter",
            [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]},
            ],
        ),
        *_role(
            "helpdesk",
            [
                {
                    "apiGroups": [""],
                    "resources": ["serviceaccounts"],
                    "resourceNames": ["reporter"],
                    "verbs": ["impersonate"],
                }
            ],
        ),
    ]
    return docs


def exec_create(course: Course) -> bool:
    """Does exec over WebSocket need ``create`` on this cluster (1.35+, gate on)?"""
    try:
        gates = feature_gates(course)
    except CourseApiError:  # /metrics out of reach: the version decides
        gates = {}
    return exec_needs_create(kubernetes_version(course), gates)


def ways_to_become(
    lab: Lab,
    account: str,
    target: str = TARGET,
    *,
    first: bool = False,
    needs_create: bool | None = None,
) -> list[str]:
    """The paths RBAC gives ``account`` to act as ``target``, as the API server answers.

    With ``first``, only the first one found (or none): enough to know there is one.
    ``needs_create``: :func:`exec_create`'s answer, if the caller has it already (it reads
    the API server's metrics, several megabytes).
    """
    course, ns = lab.course, lab.namespace
    secrets = [
        s.metadata.name
        for s in course.core.list_namespaced_secret(ns).items
        if s.type == "kubernetes.io/service-account-token"
        and (s.metadata.annotations or {}).get("kubernetes.io/service-account.name") == target
    ]
    ways = ways_in(
        course.authz,
        ns,
        account,
        target,
        legacy_secrets=secrets,
        bindings=course.rbac.list_namespaced_role_binding(ns).items,
        exec_create=exec_create(course) if needs_create is None else needs_create,
    )
    return list(islice(ways, 1) if first else ways)


class FindThem(Question):
    title = "who can act as payments?"
    variables = ("BECOMERS",)
    hints = (
        "Notebook 12's paths: `create pods` (and workloads: Deployments, Jobs …), exec, "
        "`create serviceaccounts/token`, reading a legacy token Secret, `impersonate`, "
        "`bind`, `escalate`, and cluster-wide `nodes/proxy`, CSR approval, webhooks. Ask "
        "RBAC about each account, don't read Roles.",
        "`helpers.become.may(course.authz, NS, account, 'create pods')` asks a "
        "SubjectAccessReview; `name=` covers `resourceNames` (the token of `payments`, the "
        "Secret `payments-token`); `nodes/proxy` it asks cluster-wide, as the kubelet does.",
    )
    solution_code = """
        from helpers.become import may

        secrets = [s.metadata.name for s in course.core.list_namespaced_secret(NS).items
                   if s.type == "kubernetes.io/service-account-token"]
        accounts = [a.metadata.name for a in course.core.list_namespaced_service_account(NS).items]
        asks = [("create pods", None), ("create deployments.apps", None),
                ("create jobs.batch", None), ("create pods/exec", None),
                ("create serviceaccounts/token", "payments"),
                ("impersonate serviceaccounts", "payments"), ("get nodes/proxy", None),
                *[("get secrets", s) for s in secrets]]
        BECOMERS = {account for account in accounts if account != "payments"
                    and any(may(course.authz, NS, account, p, name=n) for p, n in asks)}
        BECOMERS
        """

    def evaluate(self, BECOMERS: object) -> str:
        lab = self.lab
        assert lab is not None
        ns = lab.namespace
        answer = name_set(
            BECOMERS, "BECOMERS", "ServiceAccount", strip_prefix=f"system:serviceaccount:{ns}:"
        )
        accounts = {
            sa.metadata.name for sa in lab.course.core.list_namespaced_service_account(ns).items
        }
        needs_create = exec_create(lab.course)
        first = {
            a: ways
            for a in accounts - {TARGET}
            if (ways := ways_to_become(lab, a, first=True, needs_create=needs_create))
        }
        truth = set(first)
        if answer == truth:
            paths = "; ".join(f"`{a}`: {first[a][0]}" for a in sorted(truth))
            return (
                f"{paths}. None of them holds `payments`' permissions, and each can use them: "
                "count these grants as the target's own."
            )
        raise set_mismatch(
            answer,
            truth,
            lambda name: (
                f"`{name}` is `payments` itself"
                if name == TARGET
                else f"`{name}` cannot act as `payments`: RBAC gives it none of the paths"
                if name in accounts
                else f"there is no ServiceAccount `{name}` in `{ns}`"
            ),
            lambda n: f"you missed {n} {plural(n, 'account')} that can act as `payments`",
        )


class ProveIt(Question):
    title = "prove it: mint payments' token with ops's credential only"
    variables = ("TOKEN",)
    hints = (
        "First a token of `ops` (that is you, handing ops its credential), then a client "
        "that uses only that token: `course.client_for_token(ops_token)`.",
        "With that client's `CoreV1Api`, `helpers.accounts.create_token(..., NS, 'payments')` "
        "is a TokenRequest made *by ops*.",
    )
    solution_code = """
        from kubernetes import client
        from helpers.accounts import create_token

        ops_token, _ = create_token(course.core, NS, "ops", expiration_seconds=600)
        as_ops = client.CoreV1Api(course.client_for_token(ops_token))
        TOKEN, _ = create_token(as_ops, NS, "payments", expiration_seconds=600)
        TOKEN
        """

    def evaluate(self, TOKEN: object) -> str:
        lab = self.lab
        assert lab is not None
        course, ns = lab.course, lab.namespace
        token, _ = token_of(course.authn, TOKEN, "TOKEN", ns, TARGET, "`payments`")
        if token.kind == "legacy":
            raise NotYet(
                "this is `payments`' legacy token (support's path, and it never expires); "
                "the question asks for a fresh token minted by `ops`."
            )
        log = audit_log(course)
        if log is None:
            return (
                "the token authenticates as `payments`. (This cluster's audit log cannot be "
                "seen from here, so who minted it is not checked.)"
            )
        credential = f"JTI={token.claims['jti']}"
        issued = log.wait_for(
            credential, lambda e: ISSUED_CREDENTIAL_ID in e.get("annotations", {}), timeout=10
        )
        by = issued[0]["user"]["username"]
        if by != sa_username(ns, "ops"):
            raise NotYet(
                f"the audit log says `{by}` asked for this token, not `ops`: make the "
                "TokenRequest with a client that holds only ops's token."
            )
        return (
            "the audit log shows the TokenRequest made by `ops`, and the token authenticates "
            "as `payments`: a grant of `create serviceaccounts/token` without `resourceNames` "
            "is every account's identity."
        )


class CloseOpsPath(Question):
    title = "the least change: ops mints tokens for ops-bot only"
    hints = (
        "RBAC can name the objects a rule applies to: `resourceNames`.",
        "`kubectl -n NS edit role ops`, or apply the Role again with "
        '`resourceNames: ["ops-bot"]` on the `serviceaccounts/token` rule.',
    )
    solution_code = f"""
        %%bash
        kubectl -n {NAMESPACE} apply -f - <<'EOF'
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata:
          name: ops
        rules:
        - apiGroups: [""]
          resources: ["serviceaccounts/token"]
          resourceNames: ["ops-bot"]
          verbs: ["create"]
        EOF
        """

    def evaluate(self) -> str:
        lab = self.lab
        assert lab is not None
        authz, ns = lab.course.authz, lab.namespace
        mint = "create serviceaccounts/token"
        others = [a for a in ACCOUNTS if a not in ("ops", "ops-bot")]

        def judge() -> None:
            can_bot = may(authz, ns, "ops", mint, name="ops-bot")
            still = [a for a in others if may(authz, ns, "ops", mint, name=a)]
            if can_bot != may(authz, ns, "ops", mint, name="ops-bot"):
                # RBAC saw a change while we asked: these answers mix two versions of it
                raise NotYet("RBAC changed while this check asked it: run the check again.")
            if can_bot and len(still) == len(others):
                raise NotAttempted(
                    "`ops` may still mint tokens for every account of the namespace."
                )
            if not can_bot:
                raise NotYet(
                    "`ops` may no longer mint tokens for `ops-bot`, which it needs: narrow the "
                    "grant, don't take it away."
                )
            if still:
                listed = ", ".join(f"`{a}`" for a in still)
                raise NotYet(f"`ops` may still mint tokens for {listed}.")

        # RBAC sees a Role changed a moment ago a little later, so 'untouched' is asked again too
        settle(judge, RBAC_SETTLE, retry=(NotYet, NotAttempted))
        other_paths = ways_to_become(lab, "ops", first=True)
        if other_paths:
            raise NotYet(f"`ops` can still act as `payments`: {other_paths[0]}.")
        return (
            "SubjectAccessReviews say `ops` may mint tokens for `ops-bot` and for nobody else: "
            "one `resourceNames` line closed a path to every account of the namespace."
        )


class NarrowImpersonation(Question):
    title = "helpdesk reads Pods as reporter, and does nothing else as it"
    hints = (
        "Notebook 12, section 11: since Kubernetes 1.36 impersonation can be constrained. "
        "`impersonate:serviceaccount` on `serviceaccounts` in API group "
        "`authentication.k8s.io` (by name) says whom; `impersonate-on:serviceaccount:<verb>` "
        "on the request's resource says what. The old `impersonate` grants everything.",
        "Replace the rules of Role `helpdesk`: one rule for whom (`reporter`), one for what "
        "(`get` and `list` on `pods`, each verb prefixed `impersonate-on:serviceaccount:`). "
        "Leave `reporter`'s own Role alone.",
    )
    solution_code = f"""
        %%bash
        kubectl -n {NAMESPACE} apply -f - <<'EOF'
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata:
          name: helpdesk
        rules:
        - apiGroups: ["authentication.k8s.io"]
          resources: ["serviceaccounts"]
          resourceNames: ["reporter"]
          verbs: ["impersonate:serviceaccount"]
        - apiGroups: [""]
          resources: ["pods"]
          verbs: ["impersonate-on:serviceaccount:get", "impersonate-on:serviceaccount:list"]
        EOF
        """

    def evaluate(self) -> str:
        lab = self.lab
        assert lab is not None
        if _untouched(lab):
            raise NotAttempted(
                "`helpdesk` still holds the old `impersonate` on `reporter`: as `reporter` it "
                "may do everything `reporter` may."
            )
        version, constrained = _constrained_impersonation(lab.course)
        helpdesk = _HelpdeskAsReporter.of(lab, constrained)
        # a success of the old check is cached for 10 s: a refusal may come a moment late
        settle(helpdesk.judge, AUTH_SETTLE)
        if not constrained:
            return (
                "`helpdesk` can no longer act as `reporter` at all. This cluster (Kubernetes "
                f"{version[0]}.{version[1]}, or the gate `ConstrainedImpersonation` off) cannot "
                "narrow impersonation, so that is the least you can do here; from 1.36 the "
                "`impersonate:serviceaccount` and `impersonate-on:…` verbs keep the reads."
            )
        return (
            "as `reporter`, `helpdesk` lists Pods and nothing else: `impersonate:serviceaccount` "
            "names whom, `impersonate-on:serviceaccount:<verb>` says what, and with the old "
            "`impersonate` gone nothing grants the rest."
        )


def _constrained_impersonation(course: Course) -> tuple[tuple[int, int], bool]:
    """This cluster's version, and whether it constrains impersonation (its gate, read live)."""
    try:
        gates = feature_gates(course)
    except CourseApiError:  # /metrics out of reach: the version decides
        gates = {}
    version = kubernetes_version(course)
    return version, impersonation_constrained(version, gates)


@dataclass(frozen=True)
class _HelpdeskAsReporter:
    """Requests sent with helpdesk's own token as reporter, and q4's checks, one each."""

    lab: Lab
    core: client.CoreV1Api
    constrained: bool

    @classmethod
    def of(cls, lab: Lab, constrained: bool) -> _HelpdeskAsReporter:
        course, ns = lab.course, lab.namespace
        token, _ = create_token(course.core, ns, "helpdesk", expiration_seconds=600)
        api = course.client_for_token(token)
        api.set_default_header("Impersonate-User", sa_username(ns, "reporter"))
        return cls(lab, client.CoreV1Api(api), constrained)

    def judge(self) -> None:
        """The first check that fails raises its *Not yet*."""
        for check in (
            self.reporter_keeps_its_own,
            self.only_helpdesk,
            self.cannot_write,
            self.cannot_read_configmaps,
            self.reads_pods,
        ):
            check()

    def reporter_keeps_its_own(self) -> None:
        authz, ns = self.lab.course.authz, self.lab.namespace
        lost = [p for p in ("list pods", "create configmaps") if not may(authz, ns, "reporter", p)]
        if lost:
            raise NotYet(
                f"`reporter` may no longer {lost[0]} itself, which its job needs: narrow what "
                "`helpdesk` may do *as* `reporter`, not `reporter`'s own Role."
            )

    def only_helpdesk(self) -> None:
        """The new grant is helpdesk's alone (not a group's). The old verb is not asked: it is
        `edit`'s too (payments holds it by design), and helpdesk's own is `cannot_write`'s."""
        authz, ns = self.lab.course.authz, self.lab.namespace
        whom = "impersonate:serviceaccount serviceaccounts.authentication.k8s.io"
        others = [a for a in ACCOUNTS if a not in ("helpdesk", "reporter")]
        too = [a for a in others if may(authz, ns, a, whom, name="reporter")]
        if too:
            raise NotYet(
                f"`{too[0]}` may act as `reporter` too: grant it to `helpdesk` alone, not to a "
                "group of accounts."
            )

    def cannot_write(self) -> None:
        probe = {"metadata": {"name": "q4-probe"}}
        ns = self.lab.namespace
        if not isinstance(
            attempt(lambda: self.core.create_namespaced_config_map(ns, probe, dry_run="All")),
            Forbidden,
        ):
            raise NotYet(
                "`helpdesk` can still create ConfigMaps as `reporter` (a dry run said yes): "
                "whatever else it holds, the old `impersonate` verb grants every request — it "
                "must go."
            )

    def cannot_read_configmaps(self) -> None:
        """reporter may read a ConfigMap by name; helpdesk, as reporter, may not."""
        ns = self.lab.namespace
        read = attempt(lambda: self.core.read_namespaced_config_map("kube-root-ca.crt", ns))
        if not isinstance(read, Forbidden):
            raise NotYet(
                "`helpdesk` can read ConfigMaps as `reporter`: grant `impersonate-on` for Pods "
                "only."
            )

    def reads_pods(self) -> None:
        """Where impersonation can be narrowed, helpdesk keeps what it needs."""
        if not self.constrained:
            return
        pods = attempt(lambda: self.core.list_namespaced_pod(self.lab.namespace))
        if isinstance(pods, Forbidden):
            raise NotYet(
                "`helpdesk` can no longer read Pods as `reporter`, which it needs; the API "
                f"server said: {pods.message}"
            )


def _untouched(lab: Lab) -> bool:
    """Role and RoleBinding `helpdesk` as the set-up made them, and nothing else for helpdesk."""
    seeded = getattr(lab, "seeded_helpdesk", None)
    return seeded is not None and seeded == _helpdesk_versions(lab)


def _helpdesk_versions(lab: Lab) -> tuple[str, ...]:
    """resourceVersions of everything that may grant helpdesk something in the namespace."""
    rbac, ns = lab.course.rbac, lab.namespace
    roles = {
        r.metadata.name: r.metadata.resource_version for r in rbac.list_namespaced_role(ns).items
    }
    bindings = [
        f"{b.metadata.name}={b.metadata.resource_version}"
        for b in rbac.list_namespaced_role_binding(ns).items
        if any(s.name == "helpdesk" for s in b.subjects or [])
    ]
    return (
        f"helpdesk={roles.get('helpdesk')}",
        f"reporter={roles.get('reporter')}",
        *sorted(bindings),
    )


class WhoCanBecomeLab(Lab):
    """The scenario: payments with edit and a legacy token, and five narrow-looking grants."""

    question_types: ClassVar[tuple[type[Question], ...]] = (
        FindThem,
        ProveIt,
        CloseOpsPath,
        NarrowImpersonation,
    )
    seeded_helpdesk: tuple[str, ...] | None = None

    def set_up(self) -> WhoCanBecomeLab:
        course, ns = self.course, self.namespace
        self.fresh()
        apply(course, _manifests(), ns)
        wait_for_legacy_token(course.core, ns, "payments-token")  # filled by the tokens controller
        self.seeded_helpdesk = _helpdesk_versions(self)
        return self


def start(course: Course, namespace: str = NAMESPACE) -> WhoCanBecomeLab:
    """Seed the scenario in ``namespace`` (deleting an old one first) and return the lab."""
    return WhoCanBecomeLab(course, namespace).set_up()
