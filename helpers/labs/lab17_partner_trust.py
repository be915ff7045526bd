"""Lab 17: configure the partner API server to trust exactly one of the course's accounts.

The scenario (namespace ``lab-17-trust``): ServiceAccounts ``reporter`` and ``intruder``,
each with a Pod holding a projected token for the partner's audience; and another
``reporter`` in a second namespace (``lab-17-elsewhere``). The learner writes the
partner's side of the trust, as data: ``CONFIG`` (its AuthenticationConfiguration) and
``GRANTS`` (RBAC objects for *its* API). A check starts a fresh partner with them (the
course cluster's keys public for as long), sends it the Pods' own tokens, and judges by
its answers: 201/200, 401 or 403 (notebook 17). The partner runs only beside the local
cluster; elsewhere every check says so, in one sentence.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from kubernetes import client

from ..cluster.errors import ClusterError
from ..cluster.partner import unavailable_reason
from ..course import Course
from ..errors import CourseApiError, translate_api_errors
from ..names import ns
from ..oidc import DISCOVERY_PATH, ca_from_kubeconfig
from ..partner import PartnerCluster, trusting_partner
from ..pods import TOKEN_DIR, busybox_pod, read_pod_token
from ..reviews import sa_username
from ..tokens import Token
from .checks import Lab, NotYet, Question, one_sentence
from .common import apply, wait_for_pods

__all__ = ["AUDIENCE", "NAMESPACE", "PartnerTrustLab", "start"]

NAMESPACE = ns("lab-17-trust")
#: The other namespace, holding another ``reporter`` (beside a namespace of a test's own:
#: one named after it).
ELSEWHERE = ns("lab-17-elsewhere")
AUDIENCE = "https://partner.sa-course.test"
PARTNER_TOKEN = "/var/run/secrets/partner/token"
ACCOUNTS = ("reporter", "intruder")
API_TOKEN = "reporter's token for the course API"
NAMESAKE = "the reporter of another namespace"
#: How long a fresh partner may take to read the course's discovery document and fetch its
#: keys (its HTTP client waits up to 30 s for each) before a token it should accept counts
#: as refused.
FIRST_ACCEPT_SECONDS = 45.0


def _manifests(accounts: tuple[str, ...] = ACCOUNTS) -> list[dict[str, Any]]:
    token = {
        "name": "partner-token",
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": AUDIENCE,
                        "expirationSeconds": 600,
                        "path": "token",
                    }
                }
            ]
        },
    }
    mount = {"name": "partner-token", "mountPath": "/var/run/secrets/partner", "readOnly": True}
    out: list[dict[str, Any]] = []
    for account in accounts:
        out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}})
        out.append(busybox_pod(account, account, volumes=[token], volume_mounts=[mount]))
    return out


def _who(partner: PartnerCluster, token: Token) -> tuple[int, str | None]:
    """The partner's answer to a SelfSubjectReview with ``token``: (status, its username)."""
    try:
        with translate_api_errors():
            review = client.AuthenticationV1Api(
                partner.client_for_token(token)
            ).create_self_subject_review(
                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
            )
        return 201, review.status.user_info.username
    except CourseApiError as exc:
        return exc.status, None


def _may_list(partner: PartnerCluster, token: Token, resource: str, namespace: str) -> int:
    """The partner's status for listing ``resource`` (configmaps, secrets) in ``namespace``."""
    core = client.CoreV1Api(partner.client_for_token(token))
    lister = {"configmaps": core.list_namespaced_config_map, "secrets": core.list_namespaced_secret}
    try:
        with translate_api_errors():
            lister[resource](namespace)
        return 200
    except CourseApiError as exc:
        return exc.status


def _tokens(lab: PartnerTrustLab) -> dict[str, Token]:
    """The Pods' own tokens: each account's for the partner, and reporter's for the course API."""
    core, namespace = lab.course.core, lab.namespace
    found = {name: read_pod_token(core, namespace, name, PARTNER_TOKEN) for name in ACCOUNTS}
    found[API_TOKEN] = read_pod_token(core, namespace, "reporter", f"{TOKEN_DIR}/token")
    found[NAMESAKE] = read_pod_token(core, lab.elsewhere, "reporter", PARTNER_TOKEN)
    return found


