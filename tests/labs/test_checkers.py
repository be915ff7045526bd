"""Every lab checker, three ways, against the live cluster, each test in its own namespace.

1. unattempted (the placeholder; the cluster as the earlier questions' solutions left it)
   → *Not attempted*;
2. realistic wrong answers, applied to the cluster where the question is about the
   cluster → *Not yet*, with a message that says what is wrong;
3. the stored solution (the code ``qN.solution()`` shows), run for real after those of the
   earlier questions → *Correct*.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from types import ModuleType
from typing import Any

import jwt
import pytest

from helpers import (
    busybox_pod,
    delete_pod,
    facts,
    read_pod_token,
    review_token,
    verify_offline,
    whoami,
)
from helpers.accounts import create_legacy_token
from helpers.course import Course
from helpers.labs import (
    LABS,
    lab02_leaked_token,
    lab07_401_or_403,
    lab08_external_audience,
    lab12_who_can_become,
)
from helpers.labs.checks import CORRECT, NOT_ATTEMPTED, NOT_YET, Lab, Question, Result, ____

#: They judge only the API server's answers to objects they make (tests/run.py: not on kind).
pytestmark = [pytest.mark.cluster, pytest.mark.api_only]

#: Every lab of the registry (helpers.labs.LABS): a new lab is tested here without an edit,
#: and test_every_question_has_wrong_answers / …_other_right_answers fail until it has cases.
MODULES: dict[str, ModuleType] = {
    number: importlib.import_module(module) for number, module in LABS.items()
}


# -- fixtures: a fresh scenario per test, in a lab-t… namespace of its own ----------------------
def lab_namespace(prefix: str, request: pytest.FixtureRequest) -> str:
    """A unique namespace name for this test, e.g. ``lab-t02-q3-deleted-sa-1a2b3``."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    stem = stem.removeprefix("test-")[: 63 - len(prefix) - 7].strip("-")
    return f"{prefix}-{stem}-{uuid.uuid4().hex[:5]}"


@pytest.fixture
def make_lab(course: Course, request: pytest.FixtureRequest) -> Iterator[Callable[..., Lab]]:
    """``make_lab(module)`` seeds that lab's scenario in a namespace of this test's own."""
    labs: list[Lab] = []

    def make(module: ModuleType) -> Lab:
        number = module.__name__.rsplit(".", 1)[-1][3:5]  # helpers.labs.lab02_… → 02
        lab = module.start(course, lab_namespace(f"lab-t{number}", request))
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.clean_up()


def solution_source(question: Question, module: ModuleType, namespace: str) -> str:
    """The question's solution code, for the lab scenario in ``namespace``."""
    code = textwrap.dedent(question.solution_code).strip()
    return code.replace(module.NAMESPACE, namespace)


def run_solution(lab: Lab, question: Question, module: ModuleType) -> dict[str, Any]:
    """Apply the stored solution to the lab's cluster; return the answer variables it set."""
    code = solution_source(question, module, lab.namespace)
    if code.startswith("%%bash"):
        body = code.split("\n", 1)[1]
        proc = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + body],
            capture_output=True,
            text=True,
            env=os.environ.copy(),  # connect() put KUBECONFIG and kubectl's directory here
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, f"the {question.name} solution failed: {proc.stderr}"
        return {}
    env = dict(lab.names())
    exec(compile(code, f"<{question.name} solution>", "exec"), env)
    return {name: env[name] for name in question.variables}


def _lab_class(module: ModuleType) -> type[Lab]:
    return next(
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Lab) and v is not Lab and v.question_types
    )


QUESTION_IDS = [
    pytest.param(number, q, id=f"lab{number}-q{q}")
    for number, module in MODULES.items()
    for q in range(1, len(_lab_class(module).question_types) + 1)
]


@dataclass(frozen=True)
class Wrong:
    """A realistic wrong answer: what the learner does, and what the message must say."""

    id: str
    act: Callable[[Lab], dict[str, Any] | None]  # answer variables, or None (cluster only)
    says: tuple[str, ...]  # fragments the message must contain (case-insensitive)
    #: Wrong only where the cluster can narrow impersonation (1.36+, gate on); elsewhere it
    #: is all a learner can do, and the check must say Correct.
    wrong_if_constrained: bool = False


@dataclass(frozen=True)
class Right:
    """A correct answer by one of the routes the notebooks teach (or in another order)."""

    id: str
    act: Callable[[Lab], dict[str, Any] | None]  # answer variables, or None (cluster only)


def kubectl(lab: Lab, *args: str, **kwargs: Any) -> str:
    return lab.course.kubectl("-n", lab.namespace, *args, **kwargs)


def answer(**values: Any) -> Callable[[Lab], dict[str, Any]]:
    return lambda lab: values


def user(lab: Lab, account: str) -> str:
    return f"system:serviceaccount:{lab.namespace}:{account}"


# -- lab 02: the leaked token ---------------------------------------------------------------
INVALID_SINCE = "kubernetes.io/legacy-token-invalid-since"


def _recreate_leaked_secret(lab: Lab) -> None:
    kubectl(lab, "delete", "secret", "ci-runner-deploy", "--wait=true")
    create_legacy_token(lab.course.core, lab.namespace, "ci-runner", "ci-runner-deploy")


def _label_invalid(*secrets: str, value: str = "2026-01-01") -> Callable[[Lab], None]:
    """``kubectl label secret … kubernetes.io/legacy-token-invalid-since=<date>`` (notebook 10)."""

    def act(lab: Lab) -> None:
        kubectl(lab, "label", "secret", *secrets, f"{INVALID_SINCE}={value}")

    return act


def _patch_label_invalid(lab: Lab) -> None:
    """The same label from Python, as notebook 10 sets it."""
    body = {"metadata": {"labels": {INVALID_SINCE: "2026-01-01"}}}
    lab.course.core.patch_namespaced_secret("ci-runner-deploy", lab.namespace, body)


def _label_then_delete(lab: Lab) -> None:
    """Notebook 10's migration: mark it invalid first, then delete the Secret."""
    _label_invalid("ci-runner-deploy")(lab)
    kubectl(lab, "delete", "secret", "ci-runner-deploy")


def _revoked_first(values: Callable[[Lab], dict[str, Any]]) -> Callable[[Lab], dict[str, Any]]:
    """Revoke the token (q3) before answering an earlier question."""

    def act(lab: Lab) -> dict[str, Any]:
        kubectl(lab, "delete", "secret", "ci-runner-deploy")
        return values(lab)

    return act


def _holder_by_comparing(lab: Lab) -> dict[str, Any]:
    from helpers.tokens import Token

    leaked = lab.leaked_token  # type: ignore[attr-defined]
    holders = [
        s.metadata.name
        for s in lab.course.core.list_namespaced_secret(lab.namespace).items
        if s.type == "kubernetes.io/service-account-token" and Token.from_secret(s) == leaked
    ]
    return {"LEAKED_SECRET": holders[0]}


def _never_used_by_kubectl(lab: Lab) -> dict[str, Any]:
    out = kubectl(
        lab,
        "get",
        "secrets",
        "--field-selector=type=kubernetes.io/service-account-token",
        "-l",
        "!kubernetes.io/legacy-token-last-used",
        "-o",
        "name",
    )
    return {"NEVER_USED": out.split()}  # ["secret/billing-old", …]


def _claims_sub(lab: Lab) -> dict[str, Any]:
    return {"LEAKED_SA": lab.leaked_token.claims["sub"]}  # type: ignore[attr-defined]


RIGHT02 = {
    1: [
        Right(
            "token-review",
            lambda lab: {
                "LEAKED_SA": review_token(
                    lab.course.authn,
                    lab.leaked_token,  # type: ignore[attr-defined]
                ).user.username
            },
        ),
        Right(
            "whoami",
            lambda lab: {
                "LEAKED_SA": whoami(
                    lab.course.client_for_token(lab.leaked_token)  # type: ignore[attr-defined]
                ).username
            },
        ),
        Right("after-revoking", _revoked_first(_claims_sub)),
    ],
    2: [
        Right("by-comparing-tokens", _holder_by_comparing),
        Right("kubectl-o-name", answer(LEAKED_SECRET="secret/ci-runner-deploy")),
        Right("after-revoking", _revoked_first(answer(LEAKED_SECRET="ci-runner-deploy"))),
    ],
    3: [
        Right(
            "deleted-from-python",
            lambda lab: (
                lab.course.core.delete_namespaced_secret("ci-runner-deploy", lab.namespace) and None
            ),
        ),
        Right("labelled-invalid-since", _label_invalid("ci-runner-deploy")),
        Right("labelled-from-python", _patch_label_invalid),
        Right("labelled-then-deleted", _label_then_delete),
    ],
    4: [
        Right("kubectl-selector-o-name", _never_used_by_kubectl),
        Right("a-list", answer(NEVER_USED=["billing-old", "reports-token"])),
    ],
}

