"""Lab 02: a legacy token has leaked. Trace it to its ServiceAccount and Secret, revoke it.

The scenario (namespace ``lab-02-leak``): three ServiceAccounts (``billing``,
``ci-runner``, ``reports``), each with one or two legacy token Secrets; ``ci-runner`` may
edit the namespace. The token of Secret ``ci-runner-deploy`` has leaked; ``ci-runner-token``
belongs to the same account and is still used by the CI system. Some tokens have been used
(the API server labelled their Secrets), two never were.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..accounts import legacy_token_secret
from ..course import Course
from ..legacy import LAST_USED_LABEL
from ..names import ns
from ..reviews import review_token, sa_username, whoami
from ..tokens import Token
from .checks import Lab, NotAttempted, NotYet, Question
from .common import (
    AUTH_SETTLE,
    INVALID_SINCE_LABEL,
    LEGACY_SECRET_TYPE,
    apply,
    legacy_secrets,
    name_set,
    plural,
    secret_token,
    set_mismatch,
    wait_for_tokens,
    wait_until_rejected,
    why_legacy_token_refused,
)

__all__ = ["NAMESPACE", "LeakedTokenLab", "start"]

NAMESPACE = ns("lab-02-leak")

LEAKED_SECRET_NAME = "ci-runner-deploy"
LEAKED_ACCOUNT = "ci-runner"
SIBLING_SECRET = "ci-runner-token"
#: legacy token Secret → ServiceAccount
TOKEN_SECRETS = {
    "billing-token": "billing",
    "billing-old": "billing",
    SIBLING_SECRET: LEAKED_ACCOUNT,
    LEAKED_SECRET_NAME: LEAKED_ACCOUNT,
    "reports-token": "reports",
}
#: the Secrets whose tokens the scenario uses once (the others stay never-used)
USED = ("billing-token", SIBLING_SECRET, LEAKED_SECRET_NAME)


def _manifests() -> list[dict[str, Any]]:
    accounts = sorted(set(TOKEN_SECRETS.values()))
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        for name in accounts
    ]
    docs += [legacy_token_secret(secret, account) for secret, account in TOKEN_SECRETS.items()]
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": "ci-runner-config"},
            "stringData": {"registry": "registry.example.com", "branch": "main"},
        }
    )
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "ci-runner-edit"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"kind": "ServiceAccount", "name": LEAKED_ACCOUNT}],
        }
    )
    return docs


def _text(value: object, variable: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise NotYet(f"`{variable}` should be a string such as `{example}`.")
    return value.strip()


class WhoseToken(Question):
    title = "whose token is it?"
    variables = ("LEAKED_SA",)
    hints = (
        "A legacy token is a JWT: decode it (`decode_claims(LEAKED)` or `LEAKED.claims`) "
        "without verifying it and read its claims.",
        "The `sub` claim is the user name the API server authenticates the token as.",
    )
    solution_code = """
        from helpers import decode_claims

        claims = decode_claims(LEAKED)  # reading claims needs no key: anyone can do it
        LEAKED_SA = claims["sub"]
        LEAKED_SA
        """
    solution_note = (
        "Decoding does not verify anything, so confirm with the cluster: "
        "`review_token(course.authn, LEAKED).user.username` says the same."
    )

    def evaluate(self, LEAKED_SA: object) -> str:
        lab: LeakedTokenLab = self.lab  # type: ignore[assignment]
        ns = lab.namespace
        answer = _text(LEAKED_SA, "LEAKED_SA", "system:serviceaccount:<namespace>:<name>")
        truth = lab.leaked_username()
        if answer == truth:
            return (
                "the token's `sub` claim names it, and its Secret's "
                "`kubernetes.io/service-account.name` annotation agrees. Whoever holds the "
                "token can act as this ServiceAccount."
            )
        accounts = {
            sa.metadata.name for sa in lab.course.core.list_namespaced_service_account(ns).items
        }
        short = answer.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
        if answer.startswith("system:serviceaccounts"):
            raise NotYet(
                f"`{answer}` is a group (every ServiceAccount of a namespace is in it), "
                "not one account."
            )
        if answer in TOKEN_SECRETS or answer == "ci-runner-config":
            raise NotYet(f"`{answer}` is the name of a Secret; which ServiceAccount is it for?")
        if answer.startswith("system:serviceaccount:"):
            if short in accounts and answer == sa_username(ns, short):
                raise NotYet(
                    f"`{answer}` exists, but the leaked token is not one of its tokens: "
                    "read the token's own claims."
                )
            raise NotYet(f"There is no ServiceAccount `{answer}` in `{ns}`.")
        if short in accounts:
            raise NotYet(
                f"Give the full user name the API server knows the account by, "
                f"`system:serviceaccount:<namespace>:<name>`, not `{answer}`."
            )
        raise NotYet(f"`{answer}` is not the user name of a ServiceAccount in `{ns}`.")


class WhichSecret(Question):
    title = "which Secret holds it?"
    variables = ("LEAKED_SECRET",)
    hints = (
        "Legacy tokens carry private claims under `kubernetes.io/serviceaccount/…`; "
        "one of them names a Secret.",
        "Claims are not proof. Read that Secret and compare its token with `LEAKED` "
        "(`Token.from_secret(secret) == LEAKED`).",
    )
    solution_code = """
        from helpers import Token, decode_claims

        LEAKED_SECRET = decode_claims(LEAKED)["kubernetes.io/serviceaccount/secret.name"]
        secret = course.core.read_namespaced_secret(LEAKED_SECRET, NS)
        assert Token.from_secret(secret) == LEAKED  # the Secret really holds this token
        LEAKED_SECRET
        """

    def evaluate(self, LEAKED_SECRET: object) -> str:
        lab: LeakedTokenLab = self.lab  # type: ignore[assignment]
        ns = lab.namespace
        answer = _text(LEAKED_SECRET, "LEAKED_SECRET", "my-secret")
        answer = answer.removeprefix(f"{ns}/").removeprefix("secret/")
        holder = lab.holder()
        truth = holder.metadata.name if holder is not None else LEAKED_SECRET_NAME
        if answer == truth:
            return (
                "its `data.token` is exactly the leaked string. One ServiceAccount can have "
                "several legacy tokens; this is the one to revoke."
            )
        secrets = {s.metadata.name: s for s in lab.course.core.list_namespaced_secret(ns).items}
        if answer not in secrets:
            if answer in set(TOKEN_SECRETS.values()):
                raise NotYet(
                    f"`{answer}` is a ServiceAccount; which of its Secrets holds the token?"
                )
            raise NotYet(f"There is no Secret `{answer}` in `{ns}`.")
        secret = secrets[answer]
        if secret.type != LEGACY_SECRET_TYPE:
            raise NotYet(f"`{answer}` holds no ServiceAccount token (its type is `{secret.type}`).")
        owner = (secret.metadata.annotations or {}).get("kubernetes.io/service-account.name")
        if sa_username(ns, owner or "?") == lab.leaked_username():
            raise NotYet(
                f"`{answer}` belongs to the right ServiceAccount but holds a different token: "
                "compare the tokens themselves."
            )
        raise NotYet(f"`{answer}` holds a token of another ServiceAccount (`{owner}`).")


class Revoke(Question):
    title = "revoke the leaked token, and nothing else"
    hints = (
        "A legacy token lives exactly as long as its Secret: the API server looks the Secret "
        "up on every request.",
        "Deleting the ServiceAccount would revoke it too — and every other token of that "
        "account. Delete only what holds the leaked token (or mark it invalid with the "
        f"`{INVALID_SINCE_LABEL}` label, notebook 10).",
    )
    solution_code = f"""
        %%bash
        kubectl -n {NAMESPACE} delete secret {LEAKED_SECRET_NAME}
        """
    solution_note = (
        "The check then asks the API server (TokenReview) until it rejects the token: for up "
        "to 10 s after the deletion it still accepts it, because it caches successful "
        f"authentications. Labelling the Secret `{INVALID_SINCE_LABEL}=<date>` works too, "
        "and can be undone. Never re-create a Secret of the same name for the same "
        "ServiceAccount: it would hold the very same token again."
    )

    def evaluate(self) -> str:
        lab: LeakedTokenLab = self.lab  # type: ignore[assignment]
        refused = lab.refused()  # what the API server would say of each token, from the objects
        why = refused[LEAKED_SECRET_NAME]
        if why is None:  # nothing that holds it changed: the API server's answer cannot either
            status = review_token(lab.course.authn, lab.leaked_token)  # a used token: no harm
            if status.authenticated:
                raise self._still_works(refused)
            rejected, waited, error = True, 0.0, status.error or ""
        else:
            rejected, waited, error = wait_until_rejected(lab.course.authn, lab.leaked_token)
            if not rejected:
                raise NotYet(
                    f"{why}, yet the API server still accepts the leaked token after "
                    f"{AUTH_SETTLE:.0f} s."
                )
        self._nothing_else_revoked(refused)
        took = (
            f" It took {waited:.0f} s: a successful authentication is cached for 10 s."
            if waited >= 1
            else ""
        )
        if why is not None and INVALID_SINCE_LABEL in why:
            return (
                "the API server rejects the leaked token now (its Secret is marked "
                f"`{INVALID_SINCE_LABEL}`), and `{LEAKED_ACCOUNT}`'s other token still works."
                f"{took} The label is reversible: remove it and the token works again at once. "
                "Once nothing complains, delete the Secret."
            )
        return (
            f"the API server rejects the leaked token now ({error.strip('[]')}), and "
            f"`{LEAKED_ACCOUNT}`'s other token still works.{took}"
        )

    def _still_works(self, refused: dict[str, str | None]) -> Exception:
        """Why the leaked token still works, as NotYet (or NotAttempted: nothing changed)."""
        lab: LeakedTokenLab = self.lab  # type: ignore[assignment]
        holder = lab.course.core.read_namespaced_secret(LEAKED_SECRET_NAME, lab.namespace)
        if holder.metadata.uid != lab._uids[LEAKED_SECRET_NAME]:
            return NotYet(
                f"the leaked token works again: Secret `{LEAKED_SECRET_NAME}` was re-created for "
                "the same ServiceAccount, and the tokens controller signed exactly the same "
                "token (a legacy token has no issue time and no ID)."
            )
        if INVALID_SINCE_LABEL in (holder.metadata.annotations or {}):
            return NotYet(
                f"the API server still accepts the leaked token: Secret `{LEAKED_SECRET_NAME}` "
                f"has `{INVALID_SINCE_LABEL}` as an *annotation*; the API server reads it as "
                "a label."
            )
        if (holder.metadata.labels or {}).get(INVALID_SINCE_LABEL) == "":
            return NotYet(
                f"the API server still accepts the leaked token: the label `{INVALID_SINCE_LABEL}` "
                "on its Secret is empty; it needs a value (a date)."
            )
        instead = sorted(why for why in refused.values() if why)
        if instead:
            return NotYet(
                "the API server still accepts the leaked token; you revoked other tokens "
                f"instead: {'; '.join(instead)}."
            )
        if lab.fingerprint() == lab._fingerprint:
            return NotAttempted(
                "the leaked token's Secret is unchanged, and the API server still accepts "
                "the token."
            )
        return NotYet(
            f"the API server still accepts the leaked token: Secret `{LEAKED_SECRET_NAME}` "
            "still holds it and is not marked invalid."
        )

    def _nothing_else_revoked(self, refused: dict[str, str | None]) -> None:
        """Every other token works: by the objects, and (for a used one) by TokenReview."""
        lab: LeakedTokenLab = self.lab  # type: ignore[assignment]
        others = sorted(why for n, why in refused.items() if n != LEAKED_SECRET_NAME and why)
        again = "Re-run the set-up cell and revoke only the leaked token."
        account = [why for why in others if why.startswith("ServiceAccount")]
        if account:
            raise NotYet(
                f"the API server rejects the leaked token, but {account[0]}: that revokes every "
                f"token of the account, `{SIBLING_SECRET}` too, which the CI system still "
                f"uses. {again}"
            )
        if others:
            raise NotYet(
                "the API server rejects the leaked token, but you also revoked tokens that "
                f"did not leak ({'; '.join(others)}): whatever used them is locked out now. "
                f"{again}"
            )
        # the sibling was used in the set-up, so a TokenReview of it records nothing new
        status = review_token(lab.course.authn, lab.tokens[SIBLING_SECRET])
        if not status.authenticated:
            raise NotYet(
                f"the API server rejects the leaked token, but also `{SIBLING_SECRET}`, which "
                f"the CI system still uses: {status.error}."
            )


class NeverUsed(Question):
    title = "which legacy tokens were never used?"
    variables = ("NEVER_USED",)
    hints = (
        "Since Kubernetes 1.28 the API server labels a legacy token Secret on the first "
        "request of each day that uses its token.",
        "`kubectl get secrets -L kubernetes.io/legacy-token-last-used` shows the label as "
        "a column; mind the Secret types.",
    )
    solution_code = f"""
        secrets = course.core.list_namespaced_secret(NS).items
        NEVER_USED = {{
            s.metadata.name
            for s in secrets
            if s.type == "kubernetes.io/service-account-token"
            and "{LAST_USED_LABEL}" not in (s.metadata.labels or {{}})
        }}
        NEVER_USED
        """
    solution_note = (
        "Careful: a TokenReview of a legacy token counts as a use too, so test a token "
        "before you audit, and the audit says it was used."
    )

    def evaluate(self, NEVER_USED: object) -> str:
        lab: LeakedTokenLab = self.lab  # type: ignore[assignment]
        ns = lab.namespace
        answer = name_set(NEVER_USED, "NEVER_USED", "Secret", strip_prefix=(f"{ns}/", "secret/"))
        secrets = {s.metadata.name: s for s in lab.course.core.list_namespaced_secret(ns).items}
        tokens = {n: s for n, s in secrets.items() if s.type == LEGACY_SECRET_TYPE}
        truth = {n for n, s in tokens.items() if LAST_USED_LABEL not in (s.metadata.labels or {})}
        if answer == truth:
            return (
                "no request ever used these tokens. They are candidates for deletion (ask "
                "their owners first); unlike bound tokens, they would never expire by "
                "themselves."
            )

        def why_not(name: str) -> str:
            if name not in secrets:
                return f"there is no Secret `{name}`"
            if name not in tokens:
                return f"`{name}` holds no ServiceAccount token"
            return f"`{name}`'s token has been used"

        raise set_mismatch(
            answer,
            truth,
            why_not,
            lambda n: f"you missed {n} never-used legacy token {plural(n, 'Secret')}",
        )


class LeakedTokenLab(Lab):
    """The scenario; ``leaked_token`` is the only thing the learner is given."""

    question_types: ClassVar[tuple[type[Question], ...]] = (
        WhoseToken,
        WhichSecret,
        Revoke,
        NeverUsed,
    )
    leaked_token: Token
    tokens: dict[str, Token]
    _uids: dict[str, str]
    _fingerprint: dict[str, Any]

    def set_up(self) -> LeakedTokenLab:
        course, ns = self.course, self.namespace
        self.fresh()
        apply(course, _manifests(), ns)
        self.tokens = wait_for_tokens(course.core, ns, TOKEN_SECRETS)
        for name in USED:  # a real request with each of these tokens marks it as used
            api = course.client_for_token(self.tokens[name])
            try:
                whoami(api)
            finally:
                api.close()
        self.leaked_token = self.tokens[LEAKED_SECRET_NAME]
        self._uids = {
            s.metadata.name: s.metadata.uid for s in course.core.list_namespaced_secret(ns).items
        }
        self._fingerprint = self.fingerprint()
        return self

    def names(self) -> dict[str, Any]:
        return {**super().names(), "LEAKED": self.leaked_token}

    # -- what the questions look at ----------------------------------------------------------
    def holder(self) -> Any:
        """The Secret that holds the leaked token now, if any."""
        for secret in legacy_secrets(self.course.core, self.namespace):
            if secret_token(secret) == self.leaked_token:
                return secret
        return None

    def leaked_username(self) -> str:
        """Whose token it is: from the Secret holding it (or, once revoked, from the claims)."""
        holder = self.holder()
        if holder is not None:
            account = holder.metadata.annotations["kubernetes.io/service-account.name"]
            return sa_username(self.namespace, account)
        return str(self.leaked_token.claims["sub"])

    def refused(self) -> dict[str, str | None]:
        """For each of the scenario's legacy tokens: why the API server would refuse it now."""
        return {
            name: why_legacy_token_refused(self.course.core, self.namespace, token)
            for name, token in self.tokens.items()
        }

    def fingerprint(self) -> dict[str, Any]:
        """The accounts and token Secrets as far as a learner's change shows (not last-used)."""
        core, ns = self.course.core, self.namespace
        accounts = {
            sa.metadata.name: sa.metadata.uid
            for sa in core.list_namespaced_service_account(ns).items
        }
        secrets = {
            s.metadata.name: (
                s.metadata.uid,
                {k: v for k, v in (s.metadata.labels or {}).items() if k != LAST_USED_LABEL},
                s.metadata.annotations or {},
            )
            for s in legacy_secrets(self.course.core, ns)
        }
        return {"accounts": accounts, "secrets": secrets}


def start(course: Course, namespace: str = NAMESPACE) -> LeakedTokenLab:
    """Seed the scenario in ``namespace`` (deleting an old one first) and return the lab."""
    return LeakedTokenLab(course, namespace).set_up()