@contextlib.contextmanager
def _partner(lab: PartnerTrustLab, config: object) -> Iterator[PartnerCluster]:
    """A fresh partner with the learner's CONFIG, or *Not yet* saying why not."""
    if not isinstance(config, dict) or not config.get("jwt"):
        raise NotYet("`CONFIG` must be a dict: an AuthenticationConfiguration with a `jwt` list.")
    with contextlib.ExitStack() as stack:
        try:
            partner = stack.enter_context(trusting_partner(lab.course, config))
        except ClusterError as exc:
            said = " ".join(str(exc).split())[:300]  # the server's own reason, not a class name
            raise NotYet(f"the partner API server refused your `CONFIG`: {said}") from None
        yield partner


def _grant(partner: PartnerCluster, grants: object) -> None:
    """Create the learner's GRANTS on the partner, or *Not yet* with the partner's refusal."""
    for obj in grants if isinstance(grants, list | tuple) else [grants]:
        try:
            _create(partner, obj)
        except (CourseApiError, ValueError) as exc:
            raise NotYet(f"the partner refused one of your `GRANTS`: {one_sentence(exc)}") from None


#: A rule a SelfSubjectRulesReview lists, flattened: (API group, resource, verb, name).
Rule = tuple[str, str, str, str]
#: What q2 asks for: reading ConfigMaps (``watch`` and the wildcard group are readings too).
READS_CONFIGMAPS = {
    (group, "configmaps", verb, "") for group in ("", "*") for verb in ("get", "list", "watch")
}


def _rules(partner: PartnerCluster, token: Token, namespace: str) -> set[Rule]:
    """What the partner says ``token``'s user may do in ``namespace`` (SelfSubjectRulesReview)."""
    authz = client.AuthorizationV1Api(partner.client_for_token(token))
    with translate_api_errors():
        review = authz.create_self_subject_rules_review(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": namespace},
            }
        )
    found: set[Rule] = set()
    for rule in review.status.resource_rules or []:
        for group in rule.api_groups or [""]:
            for resource in rule.resources or []:
                for verb in rule.verbs:
                    for name in rule.resource_names or [""]:
                        found.add((group, resource, verb, name))
    for rule in review.status.non_resource_rules or []:
        for url in rule.non_resource_urls or []:
            for verb in rule.verbs:
                found.add(("(URL)", url, verb, ""))
    return found


#: Who else might read the partner's ConfigMaps: another user it authenticates, and anyone.
OTHERS = (
    ("course:someone-else", ["system:authenticated"]),
    ("system:anonymous", ["system:unauthenticated"]),
)


def _anyone_else_may_list_configmaps(partner: PartnerCluster) -> str | None:
    """The group through which someone other than reporter may list ConfigMaps in
    ``default``, by the partner's own answers as its administrator, or None."""
    api = client.AuthorizationV1Api(partner.api)
    for user, groups in OTHERS:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": groups,
                "resourceAttributes": {
                    "verb": "list",
                    "resource": "configmaps",
                    "namespace": "default",
                },
            },
        }
        with translate_api_errors():
            answer = api.create_subject_access_review(review)
        if answer.status.allowed:
            return groups[0]
    return None


def _say(rules: set[Rule]) -> str:
    """A few rules, as a learner reads them: ``create configmaps``, ``get /metrics``."""
    words = sorted(
        f"{verb} {resource}"
        + (f" `{name}`" if name else "")
        + (f" ({group})" if group not in ("", "(URL)") else "")
        for group, resource, verb, name in rules
    )
    return ", ".join(words[:4]) + (" …" if len(words) > 4 else "")


RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
#: Bootstrap ClusterRoles whose rules kube-controller-manager aggregates (empty without it).
AGGREGATED = ("admin", "edit", "view")