LAB02 = {
    1: [
        Wrong("short-name", answer(LEAKED_SA="ci-runner"), ("full user name",)),
        Wrong(
            "other-account",
            lambda lab: {"LEAKED_SA": user(lab, "billing")},
            ("not one of its tokens",),
        ),
        Wrong(
            "the-group",
            lambda lab: {"LEAKED_SA": f"system:serviceaccounts:{lab.namespace}"},
            ("is a group",),
        ),
        Wrong("a-secret-name", answer(LEAKED_SA="ci-runner-deploy"), ("name of a secret",)),
    ],
    2: [
        Wrong("sibling-secret", answer(LEAKED_SECRET="ci-runner-token"), ("different token",)),
        Wrong("the-account", answer(LEAKED_SECRET="ci-runner"), ("is a serviceaccount",)),
        Wrong("other-account", answer(LEAKED_SECRET="billing-token"), ("another serviceaccount",)),
        Wrong("opaque", answer(LEAKED_SECRET="ci-runner-config"), ("holds no serviceaccount",)),
    ],
    3: [
        Wrong(
            "deleted-the-sibling",
            lambda lab: kubectl(lab, "delete", "secret", "ci-runner-token") and None,
            ("still accepts", "secret `ci-runner-token` was deleted"),
        ),
        Wrong(
            "labelled-the-sibling",
            _label_invalid("ci-runner-token"),
            ("still accepts", f"`ci-runner-token` is labelled `{INVALID_SINCE}`"),
        ),
        Wrong(
            "deleted-the-account",
            lambda lab: kubectl(lab, "delete", "serviceaccount", "ci-runner") and None,
            ("rejects the leaked token", "`ci-runner` is gone", "every token of the account"),
        ),
        Wrong(
            "re-created-the-account",
            lambda lab: (
                kubectl(lab, "delete", "serviceaccount", "ci-runner", "--wait=true")
                and kubectl(lab, "create", "serviceaccount", "ci-runner")
                and None
            ),
            ("rejects the leaked token", "every token of the account"),
        ),
        Wrong(
            "re-created-same-name",
            lambda lab: _recreate_leaked_secret(lab),
            ("works again", "exactly the same token"),
        ),
        Wrong(
            "deleted-both",
            lambda lab: (
                kubectl(lab, "delete", "secret", "ci-runner-deploy", "ci-runner-token") and None
            ),
            ("rejects the leaked token", "also revoked", "`ci-runner-token`"),
        ),
        Wrong(
            "labelled-both",
            _label_invalid("ci-runner-deploy", "ci-runner-token"),
            ("rejects the leaked token", "also revoked", "`ci-runner-token` is labelled"),
        ),
        Wrong(
            "annotated-not-labelled",
            lambda lab: (
                kubectl(
                    lab, "annotate", "secret", "ci-runner-deploy", f"{INVALID_SINCE}=2026-01-01"
                )
                and None
            ),
            ("still accepts", "annotation"),
        ),
        Wrong(
            "an-empty-label",
            _label_invalid("ci-runner-deploy", value=""),
            ("still accepts", "is empty"),
        ),
    ],
    4: [
        Wrong("missed-one", answer(NEVER_USED={"reports-token"}), ("missed 1",)),
        Wrong(
            "an-opaque-secret",
            answer(NEVER_USED={"reports-token", "billing-old", "ci-runner-config"}),
            ("`ci-runner-config` holds no serviceaccount token",),
        ),
        Wrong(
            "a-used-one",
            answer(NEVER_USED={"reports-token", "billing-old", "billing-token"}),
            ("`billing-token`'s token has been used",),
        ),
        Wrong("a-string", answer(NEVER_USED="reports-token"), ("should be a set",)),
    ],
}


# -- lab 04: least privilege ----------------------------------------------------------------
def _role(rules: list[dict[str, Any]]) -> Callable[[Lab], None]:
    def act(lab: Lab) -> None:
        body = {"metadata": {"name": "log-reader"}, "rules": rules}
        lab.course.rbac.create_namespaced_role(lab.namespace, body)

    return act


POD_RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
GOOD_RULES = [*POD_RULES, {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]


def _bind(*subject_args: str, ref: str = "--role=log-reader") -> Callable[[Lab], None]:
    def act(lab: Lab) -> None:
        _role(GOOD_RULES)(lab)
        args = [a.replace("{ns}", lab.namespace) for a in subject_args]
        kubectl(lab, "create", "rolebinding", "log-reader", ref, *args)

    return act


def _cluster_binding(lab: Lab) -> None:
    _role(GOOD_RULES)(lab)
    name = f"{lab.namespace}-view"  # cluster-scoped: named after the lab's namespace
    lab.course.kubectl(
        "create",
        "clusterrolebinding",
        name,
        "--clusterrole=view",
        f"--serviceaccount={lab.namespace}:log-reader",
    )


JOBS_RULE = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}


def _bind_and_jobs(lab: Lab) -> None:
    """The right Role and binding, plus a second Role in another API group, also bound."""
    _bind("--serviceaccount={ns}:log-reader")(lab)
    body = {"metadata": {"name": "job-starter"}, "rules": [JOBS_RULE]}
    lab.course.rbac.create_namespaced_role(lab.namespace, body)
    kubectl(
        lab,
        "create",
        "rolebinding",
        "job-starter",
        "--role=job-starter",
        f"--serviceaccount={lab.namespace}:log-reader",
    )


def _token(lab: Lab, account: str, *args: str) -> str:
    return kubectl(lab, "create", "token", account, *args).strip()


def _bound_and_token(*args: str) -> Callable[[Lab], dict[str, Any]]:
    """Role and binding done right, then a token of log-reader issued with ``args``."""

    def act(lab: Lab) -> dict[str, Any]:
        _bind("--serviceaccount={ns}:log-reader")(lab)
        return {"TOKEN": _token(lab, "log-reader", *args)}

    return act


def _legacy_log_reader(lab: Lab) -> dict[str, Any]:
    _bind("--serviceaccount={ns}:log-reader")(lab)
    _, token = create_legacy_token(lab.course.core, lab.namespace, "log-reader")
    return {"TOKEN": token}


def _role_by_kubectl(lab: Lab) -> None:
    """One command: get, list and watch on pods and pods/log (list/watch of a log grant nothing)."""
    kubectl(
        lab, "create", "role", "log-reader", "--verb=get,list,watch", "--resource=pods,pods/log"
    )


def _role_then_patched(lab: Lab) -> None:
    """Pods first, then the log rule added with a JSON patch."""
    kubectl(lab, "create", "role", "log-reader", "--verb=get,list,watch", "--resource=pods")
    rule = {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}
    patch = json.dumps([{"op": "add", "path": "/rules/-", "value": rule}])
    kubectl(lab, "patch", "role", "log-reader", "--type=json", "-p", patch)


def _role_from_python(lab: Lab) -> None:
    from kubernetes import client

    rules = [
        client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"]),
        client.V1PolicyRule(api_groups=[""], resources=["pods/log"], verbs=["get"]),
    ]
    role = client.V1Role(metadata=client.V1ObjectMeta(name="log-reader"), rules=rules)
    lab.course.rbac.create_namespaced_role(lab.namespace, role)


def _binding_yaml_without_namespace(lab: Lab) -> None:
    """A RoleBinding's ServiceAccount subject without a namespace means the binding's own."""
    _role(GOOD_RULES)(lab)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "log-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "log-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "log-reader"}],
    }
    kubectl(lab, "apply", "-f", "-", input=json.dumps(binding))


def _binding_from_python(lab: Lab) -> None:
    from kubernetes import client

    _role(GOOD_RULES)(lab)
    binding = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="log-reader"),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="Role", name="log-reader"
        ),
        subjects=[
            client.RbacV1Subject(kind="ServiceAccount", name="log-reader", namespace=lab.namespace)
        ],
    )
    lab.course.rbac.create_namespaced_role_binding(lab.namespace, binding)


def _binding_before_role(lab: Lab) -> None:
    """The other order: the RoleBinding first (it grants nothing yet), then the Role."""
    args = ["--role=log-reader", f"--serviceaccount={lab.namespace}:log-reader"]
    kubectl(lab, "create", "rolebinding", "log-reader", *args)
    _role(GOOD_RULES)(lab)


def _token_from_python(lab: Lab) -> dict[str, Any]:
    from helpers.accounts import create_token

    _bind("--serviceaccount={ns}:log-reader")(lab)
    token, _ = create_token(lab.course.core, lab.namespace, "log-reader", expiration_seconds=600)
    return {"TOKEN": token}


def _token_request_api(lab: Lab) -> dict[str, Any]:
    _bind("--serviceaccount={ns}:log-reader")(lab)
    body = {"spec": {"audiences": [], "expirationSeconds": 900}}
    status = lab.course.core.create_namespaced_service_account_token(
        "log-reader", lab.namespace, body
    ).status
    return {"TOKEN": status.token}


def _token_before_binding(lab: Lab) -> dict[str, Any]:
    """The token first, then the binding: RBAC is asked on every request, the token is fine."""
    token = _token(lab, "log-reader", "--duration=10m")
    _bind("--serviceaccount={ns}:log-reader")(lab)
    return {"TOKEN": token}


def _secret_readers_by_kubectl(lab: Lab) -> dict[str, Any]:
    names = kubectl(lab, "get", "serviceaccounts", "-o", "name").split()  # serviceaccount/…
    readers = set()
    for name in names:
        who = f"--as=system:serviceaccount:{lab.namespace}:{name.split('/', 1)[1]}"
        reply = kubectl(lab, "auth", "can-i", "get", "secrets", who, check=False)
        if reply.strip() == "yes":
            readers.add(name)
    return {"SECRET_READERS": readers}


RIGHT04 = {
    1: [
        Right("kubectl-create-role", _role_by_kubectl),
        Right("create-then-patch", _role_then_patched),
        Right("python-client", _role_from_python),
    ],
    2: [
        Right("yaml-subject-without-namespace", _binding_yaml_without_namespace),
        Right("kind-user-full-name", _bind("--user=system:serviceaccount:{ns}:log-reader")),
        Right("python-client", _binding_from_python),
        Right("binding-before-role", _binding_before_role),
    ],
    3: [
        Right("python-create-token", _token_from_python),
        Right("token-request-api", _token_request_api),
        Right("kubectl-default-hour", _bound_and_token()),
        Right("token-before-binding", _token_before_binding),
    ],
    4: [
        Right("kubectl-auth-can-i", _secret_readers_by_kubectl),
        Right(
            "full-user-names",
            lambda lab: {"SECRET_READERS": [user(lab, "ci-bot"), user(lab, "backup")]},
        ),
    ],
}

