"""Lab 04: least privilege for a log-reading controller, proven with SubjectAccessReview.

The scenario (namespace ``lab-04-rbac``): a Pod ``app`` that writes a line to its log; a
ServiceAccount ``log-reader`` for the controller, with no permissions yet; and three more
accounts with bindings the learner audits: ``ci-bot`` (ClusterRole ``edit`` through a
RoleBinding), ``backup`` (a Role bound to it as kind *User*), ``dashboard`` (``view``).

The controller lists and watches the Pods of its namespace and reads their logs; nothing else.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from kubernetes import client

from ..course import Course
from ..names import ns
from ..pods import busybox_pod, wait_for_pod
from .checks import Lab, NotAttempted, NotYet, Question, run_checks, settle
from .common import (
    RBAC_SETTLE,
    Request,
    action,
    apply,
    call_status,
    effective_grants,
    name_set,
    plural,
    rules_allow,
    rules_beyond,
    sa_can,
    sa_can_request,
    set_mismatch,
    token_of,
)

__all__ = ["NAMESPACE", "LeastPrivilegeLab", "start"]

NAMESPACE = ns("lab-04-rbac")
ACCOUNT = "log-reader"
ROLE = "log-reader"
OTHER_NAMESPACE = "kube-system"  # only asked about (SubjectAccessReview), never touched

#: (verb, resource, group, subresource) the controller needs in its namespace
NEEDED = (
    ("get", "pods", "", None),
    ("list", "pods", "", None),
    ("watch", "pods", "", None),
    ("get", "pods", "", "log"),
)
#: requests it must not be allowed: writes, exec, other resources
NOT_NEEDED = (
    ("create", "pods", "", None),
    ("delete", "pods", "", None),
    ("patch", "pods", "", None),
    ("create", "pods", "", "exec"),
    ("get", "secrets", "", None),
    ("list", "secrets", "", None),
    ("list", "configmaps", "", None),
    ("list", "services", "", None),
    ("list", "deployments", "apps", None),
    ("create", "rolebindings", "rbac.authorization.k8s.io", None),
)
#: requests the API does not serve: granting them grants nothing (`kubectl create role
#: --verb=get,list,watch --resource=pods,pods/log` names them)
UNSERVED = (
    ("list", "pods", "", "log"),
    ("watch", "pods", "", "log"),
)


def _manifests(nonce: str) -> list[dict[str, Any]]:
    rbac = "rbac.authorization.k8s.io"
    pod = busybox_pod("app", automount=False, labels={"app": "app"})
    pod["spec"]["containers"][0]["command"] = [
        "sh",
        "-c",
        f"echo 'app started, build {nonce}'; exec sleep 86400",
    ]
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        for name in (ACCOUNT, "ci-bot", "backup", "dashboard")
    ]
    docs += [
        pod,
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "ci-bot-edit"},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "ci-bot"}],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "Role",
            "metadata": {"name": "secret-reader"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "nightly-backup"},
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "secret-reader"},
            "subjects": [
                {"apiGroup": rbac, "kind": "User", "name": "system:serviceaccount:{ns}:backup"}
            ],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "dashboard-view"},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "dashboard"}],
        },
    ]
    return docs


def _words(requests: list[tuple[str, str, str, str | None]]) -> str:
    return ", ".join(f"`{action(v, r, g, s)}`" for v, r, g, s in requests)


def _some(words: list[str], shown: int = 6) -> str:
    """The first few of ``words``, and how many more.

    >>> _some(["a", "b", "c"], shown=2)
    '`a`, `b` and 1 more'
    """
    listed = ", ".join(f"`{w}`" for w in words[:shown])
    return f"{listed} and {len(words) - shown} more" if len(words) > shown else listed


def _subject_words(subject: client.RbacV1Subject) -> str:
    ns = f" (namespace `{subject.namespace}`)" if subject.namespace else ""
    return f"{subject.kind} `{subject.name}`{ns}"


class WriteRole(Question):
    title = "the Role: exactly what the controller needs"
    hints = (
        "List the requests the controller makes: which verbs on Pods? And reading a log is "
        "a request on what?",
        "A Pod's log is the *subresource* `pods/log`; Pods live in the core API group, "
        'written `""` in a Role. Avoid `*`: it grants everything, including what is added later.',
    )
    solution_code = f"""
        %%bash
        kubectl apply -f - <<'EOF'
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata:
          name: {ROLE}
          namespace: {NAMESPACE}
        rules:
        - apiGroups: [""]
          resources: ["pods"]
          verbs: ["get", "list", "watch"]
        - apiGroups: [""]
          resources: ["pods/log"]
          verbs: ["get"]
        EOF
        """
    solution_note = (
        "This is the `controller-role` the article's RoleBinding refers to but never defines. "
        f"`kubectl create role {ROLE} --verb=get,list,watch --resource=pods,pods/log` makes an "
        "equivalent one (`list` and `watch` of `pods/log` are requests the API does not serve)."
    )

    def evaluate(self) -> str:
        lab: LeastPrivilegeLab = self.lab  # type: ignore[assignment]
        ns = lab.namespace
        roles = {r.metadata.name: r for r in lab.course.rbac.list_namespaced_role(ns).items}
        if ROLE not in roles:
            raise NotAttempted(f"there is no Role `{ROLE}` in `{ns}` yet.")
        rules = roles[ROLE].rules or []
        problems = run_checks([lambda: _allows_all_needed(rules), lambda: _allows_no_more(rules)])
        if problems:
            raise NotYet("; ".join(problems) + ".")
        return (
            "the Role allows reading Pods and their logs and nothing else. Nobody can use it "
            "yet: a Role grants nothing until a RoleBinding names a subject."
        )


def _allows_all_needed(rules: list[Any]) -> None:
    """The Role allows every request the controller makes."""
    missing = [req for req in NEEDED if not rules_allow(rules, *req)]
    if missing:
        groups = {g for r in rules for g in (r.api_groups or [])}
        core = (
            '; Pods are in the core API group, written `""`'
            if "" not in groups and "*" not in groups
            else ""
        )
        raise NotYet(f"the Role does not allow {_words(missing)}{core}")


def _allows_no_more(rules: list[Any]) -> None:
    """The Role allows nothing else, in any API group (requests the API never serves aside)."""
    extra = [action(*req) for req in NOT_NEEDED if rules_allow(rules, *req)]
    beyond = rules_beyond(rules, NEEDED + UNSERVED)
    extra += [w for w in beyond if w not in extra]
    if extra:
        wild = any("*" in (r.verbs or []) + (r.resources or []) for r in rules)
        why = " (a `*` allows all of them)" if wild else ""
        raise NotYet(f"the Role also allows {_some(extra)}{why}: more than a log reader needs")


class BindRole(Question):
    title = "the RoleBinding: to log-reader only"
    hints = (
        "A RoleBinding joins a Role (`roleRef`) to subjects. How do you name a "
        "ServiceAccount as a subject?",
        "Check your work as the API server would: `kubectl auth can-i get pods --subresource=log "
        f"-n {NAMESPACE} --as=system:serviceaccount:{NAMESPACE}:{ACCOUNT}`.",
    )
    solution_code = f"""
        %%bash
        kubectl -n {NAMESPACE} create rolebinding {ACCOUNT} --role={ROLE} \\
            --serviceaccount={NAMESPACE}:{ACCOUNT}
        kubectl auth can-i get pods --subresource=log -n {NAMESPACE} \\
            --as=system:serviceaccount:{NAMESPACE}:{ACCOUNT} || true   # see the note
        """
    solution_note = (
        "RBAC takes about a second to see a new binding, so `can-i` right after it may still "
        "say `no`; the check asks again for a few seconds."
    )

    def evaluate(self) -> str:
        lab: LeastPrivilegeLab = self.lab  # type: ignore[assignment]
        ns = lab.namespace
        bindings = [
            b
            for b in lab.course.rbac.list_namespaced_role_binding(ns).items
            if b.metadata.name not in lab.seeded_bindings
        ]
        if not bindings and not lab.grants_anything():
            raise NotAttempted(f"no new RoleBinding in `{ns}` yet, and `{ACCOUNT}` may do nothing.")

        def judge() -> None:
            problems = run_checks(
                [
                    lambda: self._may_do_what_it_needs(bindings),
                    self._may_do_nothing_more,
                    self._nowhere_else,
                    self._nobody_else,
                ]
            )
            if problems:
                raise NotYet("; ".join(problems) + ".")

        settle(judge, RBAC_SETTLE)  # RBAC sees a binding made a moment ago a little later
        return (
            f"SubjectAccessReviews say `{ACCOUNT}` may read Pods and logs in `{ns}`, and "
            "nothing else, nowhere else, and no other account gained anything."
        )

    def _may_do_what_it_needs(self, bindings: list[Any]) -> None:
        lab: LeastPrivilegeLab = self.lab  # type: ignore[assignment]
        missing = [req for req in NEEDED if not lab.can(ACCOUNT, req)]
        if not missing:
            return
        problem = f"ServiceAccount `{ACCOUNT}` still may not {_words(missing)}"
        to_role = [b for b in bindings if b.role_ref.kind == "Role" and b.role_ref.name == ROLE]
        if to_role and len(missing) == len(NEEDED):
            subjects = ", ".join(_subject_words(s) for b in to_role for s in b.subjects or [])
            problem += (
                f"; a RoleBinding to Role `{ROLE}` names {subjects or 'no subject'}, "
                "which is not this ServiceAccount"
            )
        elif to_role:
            problem += f"; Role `{ROLE}` itself lacks it (see q1)"
        raise NotYet(problem)

    def _may_do_nothing_more(self) -> None:
        lab: LeastPrivilegeLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        extra = [action(*req) for req in NOT_NEEDED if lab.can(ACCOUNT, req)]
        # and whatever else its rules grant here, in any API group (the API server's own list)
        needed = {(v, f"{r}/{sub}" if sub else r, g) for v, r, g, sub in NEEDED + UNSERVED}
        beyond = effective_grants(course, ns, ACCOUNT) - needed
        baseline = effective_grants(course, ns, "default") if beyond else set()
        extra += sorted(w for w in (action(*g) for g in beyond - baseline) if w not in extra)
        if extra:
            raise NotYet(f"`{ACCOUNT}` may also {_some(extra)}")

    def _nowhere_else(self) -> None:
        lab: LeastPrivilegeLab = self.lab  # type: ignore[assignment]
        if any(lab.can(ACCOUNT, req, OTHER_NAMESPACE) for req in NEEDED):
            raise NotYet(
                f"`{ACCOUNT}` may read Pods in other namespaces too (`{OTHER_NAMESPACE}`): "
                "only a ClusterRoleBinding grants that"
            )

    def _nobody_else(self) -> None:
        lab: LeastPrivilegeLab = self.lab  # type: ignore[assignment]
        if any(lab.can("default", req) for req in NEEDED):
            raise NotYet(
                f"every ServiceAccount of `{lab.namespace}` (`default`, for one) may read Pods "
                "or logs now, not only the controller"
            )


class UseToken(Question):
    title = "prove it with the controller's own token"
    variables = ("TOKEN",)
    hints = (
        "`kubectl create token` issues a short-lived token for a ServiceAccount.",
        "Then `course.client_for_token(TOKEN)` makes a client that uses only that token: "
        "read the log of Pod `app` with it.",
    )
    solution_code = f"""
        from kubernetes import client

        TOKEN = course.kubectl("create", "token", "{ACCOUNT}", "-n", NS, "--duration=10m").strip()
        as_controller = client.CoreV1Api(course.client_for_token(TOKEN))
        print(as_controller.read_namespaced_pod_log("app", NS))
        """

    def evaluate(self, TOKEN: object) -> str:
        lab: LeastPrivilegeLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        token, _ = token_of(course.authn, TOKEN, "TOKEN", ns, ACCOUNT, "the controller's account")
        if token.kind == "legacy":
            raise NotYet(
                "this token works, but it is a legacy token that never expires; "
                "issue a short-lived one instead."
            )
        lifetime = int(token.claims["exp"]) - int(token.claims["iat"])
        if lifetime > 3600:
            raise NotYet(f"this token lives {lifetime} s; an hour is plenty for a test.")

        def reads_the_log_only() -> None:
            log: list[str] = []

            def read_log(api: client.ApiClient) -> None:
                log.append(client.CoreV1Api(api).read_namespaced_pod_log("app", ns))

            code, message = call_status(course, token, read_log)
            if code != 200:
                raise NotYet(
                    f"with this token, reading the log of Pod `app` fails: {code} {message}"
                )
            if lab.nonce not in log[0]:
                raise NotYet("the log read with this token is not the log of Pod `app`.")
            code, _ = call_status(
                course, token, lambda api: client.CoreV1Api(api).list_namespaced_secret(ns)
            )
            if code != 403:
                raise NotYet(
                    "with this token, listing Secrets works too: least privilege is not met."
                )

        settle(reads_the_log_only, RBAC_SETTLE)  # a binding made a moment ago counts too
        return (
            "with the controller's own token, reading the log works and listing Secrets gets "
            "403 Forbidden: authenticated, but not authorised."
        )


class SecretReaders(Question):
    title = "audit: who else may read Secrets?"
    variables = ("SECRET_READERS",)
    hints = (
        "Ask the API server for each ServiceAccount of the namespace: `kubectl auth can-i get "
        f"secrets -n {NAMESPACE} --as=system:serviceaccount:{NAMESPACE}:<name>`.",
        "Reading the bindings by eye is error-prone: a binding may name a ServiceAccount as "
        "kind `User` with its full user name, or a whole group.",
    )
    solution_code = """
        from helpers import can_i, sa_groups, sa_username

        accounts = course.core.list_namespaced_service_account(NS).items
        names = [sa.metadata.name for sa in accounts]
        SECRET_READERS = {
            name
            for name in names
            if can_i(course.authz, "get", "secrets", namespace=NS,
                     user=sa_username(NS, name), groups=sa_groups(NS)).allowed
        }
        SECRET_READERS
        """

    def evaluate(self, SECRET_READERS: object) -> str:
        lab: LeastPrivilegeLab = self.lab  # type: ignore[assignment]
        course, ns = lab.course, lab.namespace
        answer = name_set(
            SECRET_READERS,
            "SECRET_READERS",
            "ServiceAccount",
            strip_prefix=(f"system:serviceaccount:{ns}:", "serviceaccount/"),
        )
        accounts = {
            sa.metadata.name for sa in course.core.list_namespaced_service_account(ns).items
        }

        def judge() -> None:
            truth = {
                name
                for name in accounts
                if sa_can(course.authz, ns, name, "get", "secrets", namespace=ns)
            }
            if answer != truth:
                raise set_mismatch(
                    answer,
                    truth,
                    lambda name: (
                        f"`{name}` may not read Secrets"
                        if name in accounts
                        else f"there is no ServiceAccount `{name}` in `{ns}`"
                    ),
                    lambda n: f"you missed {n} {plural(n, 'ServiceAccount')} that may read Secrets",
                )

        settle(judge, RBAC_SETTLE)  # a binding changed a moment ago counts as RBAC will see it
        return (
            "SubjectAccessReview is the ground truth: it evaluates every binding, whichever "
            "way it names the account."
        )


class LeastPrivilegeLab(Lab):
    """The scenario; ``nonce`` is the word Pod ``app`` writes to its log."""

    question_types: ClassVar[tuple[type[Question], ...]] = (
        WriteRole,
        BindRole,
        UseToken,
        SecretReaders,
    )
    seeded_bindings = ("ci-bot-edit", "nightly-backup", "dashboard-view")
    nonce: str

    def set_up(self) -> LeastPrivilegeLab:
        course, ns = self.course, self.namespace
        self.fresh()
        self.nonce = secrets.token_hex(4)
        docs = _manifests(self.nonce)
        for doc in docs:
            for subject in doc.get("subjects", []):
                subject["name"] = subject["name"].replace("{ns}", ns)
        apply(course, docs, ns)
        wait_for_pod(course.core, ns, "app")
        return self

    # -- what the questions ask RBAC ---------------------------------------------------------
    def can(self, account: str, req: Request, where: str | None = None) -> bool:
        """May ServiceAccount ``account`` make ``req`` in ``where`` (default: the lab namespace)?"""
        return sa_can_request(self.course.authz, self.namespace, account, req, where)

    def grants_anything(self) -> bool:
        """May the controller make any request it needs, here or in another namespace?"""
        return any(
            self.can(ACCOUNT, req, where) for req in NEEDED for where in (None, OTHER_NAMESPACE)
        )


def start(course: Course, namespace: str = NAMESPACE) -> LeastPrivilegeLab:
    """Seed the scenario in ``namespace`` (deleting an old one first) and return the lab."""
    return LeastPrivilegeLab(course, namespace).set_up()