def _aggregated_roles(grants: object) -> list[str]:
    """The aggregated bootstrap ClusterRoles the learner's bindings refer to."""
    found = []
    for obj in grants if isinstance(grants, list | tuple) else [grants]:
        ref = obj.get("roleRef") if isinstance(obj, dict) else None
        if (
            isinstance(ref, dict)
            and ref.get("kind") == "ClusterRole"
            and ref.get("name") in AGGREGATED
        ):
            found.append(ref["name"])
    return found


def _create(partner: PartnerCluster, obj: object) -> None:
    """Create one of the learner's RBAC objects on the partner (``default`` if no namespace)."""
    if not isinstance(obj, dict) or obj.get("kind") not in RBAC_KINDS:
        raise ValueError("each grant must be a dict of kind " + ", ".join(RBAC_KINDS))
    namespace = (obj.get("metadata") or {}).get("namespace") or "default"
    rbac = partner.rbac
    create = {
        "Role": lambda: rbac.create_namespaced_role(namespace, obj),
        "RoleBinding": lambda: rbac.create_namespaced_role_binding(namespace, obj),
        "ClusterRole": lambda: rbac.create_cluster_role(obj),
        "ClusterRoleBinding": lambda: rbac.create_cluster_role_binding(obj),
    }[obj["kind"]]
    with translate_api_errors():
        create()


def _answers(
    partner: PartnerCluster, tokens: dict[str, Token]
) -> dict[str, tuple[int, str | None]]:
    """Each caller's SelfSubjectReview; reporter's asked again until the partner has the keys."""
    deadline = time.monotonic() + FIRST_ACCEPT_SECONDS
    while True:
        reporter = _who(partner, tokens["reporter"])
        if reporter[0] == 201 or time.monotonic() > deadline:
            break
        time.sleep(1)
    return {
        "reporter": reporter,
        **{k: _who(partner, t) for k, t in tokens.items() if k != "reporter"},
    }


def _judge_authentication(lab: PartnerTrustLab, answers: dict[str, tuple[int, str | None]]) -> None:
    """*Not yet* unless only reporter's partner token is let in, as course:<its name>."""
    wanted = "course:" + sa_username(lab.namespace, "reporter")
    (status, name), (intruder, intruder_name) = answers["reporter"], answers["intruder"]
    if answers[API_TOKEN][0] == 201:
        raise NotYet(
            "the partner accepts reporter's token for the course API: `audiences` must name "
            "the partner alone, or anyone who holds a token for the course API gets in."
        )
    if status != 201:
        raise NotYet(
            f"the partner refuses reporter's token for it (HTTP {status}): check "
            "`issuer` (url, discoveryURL, certificateAuthority, audiences) and your rules "
            "against the token's claims."
        )
    if intruder == 201:
        raise NotYet(
            f"the partner also lets in intruder (as `{intruder_name}`): a rule "
            "must admit reporter's ServiceAccount only, not every account of its namespace."
        )
    if answers[NAMESAKE][0] == 201:
        raise NotYet(
            f"the partner also lets in the `reporter` of namespace `{lab.elsewhere}`: an "
            "account's name is unique only within its namespace, so a rule must check both "
            "(or the whole `sub`)."
        )
    if name != wanted:
        raise NotYet(
            f"the partner knows reporter as `{name}`, not `{wanted}`: map the "
            "username from `sub` with the prefix `course:`."
        )