LAB04 = {
    1: [
        Wrong("no-pods-log", _role(POD_RULES), ("does not allow `get pods/log`",)),
        Wrong(
            "apps-group",
            _role([{"apiGroups": ["apps"], "resources": ["pods", "pods/log"], "verbs": ["get"]}]),
            ("does not allow `get pods`", "core api group"),
        ),
        Wrong(
            "any-verb",
            _role([{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["*"]}]),
            ("also allows", "`delete pods`", "a `*`"),
        ),
        Wrong(
            "any-resource",
            _role([{"apiGroups": [""], "resources": ["*"], "verbs": ["get", "list", "watch"]}]),
            ("also allows", "`get secrets`"),
        ),
        Wrong(
            "another-api-group",
            _role([*GOOD_RULES, JOBS_RULE]),
            ("also allows", "`create jobs.batch`"),
        ),
    ],
    2: [
        Wrong(
            "kind-user",
            _bind("--user=log-reader"),
            ("still may not", "names user `log-reader`"),
        ),
        Wrong(
            "whole-namespace-group",
            _bind("--group=system:serviceaccounts:{ns}"),
            ("every serviceaccount",),
        ),
        Wrong(
            "clusterrole-view",
            _bind("--serviceaccount={ns}:log-reader", ref="--clusterrole=view"),
            ("may also", "`list configmaps`"),
        ),
        Wrong("cluster-wide", _cluster_binding, ("other namespaces", "clusterrolebinding")),
        Wrong("and-jobs-too", _bind_and_jobs, ("may also", "`create jobs.batch`")),
    ],
    3: [
        Wrong(
            "default-account",
            lambda lab: {"TOKEN": _token(lab, "default")},
            ("authenticates as", ":default`"),
        ),
        Wrong(
            "other-audience",
            _bound_and_token("--audience=https://logs.example.com"),
            ("does not accept this token",),
        ),
        Wrong("legacy-token", _legacy_log_reader, ("legacy token", "never expires")),
        Wrong("two-hours", _bound_and_token("--duration=2h"), ("lives 7200 s",)),
        Wrong(
            "not-bound-yet",
            lambda lab: {"TOKEN": _token(lab, "log-reader")},
            ("reading the log of pod `app` fails: 403",),
        ),
        Wrong("not-a-token", answer(TOKEN="log-reader"), ("is not a token",)),
    ],
    4: [
        Wrong("missed-the-user-binding", answer(SECRET_READERS={"ci-bot"}), ("missed 1",)),
        Wrong(
            "view-reads-secrets",
            answer(SECRET_READERS={"ci-bot", "backup", "dashboard"}),
            ("`dashboard` may not read secrets",),
        ),
        Wrong(
            "unknown-account",
            answer(SECRET_READERS={"ci-bot", "backup", "nobody"}),
            ("no serviceaccount `nobody`",),
        ),
    ],
}


# -- lab 07: 401 or 403 -----------------------------------------------------------------------
def _replace_reporter(manifest: dict[str, Any] | None) -> Callable[[Lab], None]:
    def act(lab: Lab) -> None:
        delete_pod(lab.course.core, lab.namespace, "reporter")
        if manifest is not None:
            lab.course.core.create_namespaced_pod(lab.namespace, manifest)

    return act


def _reporter_with_audience(audience: str) -> dict[str, Any]:
    pod = lab07_401_or_403._reporter_pod()
    pod["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["audience"] = (
        audience
    )
    return pod


def _reporter_with_legacy_token(lab: Lab) -> None:
    create_legacy_token(lab.course.core, lab.namespace, "reporter", "reporter-token")
    pod = busybox_pod(
        "reporter",
        "reporter",
        automount=False,
        volumes=[{"name": "api-token", "secret": {"secretName": "reporter-token"}}],
        volume_mounts=[
            {
                "name": "api-token",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            }
        ],
    )
    _replace_reporter(pod)(lab)


def _syncer_binding(*args: str) -> Callable[[Lab], None]:
    def act(lab: Lab) -> None:
        kubectl(
            lab,
            "create",
            "rolebinding",
            "syncer-fix",
            *(a.replace("{ns}", lab.namespace) for a in args),
        )

    return act


def _statuses_from_the_logs(lab: Lab) -> dict[str, Any]:
    """What each workload logged (its own calls), as the learner reads it from the log."""
    from helpers.workloads import api_calls

    status = {
        pod: api_calls(lab.course.core, lab.namespace, pod)[-1].status
        for pod in ("reporter", "syncer")
    }
    return {"REPORTER_STATUS": status["reporter"], "SYNCER_STATUS": status["syncer"]}


def _statuses_as_log_words(lab: Lab) -> dict[str, Any]:
    """The end of the last log line of each workload, e.g. `401 Unauthorized`."""
    answers = {}
    for pod in ("reporter", "syncer"):
        line = kubectl(lab, "logs", pod, "--tail=1").strip()
        answers[f"{pod.upper()}_STATUS"] = line.split(" ", 3)[3]  # "<time> GET <path> <rest>"
    return answers


def _reporter_with_projection(audience: Callable[[Lab], str | None]) -> Callable[[Lab], None]:
    """reporter re-created with a projected token of its own: no audience, or the API's."""

    def act(lab: Lab) -> None:
        pod = lab07_401_or_403._reporter_pod()
        source = pod["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]
        wanted = audience(lab)
        if wanted is None:
            del source["audience"]
        else:
            source["audience"] = wanted
        _replace_reporter(pod)(lab)

    return act


def _reporter_from_python(lab: Lab) -> None:
    """The workload unchanged, as ServiceAccount reporter, with the usual automounted token."""
    from helpers.workloads import api_caller

    pod = api_caller(
        "reporter", "reporter", [lab07_401_or_403.CONFIGMAPS], labels={"app": "reporter"}
    )
    _replace_reporter(pod)(lab)


def _syncer_binding_re_created(lab: Lab) -> None:
    kubectl(lab, "delete", "rolebinding", "syncer-configmaps")
    args = ["--role=configmap-reader", f"--serviceaccount={lab.namespace}:syncer"]
    kubectl(lab, "create", "rolebinding", "syncer-configmaps", *args)


RIGHT07 = {
    1: [
        Right("from-the-logs", _statuses_from_the_logs),
        Right("log-words", _statuses_as_log_words),
        Right(
            "http-status-enum",
            answer(REPORTER_STATUS=HTTPStatus.UNAUTHORIZED, SYNCER_STATUS=HTTPStatus.FORBIDDEN),
        ),
    ],
    2: [
        Right("projection-without-audience", _reporter_with_projection(lambda lab: None)),
        Right(
            "projection-for-the-api",
            _reporter_with_projection(
                lambda lab: facts.api_audiences(lab.course, lab.namespace)[0]
            ),
        ),
        Right("python-client", _reporter_from_python),
    ],
    3: [
        Right("binding-re-created", _syncer_binding_re_created),
        Right(
            "set-subject",
            lambda lab: (
                kubectl(
                    lab,
                    "set",
                    "subject",
                    "rolebinding",
                    "syncer-configmaps",
                    f"--serviceaccount={lab.namespace}:syncer",
                )
                and None
            ),
        ),
        Right(
            "a-second-binding",
            _syncer_binding("--role=configmap-reader", "--serviceaccount={ns}:syncer"),
        ),
        Right(
            "kind-user-full-name",
            _syncer_binding("--role=configmap-reader", "--user=system:serviceaccount:{ns}:syncer"),
        ),
    ],
}

LAB07 = {
    1: [
        Wrong(
            "both-403",
            answer(REPORTER_STATUS=403, SYNCER_STATUS=403),
            ("`reporter_status` is not",),
        ),
        Wrong(
            "swapped",
            answer(REPORTER_STATUS=403, SYNCER_STATUS=401),
            ("`reporter_status` and `syncer_status` are not",),
        ),
        Wrong(
            "words",
            answer(REPORTER_STATUS=401, SYNCER_STATUS="forbidden"),
            ("`syncer_status` should be an http status code",),
        ),
    ],
    2: [
        Wrong(
            "another-wrong-audience",
            _replace_reporter(_reporter_with_audience("kubernetes")),
            ("still rejects", '["kubernetes"]'),
        ),
        Wrong(
            "default-account",
            _replace_reporter(busybox_pod("reporter", "default")),
            ("runs as serviceaccount `default`",),
        ),
        Wrong("deleted-only", _replace_reporter(None), ("no pod `reporter`",)),
        Wrong(
            "no-token-at-all",
            _replace_reporter(busybox_pod("reporter", "reporter", automount=False)),
            ("no token at",),
        ),
        Wrong("legacy-token", _reporter_with_legacy_token, ("legacy token", "never expires")),
        Wrong(
            "a-pod-that-only-sleeps",  # the right token, but the workload itself is gone
            _replace_reporter(busybox_pod("reporter", "reporter")),
            ("does not call the api", "keep the workload"),
        ),
    ],
    3: [
        Wrong(
            "kind-user",
            _syncer_binding("--role=configmap-reader", "--user=syncer"),
            ("still may not `list configmaps`",),
        ),
        Wrong(
            "cluster-admin",
            _syncer_binding("--clusterrole=cluster-admin", "--serviceaccount={ns}:syncer"),
            ("may also", "`get secrets`"),
        ),
        Wrong(
            "whole-namespace-group",
            _syncer_binding("--role=configmap-reader", "--group=system:serviceaccounts:{ns}"),
            ("every serviceaccount",),
        ),
    ],
}


# -- lab 08: a token for an external audience -------------------------------------------------
AUD = lab08_external_audience.AUDIENCE


def _jwks_and_issuer(lab: Lab) -> tuple[dict[str, Any], str]:
    jwks = json.loads(lab.course.get_raw("/openid/v1/jwks"))
    issuer = json.loads(lab.course.get_raw("/.well-known/openid-configuration"))["issuer"]
    return jwks, issuer


def _no_signature_check(lab: Lab) -> dict[str, Any]:
    def verify(token: str) -> dict[str, Any]:
        return jwt.decode(token, options={"verify_signature": False})

    return {"verify": verify}


def _api_audience(lab: Lab) -> dict[str, Any]:
    jwks, issuer = _jwks_and_issuer(lab)
    return {"verify": lambda t: verify_offline(t, jwks, issuer=issuer, audience=issuer)}


def _audience_unchecked(lab: Lab) -> dict[str, Any]:
    jwks, _ = _jwks_and_issuer(lab)

    def verify(token: str) -> dict[str, Any]:
        key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
        return jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})

    return {"verify": verify}


