"""Every lab checker, three ways, against the live cluster, each test in its own namespace.

1. unattempted (the placeholder; the cluster as the earlier questions' solutions left it)
   → *Not attempted*;
2. realistic wrong answers, applied to the cluster where the question is about the
   cluster → *Not yet*, with a message that says what is wrong;
3. the stored solution (the code ``qN.solution()`` shows), run for real after those of the
   earlier questions → *Correct*.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import jwt
import pytest

from helpers import busybox_pod, delete_pod, facts, read_pod_token, review_token, verify_offline
from helpers.accounts import create_legacy_token
from helpers.checks import CORRECT, NOT_ATTEMPTED, NOT_YET, Lab, Question, Result, ____
from helpers.course import Course
from helpers.labs import (
    lab02_leaked_token,
    lab04_least_privilege,
    lab07_401_or_403,
    lab08_external_audience,
    lab11_lock_down,
    lab12_who_can_become,
)

pytestmark = pytest.mark.cluster

MODULES: dict[str, ModuleType] = {
    "02": lab02_leaked_token,
    "04": lab04_least_privilege,
    "07": lab07_401_or_403,
    "08": lab08_external_audience,
    "11": lab11_lock_down,
    "12": lab12_who_can_become,
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


def kubectl(lab: Lab, *args: str, **kwargs: Any) -> str:
    return lab.course.kubectl("-n", lab.namespace, *args, **kwargs)


def answer(**values: Any) -> Callable[[Lab], dict[str, Any]]:
    return lambda lab: values


def user(lab: Lab, account: str) -> str:
    return f"system:serviceaccount:{lab.namespace}:{account}"


# -- lab 02: the leaked token ---------------------------------------------------------------
def _recreate_leaked_secret(lab: Lab) -> None:
    kubectl(lab, "delete", "secret", "ci-runner-deploy", "--wait=true")
    create_legacy_token(lab.course.core, lab.namespace, "ci-runner", "ci-runner-deploy")


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
            ("still works", "`ci-runner-token` instead"),
        ),
        Wrong(
            "deleted-the-account",
            lambda lab: kubectl(lab, "delete", "serviceaccount", "ci-runner") and None,
            ("is gone", "every other token"),
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
            ("also deleted", "`ci-runner-token`"),
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
            "pod-templates-only",
            _templates_only,
            ("serviceaccount `web` still gives every new pod a token",),
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


LAB12 = {
    1: [
        Wrong("missed-the-secret", answer(BECOMERS={"ci-runner", "ops"}), ("missed 1",)),
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
}

WRONG: dict[str, dict[int, list[Wrong]]] = {
    "02": LAB02,
    "04": LAB04,
    "07": LAB07,
    "08": LAB08,
    "11": LAB11,
    "12": LAB12,
}
WRONG_CASES = [
    pytest.param(number, q, wrong, id=f"lab{number}-q{q}-{wrong.id}")
    for number, by_question in WRONG.items()
    for q, wrongs in by_question.items()
    for wrong in wrongs
]


def _question(lab: Lab, q: int) -> Any:
    return lab.questions[q - 1]


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
    assert result.status == CORRECT, result.message
    assert result.message, "a Correct result says why it matters"