class TrustOneAccount(Question):
    title = "the partner trusts reporter, and no one else"
    variables = ("CONFIG",)
    hints = (
        "The CEL variable `claims` is the token's payload: `claims['kubernetes.io']` has "
        "`namespace` and `serviceaccount.name` (notebook 03's claim table).",
        "`claimMappings.username` takes `claim: sub` and a `prefix`; `claimValidationRules` "
        "is a list of `{expression, message}` that must all be true.",
    )
    solution_code = """
        CONFIG = {
            "apiVersion": CONFIG_API,
            "kind": "AuthenticationConfiguration",
            "jwt": [{
                "issuer": {"url": ISSUER, "discoveryURL": DISCOVERY_URL,
                           "certificateAuthority": COURSE_CA, "audiences": [AUDIENCE]},
                "claimValidationRules": [{
                    "expression": f"claims.sub == 'system:serviceaccount:{NS}:reporter'",
                    "message": "only reporter",
                }],
                "claimMappings": {"username": {"claim": "sub", "prefix": "course:"}},
            }],
        }
        """

    def evaluate(self, CONFIG: object) -> str:
        lab: PartnerTrustLab = self.lab  # type: ignore[assignment]
        tokens = _tokens(lab)
        with _partner(lab, CONFIG) as partner:
            answers = _answers(partner, tokens)
        _judge_authentication(lab, answers)
        return (
            "the partner lets in reporter's token made out to it, as "
            f"`course:{sa_username(lab.namespace, 'reporter')}`, and answers 401 to intruder, "
            "to the reporter of another namespace and to reporter's token for the course API. "
            "Whether it may *do* anything is "
            "RBAC's question, on the partner: q2."
        )


class GrantOnThePartner(Question):
    title = "RBAC on the partner: reporter reads ConfigMaps in default, nothing more"
    variables = ("GRANTS",)
    hints = (
        "RBAC subjects name the user the partner *mapped*: with your `CONFIG` that is a "
        "`User`, not a `ServiceAccount` (the partner has no such account).",
        "A Role and a RoleBinding in `default` keep it to that namespace; a ClusterRole bound "
        "by a ClusterRoleBinding would open every namespace.",
    )
    solution_code = """
        GRANTS = [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "configmap-reader", "namespace": "default"},
             "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "reporter-reads", "namespace": "default"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                         "name": "configmap-reader"},
             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                           "name": f"course:system:serviceaccount:{NS}:reporter"}]},
        ]
        """

    def evaluate(self, GRANTS: object) -> str:
        lab: PartnerTrustLab = self.lab  # type: ignore[assignment]
        tokens = _tokens(lab)
        with _partner(lab, lab.reference_config()) as partner:
            answers = _answers(partner, tokens)
            _judge_authentication(lab, answers)  # the lab's own configuration: a check of it
            token = tokens["reporter"]
            # what every authenticated user may do there: the partner's bootstrap roles
            before = {ns: _rules(partner, token, ns) for ns in ("default", "kube-system")}
            _grant(partner, GRANTS)
            reads = {
                "ConfigMaps in default": _may_list(partner, token, "configmaps", "default"),
                "ConfigMaps in kube-system": _may_list(partner, token, "configmaps", "kube-system"),
                "Secrets in default": _may_list(partner, token, "secrets", "default"),
            }
            added = {ns: _rules(partner, token, ns) - rules for ns, rules in before.items()}
            anyone = _anyone_else_may_list_configmaps(partner)
        aggregated = _aggregated_roles(GRANTS)
        if reads["ConfigMaps in default"] != 200 and aggregated:
            raise NotYet(
                f"reporter may not list ConfigMaps in the partner's `default`: your grants bind "
                f"`{aggregated[0]}`, an aggregated ClusterRole, which a controller fills in, and "
                "the partner runs no controllers (just an API server and etcd), so it is empty "
                "there. Write the rules yourself."
            )
        if reads["ConfigMaps in default"] != 200:
            raise NotYet(
                f"reporter may not list ConfigMaps in the partner's `default` (HTTP "
                f"{reads['ConfigMaps in default']}): does your binding name the user the partner "
                f"mapped, `course:{sa_username(lab.namespace, 'reporter')}`, as a `User`?"
            )
        extra = [k for k, status in reads.items() if status == 200 and k != "ConfigMaps in default"]
        if extra:
            raise NotYet(
                f"reporter may also list {' and '.join(extra)} on the partner: grant "
                "ConfigMaps in `default` only."
            )
        if anyone:
            who = (
                "any other user the partner authenticates"
                if anyone == "system:authenticated"
                else "anyone, signed in or not,"
            )
            raise NotYet(
                f"{who} may list ConfigMaps in `default` too: your grants name the group "
                f"`{anyone}`, not reporter's mapped user alone."
            )
        if added["kube-system"]:
            raise NotYet(
                f"reporter may also {_say(added['kube-system'])} outside `default` (in "
                "`kube-system`) on the partner: bind in `default` only."
            )
        if more := added["default"] - READS_CONFIGMAPS:
            raise NotYet(
                f"reporter may also {_say(more)} on the partner (its SelfSubjectRulesReview "
                "says so): grant reading ConfigMaps (get, list) in `default`, nothing more."
            )
        return (
            "the partner answers 200 for reporter's ConfigMaps in `default` and 403 for "
            "`kube-system` and for Secrets: authenticated by your `CONFIG`, authorized by "
            "RBAC that only the partner's administrator controls."
        )