def _asks_the_cluster(lab: Lab) -> dict[str, Any]:
    def verify(token: str) -> dict[str, Any]:
        status = review_token(lab.course.authn, token, [AUD])
        if not status.authenticated:
            raise ValueError(status.error)
        return {"sub": status.user.username}

    return {"verify": verify}


def _asks_the_cluster_after_exec(lab: Lab) -> dict[str, Any]:
    # kubectl exec through the client (read_pod_token) leaves its mark on the API client;
    # the check must still see the TokenReview calls
    read_pod_token(lab.course.core, lab.namespace, "exporter")
    return _asks_the_cluster(lab)


def _legacy_exporter(lab: Lab) -> dict[str, Any]:
    _, token = create_legacy_token(lab.course.core, lab.namespace, "exporter")
    return {"TOKEN": token}


def _bound_to_secret(lab: Lab) -> dict[str, Any]:
    kubectl(lab, "create", "secret", "generic", "exporter-anchor", "--from-literal=a=b")
    args = ["--audience", AUD, "--duration=10m", "--bound-object-kind=Secret"]
    return {"POD_TOKEN": _token(lab, "exporter", *args, "--bound-object-name=exporter-anchor")}


def _exporter_token_from_python(bound: bool) -> Callable[[Lab], dict[str, Any]]:
    from helpers.accounts import create_token

    def act(lab: Lab) -> dict[str, Any]:
        pod = lab.course.core.read_namespaced_pod("exporter", lab.namespace) if bound else None
        token, _ = create_token(
            lab.course.core,
            lab.namespace,
            "exporter",
            audiences=[AUD],
            expiration_seconds=600,
            bound_to=pod,
        )
        return {"POD_TOKEN" if bound else "TOKEN": token}

    return act


def _exporter_token_request_api(lab: Lab) -> dict[str, Any]:
    body = {"spec": {"audiences": [AUD], "expirationSeconds": 600}}
    status = lab.course.core.create_namespaced_service_account_token(
        "exporter", lab.namespace, body
    ).status
    return {"TOKEN": status.token}


def _verify_with_pyjwt(lab: Lab) -> dict[str, Any]:
    """The hint's other route: jwt.decode with the key from a PyJWKSet, everything pinned."""
    jwks, issuer = _jwks_and_issuer(lab)
    keys = jwt.PyJWKSet.from_dict(jwks)

    def verify(token: str) -> dict[str, Any]:
        key = keys[jwt.get_unverified_header(token)["kid"]]
        return jwt.decode(token, key, algorithms=["RS256"], audience=AUD, issuer=issuer)

    return {"verify": verify}


def _projected_into_the_pod(lab: Lab) -> dict[str, Any]:
    """The kubelet's route: Pod exporter re-created with a projected token for the service."""
    from helpers import wait_for_pod

    volume = {
        "name": "metrics-token",
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": AUD,
                        "expirationSeconds": 600,
                        "path": "token",
                    }
                }
            ]
        },
    }
    mount = {"name": "metrics-token", "mountPath": "/var/run/secrets/metrics", "readOnly": True}
    pod = busybox_pod(
        "exporter",
        "exporter",
        volumes=[volume],
        volume_mounts=[mount],
        labels={"app": "exporter"},
    )
    delete_pod(lab.course.core, lab.namespace, "exporter")
    lab.course.core.create_namespaced_pod(lab.namespace, pod)
    wait_for_pod(lab.course.core, lab.namespace, "exporter")
    token = read_pod_token(
        lab.course.core, lab.namespace, "exporter", "/var/run/secrets/metrics/token"
    )
    return {"POD_TOKEN": token}


def _bound_then_pod_re_created(lab: Lab) -> dict[str, Any]:
    answers = _exporter_token_from_python(bound=True)(lab)
    delete_pod(lab.course.core, lab.namespace, "exporter")
    lab.course.core.create_namespaced_pod(
        lab.namespace, busybox_pod("exporter", "exporter", labels={"app": "exporter"})
    )
    return answers


RIGHT08 = {
    1: [
        Right("python-create-token", _exporter_token_from_python(bound=False)),
        Right("token-request-api", _exporter_token_request_api),
    ],
    2: [Right("pyjwt-directly", _verify_with_pyjwt)],
    3: [
        Right("python-create-token", _exporter_token_from_python(bound=True)),
        Right("projected-into-the-pod", _projected_into_the_pod),
    ],
}

LAB08 = {
    1: [
        Wrong(
            "no-audience",
            lambda lab: {"TOKEN": _token(lab, "exporter", "--duration=10m")},
            ("not meant for the metrics service",),
        ),
        Wrong(
            "one-hour",
            lambda lab: {"TOKEN": _token(lab, "exporter", "--audience", AUD)},
            ("lives 3600 s",),
        ),
        Wrong(
            "default-account",
            lambda lab: {"TOKEN": _token(lab, "default", "--audience", AUD, "--duration=10m")},
            ("identifies", ":default`"),
        ),
        Wrong(
            "two-audiences",
            lambda lab: {
                "TOKEN": _token(
                    lab,
                    "exporter",
                    "--audience",
                    AUD,
                    "--audience",
                    facts.api_audiences(lab.course, lab.namespace)[0],
                    "--duration=10m",
                )
            },
            ("also valid for", "call the kubernetes api"),
        ),
        Wrong("legacy-token", _legacy_exporter, ("legacy token",)),
    ],
    2: [
        Wrong("no-signature-check", _no_signature_check, ("accepted a token signed by a key",)),
        Wrong("api-audience", _api_audience, ("rejected a valid token", "audience")),
        Wrong("audience-unchecked", _audience_unchecked, ("audience is the kubernetes api",)),
        Wrong("asks-the-cluster", _asks_the_cluster, ("called the kubernetes api",)),
        Wrong(
            "asks-the-cluster-after-exec",
            _asks_the_cluster_after_exec,
            ("called the kubernetes api",),
        ),
        Wrong("not-a-function", answer(verify="RS256"), ("should be a function",)),
    ],
    3: [
        Wrong(
            "not-bound",
            lambda lab: {"POD_TOKEN": _token(lab, "exporter", "--audience", AUD, "--duration=10m")},
            ("bound to no object",),
        ),
        Wrong("bound-to-a-secret", _bound_to_secret, ("bound to a secret",)),
        Wrong(
            "pod-re-created-after-issuing",
            _bound_then_pod_re_created,
            ("bound to a pod `exporter` that no longer exists",),
        ),
        Wrong(
            "bound-but-for-the-api",
            lambda lab: {
                "POD_TOKEN": _token(
                    lab,
                    "exporter",
                    "--duration=10m",
                    "--bound-object-kind=Pod",
                    "--bound-object-name=exporter",
                )
            },
            ("not meant for the metrics service",),
        ),
    ],
}


# -- lab 11: lock down a namespace ------------------------------------------------------------
NO_AUTOMOUNT = '{"automountServiceAccountToken": false}'


def _patch_accounts(*names: str) -> Callable[[Lab], None]:
    def act(lab: Lab) -> None:
        for name in names:
            kubectl(lab, "patch", "serviceaccount", name, "-p", NO_AUTOMOUNT)

    return act


def _templates_only(lab: Lab) -> None:
    patch = '{"spec": {"template": {"spec": {"automountServiceAccountToken": false}}}}'
    for app in ("web", "batch"):
        kubectl(lab, "patch", "deployment", app, "-p", patch)
    for app in ("web", "batch"):
        kubectl(lab, "rollout", "status", f"deployment/{app}", "--timeout=60s")


def _scaled_to_zero(lab: Lab) -> None:
    _patch_accounts("web", "batch")(lab)
    kubectl(lab, "rollout", "restart", "deployment/batch")
    kubectl(lab, "scale", "deployment/web", "--replicas=0")
    kubectl(lab, "rollout", "status", "deployment/batch", "--timeout=60s")


OPERATOR_TO_PROJECTED = json.dumps(
    [
        {"op": "remove", "path": "/spec/template/spec/volumes"},
        {"op": "remove", "path": "/spec/template/spec/containers/0/volumeMounts"},
        {
            "op": "replace",
            "path": "/spec/template/spec/automountServiceAccountToken",
            "value": True,
        },
    ]
)


def _secrets_deleted_only(lab: Lab) -> None:
    kubectl(lab, "delete", "secret", "operator-token", "ci-token")


def _switched_but_secrets_kept(lab: Lab) -> None:
    kubectl(lab, "patch", "deployment", "operator", "--type=json", "-p", OPERATOR_TO_PROJECTED)
    kubectl(lab, "rollout", "status", "deployment/operator", "--timeout=60s")


def _automount_on_volume_kept(lab: Lab) -> None:
    path = "/spec/template/spec/automountServiceAccountToken"
    patch = json.dumps([{"op": "replace", "path": path, "value": True}])
    kubectl(lab, "patch", "deployment", "operator", "--type=json", "-p", patch)
    kubectl(lab, "rollout", "status", "deployment/operator", "--timeout=60s")


def _deleted_then_restarted(lab: Lab) -> None:
    _secrets_deleted_only(lab)
    kubectl(lab, "rollout", "restart", "deployment/operator")
    time.sleep(2)  # the new Pod is created, and waits for a Secret that is gone


def _restart(lab: Lab, *apps: str) -> None:
    for app in apps:
        kubectl(lab, "rollout", "restart", f"deployment/{app}")
    for app in apps:
        kubectl(lab, "rollout", "status", f"deployment/{app}", "--timeout=60s")


def _restarted_then_patched(lab: Lab) -> None:
    """The wrong order: the restart first, so the new Pods still get a token."""
    _restart(lab, "web", "batch")
    _patch_accounts("web", "batch")(lab)


def _web_only(lab: Lab) -> None:
    _patch_accounts("web")(lab)
    _restart(lab, "web")


def _accounts_and_restart_from_python(lab: Lab) -> None:
    from datetime import UTC, datetime

    from kubernetes import client

    apps = client.AppsV1Api(lab.course.api)
    now = datetime.now(UTC).isoformat()
    restart = {"spec": {"template": {"metadata": {"annotations": {"restarted-at": now}}}}}
    for app in ("web", "batch"):
        body = {"automountServiceAccountToken": False}
        lab.course.core.patch_namespaced_service_account(app, lab.namespace, body)
        apps.patch_namespaced_deployment(app, lab.namespace, restart)


def _accounts_then_pods_deleted(lab: Lab) -> None:
    """The ReplicaSets re-create the deleted Pods, without a token now."""
    _patch_accounts("web", "batch")(lab)
    kubectl(lab, "delete", "pods", "-l", "app in (web,batch)", "--wait=true")


def _template_then_account(lab: Lab) -> None:
    """Both switches, the Pod template first (it rolls out by itself)."""
    _templates_only(lab)
    _patch_accounts("web", "batch")(lab)


OPERATOR_TO_EXPLICIT_PROJECTION = json.dumps(
    [
        {
            "op": "replace",
            "path": "/spec/template/spec/volumes/0",
            "value": {
                "name": "api-token",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                    ]
                },
            },
        }
    ]
)


def _switch_operator(patch: str) -> Callable[[Lab], None]:
    def act(lab: Lab) -> None:
        kubectl(lab, "patch", "deployment", "operator", "--type=json", "-p", patch)
        kubectl(lab, "rollout", "status", "deployment/operator", "--timeout=60s")

    return act


def _explicit_projection(lab: Lab) -> None:
    """The Secret volume replaced by a projected one of its own (automount stays off)."""
    _switch_operator(OPERATOR_TO_EXPLICIT_PROJECTION)(lab)
    kubectl(lab, "delete", "secret", "operator-token", "ci-token")


def _ci_token_first(lab: Lab) -> None:
    """The token nobody uses first, then the operator, then its old token."""
    kubectl(lab, "delete", "secret", "ci-token")
    _switch_operator(OPERATOR_TO_PROJECTED)(lab)
    kubectl(lab, "delete", "secret", "operator-token")


def _operator_from_python(lab: Lab) -> None:
    from kubernetes import client

    apps = client.AppsV1Api(lab.course.api)
    dep = apps.read_namespaced_deployment("operator", lab.namespace)
    spec = dep.spec.template.spec
    spec.volumes = None
    spec.containers[0].volume_mounts = None
    spec.automount_service_account_token = True
    apps.replace_namespaced_deployment("operator", lab.namespace, dep)
    kubectl(lab, "rollout", "status", "deployment/operator", "--timeout=60s")
    for name in ("operator-token", "ci-token"):
        lab.course.core.delete_namespaced_secret(name, lab.namespace)


def _switched_and_labelled(lab: Lab) -> None:
    _switch_operator(OPERATOR_TO_PROJECTED)(lab)
    kubectl(lab, "label", "secret", "operator-token", "ci-token", f"{INVALID_SINCE}=2026-01-01")


def _legacy_by_kubectl(lab: Lab) -> dict[str, Any]:
    out = kubectl(
        lab,
        "get",
        "secrets",
        "--field-selector=type=kubernetes.io/service-account-token",
        "-o",
        "name",
    )
    return {"LEGACY_SECRETS": set(out.split())}  # {"secret/ci-token", …}


RIGHT11 = {
    1: [Right("kubectl-o-name", _legacy_by_kubectl)],
    2: [
        Right("pod-templates-only", _templates_only),
        Right("python-client", _accounts_and_restart_from_python),
        Right("pods-deleted", _accounts_then_pods_deleted),
        Right("template-then-account", _template_then_account),
    ],
    3: [
        Right("explicit-projected-volume", _explicit_projection),
        Right("ci-token-first", _ci_token_first),
        Right("python-client", _operator_from_python),
    ],
}

LAB11 = {
    1: [
        Wrong("missed-one", answer(LEGACY_SECRETS={"operator-token"}), ("missed 1",)),
        Wrong(
            "an-ordinary-secret",
            answer(LEGACY_SECRETS={"operator-token", "ci-token", "operator-config"}),
            ("`operator-config` is an ordinary secret",),
        ),
    ],
    2: [
        Wrong(
            "accounts-only-no-restart",
            _patch_accounts("web", "batch"),
            ("still mounts a token", "keeps the volumes"),
        ),
        Wrong(
            "restarted-before-the-change",
            _restarted_then_patched,
            ("still mounts a token", "keeps the volumes"),
        ),
        Wrong(
            "web-only",
            _web_only,
            ("of `batch` still mounts a token", "a new pod of `batch`", "would still get"),
        ),
        Wrong(
            "the-default-account",
            _patch_accounts("default"),
            ("do not run as `default`",),
        ),
        Wrong("scaled-to-zero", _scaled_to_zero, ("scaled to 0",)),
    ],
    3: [
        Wrong(
            "secrets-deleted-first",
            _secrets_deleted_only,
            ("still reads a legacy token", "now rejects", "broken"),
        ),
        Wrong(
            "secrets-kept",
            _switched_but_secrets_kept,
            ("`ci-token`, `operator-token` still hold legacy tokens",),
        ),
        Wrong(
            "automount-behind-the-secret-volume",
            _automount_on_volume_kept,
            ("still reads a legacy token", "`operator-token`"),
        ),
        Wrong(
            "deleted-then-restarted",
            _deleted_then_restarted,
            ("cannot start", "which does not exist"),
        ),
        Wrong(
            "labelled-not-deleted",
            _switched_and_labelled,
            ("marked `kubernetes.io/legacy-token-invalid-since`", "delete the secret"),
        ),
    ],
}


# -- lab 12: who can become payments ---------------------------------------------------------
def _minted_by_the_admin(lab: Lab) -> dict[str, Any]:
    from helpers.accounts import create_token

    token, _ = create_token(lab.course.core, lab.namespace, "payments", expiration_seconds=600)
    return {"TOKEN": token}


def _payments_legacy_token(lab: Lab) -> dict[str, Any]:
    from helpers.tokens import Token

    secret = lab.course.core.read_namespaced_secret("payments-token", lab.namespace)
    return {"TOKEN": Token.from_secret(secret)}


def _ops_role(*names: str) -> Callable[[Lab], None]:
    def act(lab: Lab) -> None:
        rule: dict[str, Any] = {
            "apiGroups": [""],
            "resources": ["serviceaccounts/token"],
            "verbs": ["create"],
        }
        if names:
            rule["resourceNames"] = list(names)
        body = {"metadata": {"name": "ops"}, "rules": [rule]}
        lab.course.rbac.replace_namespaced_role("ops", lab.namespace, body)

    return act


def _grant12(
    account: str, verbs: list[str], resource: str, group: str = ""
) -> Callable[[Lab], None]:
    """A Role with one rule for ``account`` in the lab's namespace (a RoleBinding), seen by RBAC."""
    from helpers import become

    def act(lab: Lab) -> None:
        ns, name = lab.namespace, f"{account}-extra"
        lab.course.rbac.create_namespaced_role(ns, become.role(name, verbs, resource, group))
        lab.course.rbac.create_namespaced_role_binding(
            ns, become.binding(ns, name, "Role", name, account)
        )
        target = f"{resource}.{group}" if group else resource
        become.wait_until(lab.course.authz, ns, account, f"{verbs[0]} {target}", cluster=False)

    return act


def _then(act: Callable[[Lab], None], **values: Any) -> Callable[[Lab], dict[str, Any]]:
    def both(lab: Lab) -> dict[str, Any]:
        act(lab)
        return values

    return both


def _viewer_proxies_to_kubelets(lab: Lab) -> dict[str, Any]:
    """A ClusterRoleBinding (cleaned up with the lab) of the built-in kubelet-api-admin."""
    from kubernetes import client

    from helpers import become

    body = client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=f"{lab.namespace}-viewer-kubelet-api"),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io",
            kind="ClusterRole",
            name="system:kubelet-api-admin",
        ),
        subjects=[
            client.RbacV1Subject(kind="ServiceAccount", name="viewer", namespace=lab.namespace)
        ],
    )
    lab.course.rbac.create_cluster_role_binding(body)
    become.wait_until(lab.course.authz, lab.namespace, "viewer", "get nodes/proxy")
    return {"BECOMERS": {"ci-runner", "support", "ops"}}


def _ops_token(lab: Lab) -> str:
    return _token(lab, "ops", "--duration=10m")


def _becomers_by_kubectl(lab: Lab) -> dict[str, Any]:
    """q1 the way notebook 04 asks: `kubectl auth can-i --as` for each account and path."""
    asks = [  # a subresource is a flag: `serviceaccounts/token` would mean the account `token`
        ("create", "pods", "--subresource="),
        ("create", "pods", "--subresource=exec"),
        ("create", "serviceaccounts/payments", "--subresource=token"),
        ("get", "secrets/payments-token", "--subresource="),
        ("impersonate", "serviceaccounts/payments", "--subresource="),
    ]
    becomers = set()
    for account in ("ci-runner", "support", "ops", "ops-bot", "viewer", "auditor"):
        for verb, target, subresource in asks:
            said = kubectl(
                lab, "auth", "can-i", verb, target, subresource, f"--as={user(lab, account)}",
                check=False,
            )  # fmt: skip
            if said.strip() == "yes":
                becomers.add(account)
                break
    return {"BECOMERS": becomers}