class PartnerTrustLab(Lab):
    """The scenario: accounts and Pods ``reporter`` and ``intruder``, tokens for the partner;
    another ``reporter`` in a second namespace (:attr:`elsewhere`)."""

    question_types: ClassVar[tuple[type[Question], ...]] = (TrustOneAccount, GrantOnThePartner)

    @classmethod
    def unavailable_on(cls, backend: str) -> str:
        """'' where this lab can be judged; else why not (a partner needs the local backend)."""
        why = unavailable_reason(backend)
        return f"its checks start a partner API server, and {why}" if why else ""

    def reference_config(self) -> dict[str, Any]:
        """q1's answer, as the lab writes it: what q2's partner runs with."""
        names = self.names()
        return {
            "apiVersion": names["CONFIG_API"],
            "kind": "AuthenticationConfiguration",
            "jwt": [
                {
                    "issuer": {
                        "url": names["ISSUER"],
                        "discoveryURL": names["DISCOVERY_URL"],
                        "certificateAuthority": names["COURSE_CA"],
                        "audiences": [AUDIENCE],
                    },
                    "claimValidationRules": [
                        {
                            "expression": "claims.sub == "
                            f"'{sa_username(self.namespace, 'reporter')}'",
                            "message": "only reporter",
                        }
                    ],
                    "claimMappings": {"username": {"claim": "sub", "prefix": "course:"}},
                }
            ],
        }

    @property
    def elsewhere(self) -> str:
        """The second namespace: another ``reporter``, the same name as the trusted one."""
        if self.namespace == NAMESPACE:
            return ELSEWHERE
        tag = hashlib.sha256(self.namespace.encode()).hexdigest()[:5]  # ≤ 63 characters, unique
        return f"{self.namespace[:52].rstrip('-')}-else-{tag}"

    def set_up(self) -> PartnerTrustLab:
        course, namespace = self.course, self.namespace
        self.fresh()
        course.fresh_namespace(self.elsewhere)
        apply(course, _manifests(), namespace)
        apply(course, _manifests(("reporter",)), self.elsewhere)
        wait_for_pods(course.core, namespace)
        wait_for_pods(course.core, self.elsewhere)
        return self

    def clean_up(self, *, now: bool = False) -> None:
        """Delete both namespaces (as :meth:`Lab.clean_up`)."""
        super().clean_up(now=now)
        if self.cleaned_up:
            self.course.delete_namespace(self.elsewhere)

    def names(self) -> dict[str, Any]:
        course = self.course
        return {
            **super().names(),
            "AUDIENCE": AUDIENCE,
            "ISSUER": _issuer(course),
            "DISCOVERY_URL": course.server + DISCOVERY_PATH,
            "COURSE_CA": ca_from_kubeconfig(course.kubeconfig),
            "CONFIG_API": _config_api(course),
        }


def _issuer(course: Course) -> str:
    from ..facts import issuer

    return issuer(course)


def _config_api(course: Course) -> str:
    from ..cluster.authnconfig import api_version

    return api_version(course.version())


def start(course: Course, namespace: str = NAMESPACE) -> PartnerTrustLab:
    """Seed the scenario in ``namespace`` (deleting an old one first) and return the lab."""
    return PartnerTrustLab(course, namespace).set_up()