def _tokenrequest_object_as_ops(lab: Lab) -> dict[str, Any]:
    """q2 with the API object itself: a TokenRequest sent by a client holding ops's token."""
    from kubernetes import client

    as_ops = client.CoreV1Api(lab.course.client_for_token(_ops_token(lab)))
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    sent = as_ops.create_namespaced_service_account_token("payments", lab.namespace, body)
    return {"TOKEN": sent.status.token}


def _kubectl_with_ops_token(lab: Lab) -> dict[str, Any]:
    """q2 from a shell: kubectl with ops's token and nothing else of the admin's kubeconfig."""
    conf = lab.course.api.configuration
    out = lab.course.kubectl(
        "--kubeconfig=/dev/null",
        f"--server={conf.host}",
        f"--certificate-authority={conf.ssl_ca_cert}",
        f"--token={_ops_token(lab)}",
        "-n",
        lab.namespace,
        "create",
        "token",
        "payments",
    )
    return {"TOKEN": out.strip()}


def _ops_role_patched(lab: Lab) -> None:
    """q3 with a JSON patch that adds resourceNames to the one rule."""
    patch = '[{"op": "add", "path": "/rules/0/resourceNames", "value": ["ops-bot"]}]'
    kubectl(lab, "patch", "role", "ops", "--type=json", "-p", patch)


def _ops_role_from_kubectl_create(lab: Lab) -> None:
    """q3 as `kubectl create role … --dry-run=client -o yaml | kubectl apply -f -`."""
    text = kubectl(
        lab,
        "create",
        "role",
        "ops",
        "--verb=create",
        "--resource=serviceaccounts/token",
        "--resource-name=ops-bot",
        "--dry-run=client",
        "-o",
        "yaml",
    )
    kubectl(lab, "apply", "-f", "-", input=text)


def _ops_gets_a_new_role(lab: Lab) -> None:
    """q3 by replacing the Role: delete `ops`, bind a narrow Role of another name to ops."""
    from helpers import become

    ns = lab.namespace
    rbac = lab.course.rbac
    rbac.delete_namespaced_role_binding("ops", ns)
    rbac.delete_namespaced_role("ops", ns)
    role = become.role("ops-mints-ops-bot", ["create"], "serviceaccounts/token")
    role["rules"][0]["resourceNames"] = ["ops-bot"]
    rbac.create_namespaced_role(ns, role)
    rbac.create_namespaced_role_binding(
        ns, become.binding(ns, "ops-mints-ops-bot", "Role", "ops-mints-ops-bot", "ops")
    )


WHOM = {
    "apiGroups": ["authentication.k8s.io"],
    "resources": ["serviceaccounts"],
    "resourceNames": ["reporter"],
    "verbs": ["impersonate:serviceaccount"],
}


def _what(*resources: str) -> dict[str, Any]:
    verbs = [f"impersonate-on:serviceaccount:{v}" for v in ("get", "list")]
    return {"apiGroups": [""], "resources": list(resources), "verbs": verbs}


def _helpdesk_rules(*rules: dict[str, Any]) -> Callable[[Lab], None]:
    """Replace the rules of Role helpdesk (the Python client: RBAC's own API object)."""

    def act(lab: Lab) -> None:
        body = {"metadata": {"name": "helpdesk"}, "rules": list(rules)}
        lab.course.rbac.replace_namespaced_role("helpdesk", lab.namespace, body)

    return act


def _constrained_beside_the_old_grant(lab: Lab) -> None:
    """The new verbs in a Role of their own; the old `impersonate` left in place."""
    from helpers import become

    ns = lab.namespace
    role = {"metadata": {"name": "helpdesk-reads-pods"}, "rules": [WHOM, _what("pods")]}
    lab.course.rbac.create_namespaced_role(ns, role)
    lab.course.rbac.create_namespaced_role_binding(
        ns, become.binding(ns, "helpdesk-reads-pods", "Role", "helpdesk-reads-pods", "helpdesk")
    )


def _reporter_narrowed(lab: Lab) -> None:
    """reporter's own Role cut down to reading Pods: helpdesk is narrowed, reporter broken."""
    body = {
        "metadata": {"name": "reporter"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    lab.course.rbac.replace_namespaced_role("reporter", lab.namespace, body)


def _helpdesk_role_renamed(lab: Lab) -> None:
    """Role and binding helpdesk deleted; a Role of another name with the new verbs, bound."""
    from helpers import become

    ns, rbac = lab.namespace, lab.course.rbac
    rbac.delete_namespaced_role_binding("helpdesk", ns)
    rbac.delete_namespaced_role("helpdesk", ns)
    rbac.create_namespaced_role(
        ns, {"metadata": {"name": "reads-pods-as-reporter"}, "rules": [WHOM, _what("pods")]}
    )
    rbac.create_namespaced_role_binding(
        ns,
        become.binding(ns, "reads-pods-as-reporter", "Role", "reads-pods-as-reporter", "helpdesk"),
    )


def _helpdesk_grant_to_every_account(lab: Lab) -> None:
    """The right Role, bound to the namespace's group: every account may read Pods as reporter."""
    from helpers.reviews import sa_groups

    _helpdesk_rules(WHOM, _what("pods"))(lab)
    group = sa_groups(lab.namespace)[1]  # system:serviceaccounts:<ns>
    lab.course.rbac.patch_namespaced_role_binding(
        "helpdesk",
        lab.namespace,
        {"subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group}]},
    )


def _helpdesk_by_kubectl_patch(lab: Lab) -> None:
    """kubectl patch --type=json: replace the rules list."""
    patch = json.dumps([{"op": "replace", "path": "/rules", "value": [WHOM, _what("pods")]}])
    kubectl(lab, "patch", "role", "helpdesk", "--type=json", "-p", patch)


RIGHT12 = {
    1: [
        Right(
            "usernames-in-a-list",
            lambda lab: {"BECOMERS": [user(lab, a) for a in ("ops", "support", "ci-runner")]},
        ),
        Right("kubectl-auth-can-i", _becomers_by_kubectl),
    ],
    2: [
        Right("tokenrequest-object", _tokenrequest_object_as_ops),
        Right("kubectl-with-ops-token", _kubectl_with_ops_token),
    ],
    3: [
        Right("kubectl-patch-json", _ops_role_patched),
        Right("kubectl-create-role-apply", _ops_role_from_kubectl_create),
        Right("a-role-of-its-own", _ops_gets_a_new_role),
    ],
    4: [
        Right("python-replace-role", _helpdesk_rules(WHOM, _what("pods"))),
        Right("kubectl-patch-json", _helpdesk_by_kubectl_patch),
        Right("a-role-of-another-name", _helpdesk_role_renamed),
    ],
}

LAB12 = {
    1: [
        Wrong("missed-the-secret", answer(BECOMERS={"ci-runner", "ops"}), ("missed 1",)),
        Wrong(
            "missed-exec",
            _then(
                _grant12("auditor", ["get", "create"], "pods/exec"),
                BECOMERS={"ci-runner", "support", "ops"},
            ),
            ("missed 1",),
        ),
        Wrong(
            "missed-a-job",
            _then(
                _grant12("viewer", ["create"], "jobs", "batch"),
                BECOMERS={"ci-runner", "support", "ops"},
            ),
            ("missed 1",),
        ),
        Wrong(
            "missed-nodes-proxy-cluster-wide",
            _viewer_proxies_to_kubelets,
            ("missed 1",),
        ),
        Wrong(
            "nodes-proxy-in-a-role-grants-nothing",
            _then(
                _grant12("auditor", ["get"], "nodes/proxy"),
                BECOMERS={"ci-runner", "support", "ops", "auditor"},
            ),
            ("`auditor` cannot act as `payments`",),
        ),
        Wrong(
            "viewer-too",
            answer(BECOMERS={"ci-runner", "support", "ops", "viewer"}),
            ("`viewer` cannot act as `payments`",),
        ),
        Wrong("a-string", answer(BECOMERS="ops"), ("should be a set",)),
    ],
    2: [
        Wrong("minted-by-the-admin", _minted_by_the_admin, ("asked for this token, not `ops`",)),
        Wrong("the-legacy-token", _payments_legacy_token, ("legacy token",)),
        Wrong(
            "ops-own-token",
            lambda lab: {"TOKEN": _token(lab, "ops")},
            ("authenticates as", ":ops`"),
        ),
    ],
    3: [
        Wrong(
            "role-deleted",
            lambda lab: lab.course.rbac.delete_namespaced_role("ops", lab.namespace) and None,
            ("no longer mint tokens for `ops-bot`",),
        ),
        Wrong(
            "payments-still-named",
            _ops_role("ops-bot", "payments"),
            ("still mint tokens for `payments`",),
        ),
    ],
    4: [
        Wrong(
            "kept-the-old-verb",
            _constrained_beside_the_old_grant,
            ("can still create configmaps as `reporter`", "old `impersonate`"),
        ),
        Wrong(
            "narrowed-reporter-instead",
            _reporter_narrowed,
            ("`reporter` may no longer create configmaps",),
        ),
        Wrong(
            "bound-to-the-namespace-group",
            _helpdesk_grant_to_every_account,
            ("may act as `reporter` too",),
        ),
        Wrong(
            "what-without-whom",
            _helpdesk_rules(_what("pods")),
            ("can no longer read pods as `reporter`",),
            wrong_if_constrained=True,
        ),
        Wrong(
            "every-resource",
            _helpdesk_rules(WHOM, _what("*")),
            ("can read configmaps as `reporter`",),
            wrong_if_constrained=True,
        ),
    ],
}


def test_lab12_get_pods_exec_alone_follows_the_cluster(make_lab: Callable[..., Lab]) -> None:
    """`get pods/exec` alone: a path before 1.35 (or with the gate off), none since."""
    lab = make_lab(lab12_who_can_become)
    _grant12("auditor", ["get"], "pods/exec")(lab)
    opens_a_shell = not lab12_who_can_become.exec_create(lab.course)
    assert opens_a_shell == (facts.kubernetes_version(lab.course) < (1, 35))  # gate on by default
    right = {"ci-runner", "support", "ops"} | ({"auditor"} if opens_a_shell else set())
    wrong = right ^ {"auditor"}
    assert _check(lab, 1, {"BECOMERS": wrong}).status == NOT_YET
    result = _check(lab, 1, {"BECOMERS": right})
    assert result.status == CORRECT, result.message


def test_lab12_knows_every_path_the_notebook_names(make_lab: Callable[..., Lab]) -> None:
    """Each grant the notebook names makes its account one that can act as payments."""
    lab = make_lab(lab12_who_can_become)
    grants = {
        "viewer": (["update"], "pods/ephemeralcontainers", ""),
        "auditor": (["patch"], "deployments", "apps"),
        "ops-bot": (["impersonate"], "serviceaccounts", ""),
    }
    for account, (verbs, resource, group) in grants.items():
        _grant12(account, verbs, resource, group)(lab)
        assert lab12_who_can_become.ways_to_become(lab, account), account
    ways = lab12_who_can_become.ways_to_become(lab, "ops-bot")
    assert ways == ["impersonate `payments`"], ways


# -- lab 17: the partner trusts exactly one account -----------------------------------------------
def _lab17_config(lab: Lab, *, rules: list[dict[str, str]] | None = None, **changes: Any) -> dict:
    """The lab's own q1 answer, with ``rules`` and the username mapping or audiences changed."""
    config = lab.reference_config()  # type: ignore[attr-defined]
    jwt = config["jwt"][0]
    if rules is not None:
        jwt["claimValidationRules"] = rules
    if "username" in changes:
        jwt["claimMappings"]["username"] = changes["username"]
    if "audiences" in changes:
        jwt["issuer"]["audiences"] = changes["audiences"]
    return config


def _lab17_rule(expression: str) -> list[dict[str, str]]:
    return [{"expression": expression, "message": "the lab's test"}]


def _lab17_grants(
    lab: Lab,
    subject: dict[str, str],
    cluster_wide: bool = False,
    verbs: tuple[str, ...] = ("get", "list"),
) -> list[dict]:
    role_kind, binding_kind = (
        ("ClusterRole", "ClusterRoleBinding") if cluster_wide else ("Role", "RoleBinding")
    )
    meta = {} if cluster_wide else {"namespace": "default"}
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": list(verbs)}]
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": role_kind,
            "metadata": {"name": "t-reader", **meta},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": binding_kind,
            "metadata": {"name": "t-reads", **meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": role_kind,
                "name": "t-reader",
            },
            "subjects": [subject],
        },
    ]


def _lab17_grants_cluster_role_in_default(lab: Lab) -> list[dict]:
    role, binding = _lab17_grants(lab, _lab17_user(lab), cluster_wide=True)
    binding["kind"] = "RoleBinding"
    binding["metadata"]["namespace"] = "default"
    return [role, binding]


def _lab17_also_anonymous(lab: Lab) -> list[dict]:
    role, binding = _lab17_grants(lab, _lab17_user(lab))
    binding["subjects"].append(
        {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Group",
            "name": "system:unauthenticated",
        }
    )
    return [role, binding]


def _lab17_user(lab: Lab) -> dict[str, str]:
    return {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "User",
        "name": "course:" + user(lab, "reporter"),
    }


LAB17 = {
    1: [
        Wrong(
            "namespace-only",
            lambda lab: {
                "CONFIG": _lab17_config(
                    lab,
                    rules=_lab17_rule(f"claims['kubernetes.io'].namespace == '{lab.namespace}'"),
                )
            },
            ("also lets in intruder",),
        ),
        Wrong(
            # a ServiceAccount's name alone: the same name in any other namespace gets in
            "account-name-only",
            lambda lab: {
                "CONFIG": _lab17_config(
                    lab,
                    rules=_lab17_rule("claims['kubernetes.io'].serviceaccount.name == 'reporter'"),
                )
            },
            ("the `reporter` of namespace", "unique only within its namespace"),
        ),
        Wrong(
            "no-prefix",
            lambda lab: {"CONFIG": _lab17_config(lab, username={"claim": "sub", "prefix": ""})},
            ("knows reporter as `system:serviceaccount:", "prefix `course:`"),
        ),
        Wrong(
            "the-course-api-audience",
            lambda lab: {
                "CONFIG": _lab17_config(
                    lab, audiences=facts.api_audiences(lab.course, lab.namespace)[:1]
                )
            },
            ("accepts reporter's token for the course api",),
        ),
        Wrong(
            "cel-that-does-not-compile",
            lambda lab: {"CONFIG": _lab17_config(lab, rules=_lab17_rule("claims.sub =="))},
            ("refused your `config`", "compilation failed"),
        ),
    ],
    2: [
        Wrong(
            "binds-a-serviceaccount",
            lambda lab: {
                "GRANTS": _lab17_grants(
                    lab, {"kind": "ServiceAccount", "name": "reporter", "namespace": lab.namespace}
                )
            },
            ("as a `user`",),
        ),
        Wrong(
            "view-is-empty-on-the-partner",
            lambda lab: {
                "GRANTS": [
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "RoleBinding",
                        "metadata": {"name": "reporter-views", "namespace": "default"},
                        "roleRef": {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "ClusterRole",
                            "name": "view",
                        },
                        "subjects": [_lab17_user(lab)],
                    }
                ]
            },
            ("aggregated clusterrole", "runs no controllers"),
        ),
        Wrong(
            "cluster-wide",
            lambda lab: {"GRANTS": _lab17_grants(lab, _lab17_user(lab), cluster_wide=True)},
            ("configmaps in kube-system",),
        ),
        Wrong(
            # reporter is authenticated, so a binding to everyone who is: any user the
            # partner ever trusts reads them too
            "binds-system-authenticated",
            lambda lab: {
                "GRANTS": _lab17_grants(
                    lab,
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": "system:authenticated",
                    },
                )
            },
            ("any other user the partner authenticates", "the group `system:authenticated`"),
        ),
        Wrong(
            # reporter's user, and everyone not signed in: the binding lets reporter read,
            # and any anonymous request too, wherever the partner accepts them
            "also-binds-system-unauthenticated",
            lambda lab: {
                "GRANTS": _lab17_also_anonymous(lab),
            },
            ("anyone, signed in or not,", "system:unauthenticated"),
        ),
        Wrong(
            # reads ConfigMaps in default, and writes them: more than asked
            "also-writes-configmaps",
            lambda lab: {
                "GRANTS": _lab17_grants(
                    lab, _lab17_user(lab), verbs=("get", "list", "create", "delete")
                )
            },
            ("may also create configmaps", "selfsubjectrulesreview"),
        ),
    ],
}

RIGHT17 = {
    1: [
        Right(
            "namespace-and-account",
            lambda lab: {
                "CONFIG": _lab17_config(
                    lab,
                    rules=[
                        {
                            "expression": f"claims['kubernetes.io'].namespace == '{lab.namespace}'",
                            "message": "ns",
                        },
                        {
                            "expression": "claims['kubernetes.io'].serviceaccount.name"
                            " == 'reporter'",
                            "message": "sa",
                        },
                    ],
                )
            },
        ),
        Right(
            "username-by-expression",
            lambda lab: {
                "CONFIG": _lab17_config(lab, username={"expression": "'course:' + claims.sub"})
            },
        ),
        Right(
            "namespace-and-name-in-one-expression",
            lambda lab: {
                "CONFIG": _lab17_config(
                    lab,
                    rules=_lab17_rule(
                        f"claims['kubernetes.io'].namespace == '{lab.namespace}' && "
                        "claims['kubernetes.io'].serviceaccount.name == 'reporter'"
                    ),
                )
            },
        ),
    ],
    2: [
        Right(
            # a ClusterRole is only a set of rules: a RoleBinding keeps it to one namespace.
            # (Not `view`: it is aggregated, and the partner runs no controller to fill it in.)
            "cluster-role-bound-in-default",
            lambda lab: {"GRANTS": _lab17_grants_cluster_role_in_default(lab)},
        ),
        Right(
            "reads-and-watches",
            lambda lab: {
                "GRANTS": _lab17_grants(lab, _lab17_user(lab), verbs=("get", "list", "watch"))
            },
        ),
    ],
}


def _lab16_volume(
    lab: Lab,
    *,
    certificate: dict[str, Any] | None = None,
    bundle: dict[str, Any] | None = None,
    mode: int = 0o400,
) -> dict[str, Any]:
    """A projected volume for caller: the given sources (None leaves one out)."""
    sources = [
        {"podCertificate": certificate} if certificate is not None else None,
        {"clusterTrustBundle": bundle} if bundle is not None else None,
    ]
    return {
        "name": "identity",
        "projected": {"defaultMode": mode, "sources": [s for s in sources if s]},
    }


def _lab16_certificate(lab: Lab, signer: str | None = None) -> dict[str, Any]:
    return {
        "signerName": signer or lab.names()["SIGNER"],
        "keyType": "ED25519",
        "credentialBundlePath": "credentials.pem",
    }


def _lab16_bundle(lab: Lab) -> dict[str, Any]:
    return {"signerName": lab.names()["SIGNER"], "labelSelector": {}, "path": "trust.pem"}


LAB16 = {
    1: [
        Wrong(
            # whom to trust, but nothing to present
            "trust-bundle-only",
            lambda lab: {"VOLUME": _lab16_volume(lab, bundle=_lab16_bundle(lab))},
            ("presented no certificate", "certificate required"),
        ),
        Wrong(
            # a certificate to present, but no CA to check web's with
            "certificate-only",
            lambda lab: {"VOLUME": _lab16_volume(lab, certificate=_lab16_certificate(lab))},
            ("could not verify web", "clusterTrustBundle"),
        ),
        Wrong(
            # notebook 16's signer name, copied: that signer serves another namespace only
            "notebook-16-signer",
            lambda lab: {
                "VOLUME": _lab16_volume(
                    lab,
                    certificate=_lab16_certificate(lab, "sa-course.example/pod-identity-signer"),
                    bundle=_lab16_bundle(lab),
                )
            },
            ("caller never started", "sa-course.example/pod-identity-signer"),
        ),
        Wrong(
            # notebook 16's source without the key type the kubelet must make
            "no-key-type",
            lambda lab: {
                "VOLUME": _lab16_volume(
                    lab,
                    certificate={
                        "signerName": lab.names()["SIGNER"],
                        "credentialBundlePath": "credentials.pem",
                    },
                    bundle=_lab16_bundle(lab),
                )
            },
            ("not a valid volume", "keyType"),
        ),
        Wrong(
            # the projected volume's default mode, 0644: every user in the Pod reads the key
            "key-readable-by-all",
            lambda lab: {
                "VOLUME": _lab16_volume(
                    lab,
                    certificate=_lab16_certificate(lab),
                    bundle=_lab16_bundle(lab),
                    mode=0o644,
                )
            },
            ("readable by others", "mode 644"),
        ),
    ],
}

RIGHT16 = {
    1: [
        Right(
            # key and chain in files of their own, an ECDSA key, owner read-write
            "key-and-chain-files",
            lambda lab: {
                "VOLUME": _lab16_volume(
                    lab,
                    certificate={
                        "signerName": lab.names()["SIGNER"],
                        "keyType": "ECDSAP256",
                        "keyPath": "tls.key",
                        "certificateChainPath": "tls.crt",
                    },
                    bundle=_lab16_bundle(lab),
                    mode=0o600,
                )
            },
        ),
        Right(
            # the trust bundle by its object name instead of by signer
            "trust-bundle-by-name",
            lambda lab: {
                "VOLUME": _lab16_volume(
                    lab,
                    certificate=_lab16_certificate(lab),
                    bundle={"name": lab.bundle, "path": "ca.pem"},  # type: ignore[attr-defined]
                )
            },
        ),
    ],
}


WRONG: dict[str, dict[int, list[Wrong]]] = {
    "02": LAB02,
    "04": LAB04,
    "07": LAB07,
    "08": LAB08,
    "11": LAB11,
    "12": LAB12,
    "16": LAB16,
    "17": LAB17,
}
WRONG_CASES = [
    pytest.param(number, q, wrong, id=f"lab{number}-q{q}-{wrong.id}")
    for number, by_question in WRONG.items()
    for q, wrongs in by_question.items()
    for wrong in wrongs
]
#: correct answers by every route the notebooks teach, beyond the stored solution
RIGHT: dict[str, dict[int, list[Right]]] = {
    "02": RIGHT02,
    "04": RIGHT04,
    "07": RIGHT07,
    "08": RIGHT08,
    "11": RIGHT11,
    "12": RIGHT12,
    "16": RIGHT16,
    "17": RIGHT17,
}
RIGHT_CASES = [
    pytest.param(number, q, right, id=f"lab{number}-q{q}-{right.id}")
    for number, by_question in RIGHT.items()
    for q, rights in by_question.items()
    for right in rights
]


def _constrains_impersonation(lab: Lab) -> bool:
    """Does this cluster run constrained impersonation (1.36+, gate on)? Read live."""
    from helpers.become import impersonation_constrained
    from helpers.facts import feature_gates, kubernetes_version

    return impersonation_constrained(kubernetes_version(lab.course), feature_gates(lab.course))


def _question(lab: Lab, q: int) -> Any:
    return lab.questions[q - 1]


def _cannot_judge(lab: Lab, result: Result) -> bool:
    """True (having checked what it says) where this cluster cannot judge the lab at all:
    lab 16 before Kubernetes 1.37, read from the cluster."""
    why = lab.unavailable()
    if why:
        assert result.status == NOT_ATTEMPTED, result
        assert "cannot be judged on this cluster" in result.message, result.message
    return bool(why)


def _check(lab: Lab, q: int, answers: dict[str, Any] | None = None) -> Result:
    question = _question(lab, q)
    if question.variables:
        return question.check(**(answers or {name: ____ for name in question.variables}))
    assert not answers, "a cluster question takes no answer variables"
    return question.check()


# -- the tests --------------------------------------------------------------------------------
def test_every_question_has_wrong_answers() -> None:
    """At least two realistic mistakes per question, so every lab rejects two or more."""
    for number, module in MODULES.items():
        lab_cls = _lab_class(module)
        assert set(WRONG[number]) == set(range(1, len(lab_cls.question_types) + 1)), number
        for q, wrongs in WRONG[number].items():
            assert len(wrongs) >= 2, f"lab {number} q{q} has fewer than two wrong answers"


def _solve_before(lab: Lab, q: int, module: ModuleType) -> None:
    """Apply the solutions of the questions before ``q``: a learner works in order."""
    for earlier in lab.questions[: q - 1]:
        run_solution(lab, earlier, module)


@pytest.mark.parametrize(("number", "q"), QUESTION_IDS)
def test_unattempted(number: str, q: int, make_lab: Callable[..., Lab]) -> None:
    module = MODULES[number]
    lab = make_lab(module)
    _solve_before(lab, q, module)
    result = _check(lab, q)
    assert result.status == NOT_ATTEMPTED, result


@pytest.mark.parametrize(("number", "q", "wrong"), WRONG_CASES)
def test_wrong_answer(number: str, q: int, wrong: Wrong, make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(MODULES[number])
    answers = wrong.act(lab)
    result = _check(lab, q, answers)
    if _cannot_judge(lab, result):
        return
    if wrong.wrong_if_constrained and not _constrains_impersonation(lab):
        assert result.status == CORRECT, result  # all this cluster allows
        assert "cannot narrow impersonation" in result.message, result.message
        return
    assert result.status == NOT_YET, result
    message = result.message.lower()
    assert "could not finish" not in message, result.message
    for fragment in wrong.says:
        assert fragment.lower() in message, f"{fragment!r} not in: {result.message}"


@pytest.mark.parametrize(("number", "q"), QUESTION_IDS)
def test_solution(number: str, q: int, make_lab: Callable[..., Lab]) -> None:
    module = MODULES[number]
    lab = make_lab(module)
    _solve_before(lab, q, module)
    answers = run_solution(lab, _question(lab, q), module)
    result = _check(lab, q, answers)
    if _cannot_judge(lab, result):
        return
    assert result.status == CORRECT, result.message
    assert result.message, "a Correct result says why it matters"


def test_every_question_has_other_right_answers() -> None:
    """Each question of every lab is answered by at least one route besides the solution."""
    assert set(RIGHT) == set(MODULES), "every lab has other right answers"
    for number, by_question in RIGHT.items():
        questions = len(_lab_class(MODULES[number]).question_types)
        assert set(by_question) == set(range(1, questions + 1)), number


@pytest.mark.parametrize(("number", "q", "right"), RIGHT_CASES)
def test_right_answer(number: str, q: int, right: Right, make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(MODULES[number])
    answers = right.act(lab)
    result = _check(lab, q, answers)
    if _cannot_judge(lab, result):
        return
    assert result.status == CORRECT, result.message
    assert result.message, "a Correct result says why it matters"


@pytest.mark.parametrize("how", ["clean_up", "namespace-deleted"])
@pytest.mark.parametrize("number", sorted(RIGHT))
def test_scenario_gone(number: str, how: str, make_lab: Callable[..., Lab]) -> None:
    """After a clean-up every check says the scenario is gone and how to get it back."""
    lab = make_lab(MODULES[number])
    if how == "clean_up":
        lab.clean_up()
    else:
        lab.course.delete_namespace(lab.namespace, wait=True)
    for question in lab.questions:
        result = _check(lab, lab.questions.index(question) + 1)
        assert result.status == NOT_YET, result
        assert "scenario is gone" in result.message, result.message
        assert "re-run the lab's first code cell" in result.message, result.message


def test_lab02_revoking_keeps_the_never_used_tokens_never_used(
    make_lab: Callable[..., Lab],
) -> None:
    """q3's check asks the API server only about tokens that were used already.

    A TokenReview of a legacy token counts as a use: reviewing a never-used one would change
    q4's answer.
    """
    lab = make_lab(lab02_leaked_token)
    _label_invalid("ci-runner-token")(lab)  # a wrong answer: the sibling is reviewed too
    assert _check(lab, 3).status == NOT_YET
    kubectl(lab, "label", "secret", "ci-runner-token", f"{INVALID_SINCE}-")
    kubectl(lab, "label", "secret", "billing-old", f"{INVALID_SINCE}=2026-01-01")
    assert _check(lab, 3).status == NOT_YET  # the wrong token revoked
    kubectl(lab, "label", "secret", "billing-old", f"{INVALID_SINCE}-")
    kubectl(lab, "delete", "secret", "ci-runner-deploy")
    assert _check(lab, 3).status == CORRECT
    answers = run_solution(lab, _question(lab, 4), lab02_leaked_token)
    assert answers["NEVER_USED"] == {"billing-old", "reports-token"}
    assert _check(lab, 4, answers).status == CORRECT
